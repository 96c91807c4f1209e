"""Full-frame photos with real backgrounds, built from cut-outs with an alpha channel.

A cut-out (RGBA, e.g. a Tux Paint photo stamp) is scaled and pasted at a random place on a random
crop of a background photograph. The result is a photo whose object does not sit on white, and
the pasted alpha is the foreground mask. Used to augment training photos
(``scripts/demo_data.py``) and to build the held-out photos of ``benchmarks/explain_quality.py``.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["background_crop", "composite"]


def background_crop(bg: np.ndarray, size: int, rng: np.random.Generator, min_frac: float = 0.4) -> np.ndarray:
    """A random square crop of an [H, W, 3] uint8 background (side ``min_frac``-1 of its shorter
    side), resized to ``size`` x ``size``; flipped horizontally half the time."""
    h, w = bg.shape[:2]
    side = max(8, int(round(min(h, w) * rng.uniform(min_frac, 1.0))))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = bg[y : y + side, x : x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA)


def composite(
    rgba: np.ndarray,
    bg: np.ndarray,
    rng: np.random.Generator,
    size: int = 256,
    fill: tuple[float, float] = (0.55, 0.9),
) -> tuple[np.ndarray, np.ndarray]:
    """Paste a cut-out on a background crop.

    Args:
        rgba: [h, w, 4] uint8 cut-out (alpha 0 = transparent).
        bg: [H, W, 3] uint8 background photograph.
        rng: randomness (crop, scale, position).
        size: side of the square result.
        fill: range of the cut-out's longer side as a share of ``size``.

    Returns:
        ([size, size, 3] uint8 photo, [size, size] bool foreground mask = alpha > 127).

    Raises:
        ValueError: ``rgba`` is not [h, w, 4] or has no opaque pixel.
    """
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"expected an RGBA cut-out [h, w, 4], got {rgba.shape}")
    ys, xs = np.nonzero(rgba[..., 3] > 127)
    if len(ys) == 0:
        raise ValueError("the cut-out has no opaque pixel")
    obj = rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]  # tight box around the object
    f = rng.uniform(*fill) * size / max(obj.shape[:2])
    oh, ow = max(1, int(round(obj.shape[0] * f))), max(1, int(round(obj.shape[1] * f)))
    obj = cv2.resize(obj, (ow, oh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    out = background_crop(bg, size, rng).astype(np.float32)
    y0 = int(rng.integers(0, size - oh + 1))
    x0 = int(rng.integers(0, size - ow + 1))
    a = obj[..., 3:4].astype(np.float32) / 255.0  # [oh, ow, 1]
    region = out[y0 : y0 + oh, x0 : x0 + ow]
    out[y0 : y0 + oh, x0 : x0 + ow] = region * (1.0 - a) + obj[..., :3].astype(np.float32) * a
    mask = np.zeros((size, size), bool)
    mask[y0 : y0 + oh, x0 : x0 + ow] = obj[..., 3] > 127
    return np.clip(np.round(out), 0, 255).astype(np.uint8), mask
