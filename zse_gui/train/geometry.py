"""Sketch-photo pairs whose geometry is known: pseudo-sketches (edge maps) of a photo under a known
affine transform, the true photo point of every sketch patch, and the correspondence loss.

Coordinates are model-input pixels with OpenCV's convention (pixel ``i`` has its centre at ``i``);
patch ``p`` of the ``g x g`` grid (row-major) has its centre at
``(c * ps + (ps - 1) / 2, r * ps + (ps - 1) / 2)`` with ``r, c = divmod(p, g)``.

A transform is a 3 x 3 matrix ``M`` mapping photo pixels to sketch pixels (the sketch is
``cv2.warpAffine(edges_of_photo, M[:2])``); the true partner of sketch point ``q`` is ``M^-1 q``.
Used by training (``TrainConfig.corr_weight``) and by ``benchmarks/explain_quality.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

__all__ = [
    "PairTransform",
    "correspondence_loss",
    "edge_sketch",
    "patch_centres_px",
    "patch_targets",
    "random_transform",
    "warp_sketch",
]


@dataclass(frozen=True)
class PairTransform:
    """A known photo -> sketch transform.

    Attributes:
        matrix: [3, 3] float64, photo pixel -> sketch pixel (homogeneous).
        scale, angle, shift, flip: the parameters it was built from (for reports).
    """

    matrix: np.ndarray
    scale: float = 1.0
    angle: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    flip: bool = False


def make_transform(
    size: int,
    scale: float = 1.0,
    angle: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
    flip: bool = False,
) -> PairTransform:
    """Horizontal flip (optional), then rotation by ``angle`` degrees and scaling about the centre,
    then a shift of ``shift`` x ``size`` pixels."""
    c = (size - 1) / 2.0
    f = np.eye(3)
    if flip:
        f = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    r = np.eye(3)
    r[:2] = cv2.getRotationMatrix2D((c, c), float(angle), float(scale))
    t = np.eye(3)
    t[0, 2], t[1, 2] = shift[0] * size, shift[1] * size
    return PairTransform(
        t @ r @ f, float(scale), float(angle), (float(shift[0]), float(shift[1])), bool(flip)
    )


def random_transform(
    size: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.7, 1.0),
    max_angle: float = 15.0,
    max_shift: float = 0.1,
    flip_prob: float = 0.5,
) -> PairTransform:
    """A random transform: scale in ``scale``, rotation within +-``max_angle`` degrees, shift
    within +-``max_shift`` of the side, horizontal flip with ``flip_prob``."""
    return make_transform(
        size,
        float(rng.uniform(*scale)),
        float(rng.uniform(-max_angle, max_angle)),
        (float(rng.uniform(-max_shift, max_shift)), float(rng.uniform(-max_shift, max_shift))),
        bool(rng.random() < flip_prob),
    )


def edge_sketch(photo: np.ndarray, rng: np.random.Generator | None = None, jitter: float = 1.0) -> np.ndarray:
    """A stroke-like edge map of an [S, S, 3] uint8 photo on the same pixel grid: black on white.

    Canny on the blurred grey image (thresholds from the median, randomised with ``rng``); the
    edge pixels are moved by a smooth random displacement of about ``jitter`` px (hand wobble)
    and thickened to 2-3 px strokes. The result is [S, S, 3] uint8.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    grey = cv2.GaussianBlur(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    med = float(np.median(grey))
    lo = max(20.0, (0.66 + rng.uniform(-0.15, 0.15)) * med)
    edges = cv2.Canny(grey, lo, lo * 2.0)
    s = photo.shape[0]
    if jitter > 0:
        # A smooth displacement field: coarse noise upsampled, so neighbouring pixels move together.
        coarse = rng.normal(0.0, jitter, size=(2, 6, 6)).astype(np.float32)
        dx = cv2.resize(coarse[0], (s, s), interpolation=cv2.INTER_CUBIC)
        dy = cv2.resize(coarse[1], (s, s), interpolation=cv2.INTER_CUBIC)
        ys, xs = np.mgrid[0:s, 0:s].astype(np.float32)
        edges = cv2.remap(edges, xs + dx, ys + dy, cv2.INTER_NEAREST)
    k = 2 if rng.random() < 0.5 else 3
    edges = cv2.dilate(edges, np.ones((k, k), np.uint8))
    out = np.full((*edges.shape, 3), 255, np.uint8)
    out[edges > 0] = 0
    return out


def warp_sketch(sketch: np.ndarray, t: PairTransform) -> np.ndarray:
    """Apply ``t`` to an [S, S, 3] uint8 sketch (white fill outside); nearest-neighbour keeps ink black."""
    s = sketch.shape[0]
    out: np.ndarray = cv2.warpAffine(
        sketch, t.matrix[:2], (s, s), flags=cv2.INTER_NEAREST, borderValue=(255, 255, 255)
    )
    return out


def patch_centres_px(grid: int, patch: int) -> np.ndarray:
    """[P, 2] float64 patch centres (x, y) in model pixels (OpenCV convention)."""
    r, c = np.divmod(np.arange(grid * grid), grid)
    half = (patch - 1) / 2.0
    return np.stack([c * patch + half, r * patch + half], axis=1).astype(np.float64)


def patch_targets(t: PairTransform, ink: np.ndarray, grid: int, patch: int) -> np.ndarray:
    """True photo point of every sketch patch centre: [P, 2] float32 (x, y) model pixels, NaN for
    patches without ink (``ink`` [P] bool) or whose partner falls outside the photo."""
    q = patch_centres_px(grid, patch)  # [P, 2]
    inv = np.linalg.inv(t.matrix)
    p = (np.c_[q, np.ones(len(q))] @ inv.T)[:, :2]  # [P, 2]
    s = grid * patch
    inside = (p >= -0.5).all(1) & (p <= s - 0.5).all(1)
    out: np.ndarray = np.asarray(p, np.float32)
    out[~(inside & np.asarray(ink, bool))] = np.nan
    return out


def correspondence_loss(attn: Tensor, targets: Tensor, grid: int, patch: int, sigma: float) -> Tensor:
    """Cross-entropy between the sketch stream's head-mean attention and a Gaussian around the true
    photo point of each sketch patch.

    Args:
        attn: [B, h, T, T'] sketch-stream attention (T = 1 + P, row / column 0 = [Ret]; T' >= T,
            extra columns such as a "no match" key count as mass off the photo patches).
        targets: [B, P, 2] true photo points in model pixels, NaN where unknown.
        grid, patch: the patch grid.
        sigma: Gaussian width in patches.

    Returns:
        Scalar: mean over patches with a target of ``-sum_j t_j log(a_j)``, where ``a_j`` is the
        head-mean attention on photo patch j; 0 (with a graph) when no patch has a target.
    """
    p = grid * grid
    a = attn[:, :, 1:, 1 : 1 + p].float().mean(1)  # [B, P, P] sketch patch -> photo patch
    valid = torch.isfinite(targets).all(-1)  # [B, P]
    if not bool(valid.any()):
        return a.sum() * 0.0
    centres = torch.as_tensor(
        patch_centres_px(grid, patch), dtype=torch.float32, device=attn.device
    )  # [P, 2]
    tgt = torch.nan_to_num(targets.float(), nan=0.0)  # [B, P, 2]
    d2 = ((tgt[:, :, None, :] - centres[None, None]) ** 2).sum(-1)  # [B, P, P]
    w = torch.softmax(-d2 / (2.0 * (sigma * patch) ** 2), dim=-1)  # [B, P, P] target distribution
    ce = -(w * torch.log(a + 1e-8)).sum(-1)  # [B, P]
    return ce[valid].mean()


def gaussian_entropy_floor(grid: int, patch: int, sigma: float) -> float:
    """The loss of a perfect matcher at the grid centre (the entropy of the target), for reference."""
    centres = patch_centres_px(grid, patch)
    mid = centres[(grid // 2) * grid + grid // 2]
    d2 = ((centres - mid) ** 2).sum(1)
    w = np.exp(-d2 / (2.0 * (sigma * patch) ** 2))
    w /= w.sum()
    return float(-(w * np.log(w + 1e-30)).sum()) if math.isfinite(w.sum()) else float("nan")
