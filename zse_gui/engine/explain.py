"""Explanation recipes (reference section 5) as plain numpy functions.

All patch ids are row-major on the g x g grid; patch ``p`` covers model pixels
``[c*ps, (c+1)*ps) x [r*ps, (r+1)*ps)`` with ``r, c = divmod(p, g)``.

Faithfulness uses **pixel masking**: the matched photo patch is painted white (the sketch
domain's background, i.e. "nothing there") in the model-input image, and the whole photo is
re-encoded. Zeroing a token after the SA encoder would be cheaper but would only test the
cross-attention, not whether the photo's pixels there carried the match.
"""

from __future__ import annotations

import numpy as np

from zse_gui.results import Correspondences, ImageFrame, Synthesis
from zse_gui.sketch import ink_mask

__all__ = [
    "MASK_FILL",
    "correspondences",
    "mask_photo_patches",
    "patch_centres",
    "patch_ink",
    "strip_ret",
    "synthesize",
]

MASK_FILL = 255  # pixel value painted over a masked photo patch (white)


def strip_ret(attn: np.ndarray) -> np.ndarray:
    """Drop the [Ret] row and column of attention maps and renormalise rows to sum to 1.

    Args:
        attn: [h, T, T] float attention probabilities (rows sum to 1), T = 1 + P.

    Returns:
        [h, P, P] float32; a row whose patch mass was all on [Ret] becomes uniform.
    """
    a = np.asarray(attn, np.float64)[:, 1:, 1:]  # [h, P, P]
    s = a.sum(axis=-1, keepdims=True)
    p = a.shape[-1]
    out = np.where(s > 0, a / np.where(s > 0, s, 1.0), 1.0 / p)
    return out.astype(np.float32)


def patch_ink(display: np.ndarray, grid: int, patch: int) -> np.ndarray:
    """[S, S, 3] uint8 model-input sketch -> [P] bool, True for cells with at least one ink pixel."""
    ink = ink_mask(display)  # [S, S]
    cells = ink.reshape(grid, patch, grid, patch).any(axis=(1, 3))  # [g, g]
    return np.asarray(cells.reshape(-1))


def patch_centres(grid: int, patch: int, frame: ImageFrame) -> np.ndarray:
    """[P, 2] float32 patch centres (x, y) in the original frame (``frame.to_original``)."""
    r, c = np.divmod(np.arange(grid * grid), grid)
    model_xy = np.stack([c * patch + patch / 2.0, r * patch + patch / 2.0], axis=1)  # [P, 2] model px
    return frame.to_original(model_xy)


def correspondences(
    sketch_map: np.ndarray, photo_map: np.ndarray, ink: np.ndarray, head: int | None
) -> Correspondences:
    """Best matches in both directions from one pair of [P, P] attention maps.

    Args:
        sketch_map: [P, P] sketch-stream attention (rows sketch patches, columns photo patches).
        photo_map: [P, P] photo-stream attention (rows photo patches, columns sketch patches).
        ink: [P] bool ink mask of the sketch patches.
        head: head index, or None for the head mean.
    """
    s2p = np.argmax(sketch_map, axis=1).astype(np.int64)  # [P]
    p2s = np.argmax(photo_map, axis=1).astype(np.int64)  # [P]
    rows = np.arange(len(s2p))
    return Correspondences(
        head=head,
        sketch_to_photo=s2p,
        sketch_score=sketch_map[rows, s2p].astype(np.float32),
        photo_to_sketch=p2s,
        photo_score=photo_map[rows, p2s].astype(np.float32),
        mutual=np.asarray(p2s[s2p] == rows),
        ink=np.asarray(ink, bool),
    )


def synthesize(
    photo: np.ndarray, source_cell: np.ndarray, score: np.ndarray, grid: int, patch: int
) -> Synthesis:
    """Patch-replacement mosaic: sketch cell i is filled with photo cell ``source_cell[i]``.

    Args:
        photo: [S, S, 3] uint8 model-input photo.
        source_cell: [P] int64 photo patch per sketch cell.
        score: [P] float32 match scores.
        grid, patch: g and the patch side.
    """
    cells = (
        photo.reshape(grid, patch, grid, patch, 3)
        .transpose(0, 2, 1, 3, 4)
        .reshape(grid * grid, patch, patch, 3)
    )
    mosaic = cells[source_cell]  # [P, ps, ps, 3]
    image = (
        mosaic.reshape(grid, grid, patch, patch, 3)
        .transpose(0, 2, 1, 3, 4)
        .reshape(grid * patch, grid * patch, 3)
    )
    return Synthesis(
        image=np.ascontiguousarray(image, np.uint8),
        source_cell=np.asarray(source_cell, np.int64),
        score=np.asarray(score, np.float32),
    )


def mask_photo_patches(photo: np.ndarray, cells: np.ndarray, grid: int, patch: int) -> np.ndarray:
    """One masked copy of the photo per cell: [n, S, S, 3] uint8, cell painted ``MASK_FILL``."""
    out = np.repeat(photo[None], len(cells), axis=0)
    for k, cell in enumerate(np.asarray(cells, np.int64)):
        r, c = divmod(int(cell), grid)
        out[k, r * patch : (r + 1) * patch, c * patch : (c + 1) * patch] = MASK_FILL
    return out


def top_pairs(corr: Correspondences, n: int) -> np.ndarray:
    """Sketch patch ids of the ``n`` strongest matches, ink patches first (ties by patch id)."""
    order = np.lexsort((np.arange(len(corr.sketch_score)), -corr.sketch_score.astype(np.float64), ~corr.ink))
    return np.asarray(order[: max(0, n)], np.int64)
