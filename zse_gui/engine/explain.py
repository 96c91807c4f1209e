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

from zse_gui.results import (
    CORRESPONDENCE_READOUTS,
    DEFAULT_READOUT,
    Correspondences,
    ImageFrame,
    Synthesis,
)
from zse_gui.sketch import ink_mask

__all__ = [
    "DEFAULT_READOUT",
    "MASK_FILL",
    "READOUTS",
    "correspondences",
    "correspondences_and_strength",
    "dual_softmax",
    "gradient_relevance",
    "line_photo_order",
    "mask_photo_patches",
    "neighbourhood_consensus",
    "patch_centres",
    "patch_ink",
    "readout_maps",
    "sinkhorn",
    "strip_ret",
    "synthesize",
    "top_pairs",
]

MASK_FILL = 255  # pixel value painted over a masked photo patch (white)

# How a line is read out of the cross-attention (see ``readout_maps``).
READOUTS = CORRESPONDENCE_READOUTS
SINKHORN_ITERS = 20


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


def dual_softmax(sketch_map: np.ndarray, photo_map: np.ndarray) -> np.ndarray:
    """[P, P] two-stream match probability ``A_s[i, j] * A_p[j, i]``.

    The sketch stream's row is a softmax over photo patches, the photo stream's row a softmax over
    sketch patches, so their product is the two-stream form of the dual softmax used in dense
    matching: a photo patch that every sketch patch attends to (a sink) only scores high where its
    own attention also picks that sketch patch. A reading of the maps, not a change of the model.
    """
    return np.asarray(sketch_map, np.float64) * np.asarray(photo_map, np.float64).T


def sinkhorn(attn: np.ndarray, rows: np.ndarray | None = None, iters: int = SINKHORN_ITERS) -> np.ndarray:
    """Sinkhorn-normalise the rows ``rows`` of a [P, P] attention map (rows stay row-stochastic).

    Alternately scales the selected rows' columns to equal mass (n / P each, n = selected rows)
    and the rows to 1, ending with rows. A photo column that took most rows' mass (a sink) is
    scaled down until it holds no more than any other column, so by construction no column can
    capture every row; the model is unchanged. Other rows are returned as they are.

    Args:
        attn: [P, P] non-negative attention (rows sketch patches).
        rows: [P] bool rows to normalise (e.g. the ink patches); None = all.
        iters: column/row rounds.
    """
    a = np.asarray(attn, np.float64).copy()
    sel = np.ones(len(a), bool) if rows is None else np.asarray(rows, bool)
    n, p = int(sel.sum()), a.shape[1]
    if n == 0:
        return a
    k = a[sel] + 1e-12
    for _ in range(max(1, iters)):
        k = k * ((n / p) / k.sum(axis=0, keepdims=True))
        k = k / k.sum(axis=1, keepdims=True)
    a[sel] = k
    return a


def neighbourhood_consensus(match: np.ndarray, ink: np.ndarray, radius: int = 1) -> np.ndarray:
    """Support of each [P, P] match by the matches of its sketch neighbours (a fixed, unlearned
    form of neighbourhood consensus; Rocco et al., NeurIPS 2018).

    Pair (i, j) collects ``match[i', j']`` over the ink sketch patches i' within ``radius`` cells
    of i (i itself included), with j' = j shifted by the same offset: either the same offset (the
    photo shows the sketched object the same way round) or the offset mirrored left-right (it
    faces the other way). The support of the better-fitting of the two is kept per pair and
    divided by the number of ink patches counted. A line whose neighbours' lines run in parallel
    gains; one that disagrees with every neighbour loses. Non-ink rows are returned as they are.

    Args:
        match: [P, P] non-negative match map (rows sketch patches), P = g * g.
        ink: [P] bool ink mask of the sketch patches.
        radius: neighbourhood radius in cells.
    """
    m = np.asarray(match, np.float64)
    p = m.shape[0]
    g = int(round(np.sqrt(p)))
    if g * g != p:
        raise ValueError(f"match map of {p} patches is not a square grid")
    ink_b = np.asarray(ink, bool)
    m4 = (m * ink_b[:, None]).reshape(g, g, g, g)  # [sketch r, sketch c, photo r, photo c]
    k = radius
    pad = np.pad(m4, ((k, k), (k, k), (k, k), (k, k)))
    ink_pad = np.pad(ink_b.reshape(g, g).astype(np.float64), k)
    same = np.zeros_like(m4)
    mirror = np.zeros_like(m4)
    count = np.zeros((g, g))
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            rows = pad[k + dy : k + dy + g, k + dx : k + dx + g]  # sketch neighbour (r + dy, c + dx)
            same += rows[:, :, k + dy : k + dy + g, k + dx : k + dx + g]
            mirror += rows[:, :, k + dy : k + dy + g, k - dx : k - dx + g]
            count += ink_pad[k + dy : k + dy + g, k + dx : k + dx + g]
    support = np.maximum(same, mirror) / np.maximum(count, 1.0)[:, :, None, None]
    out = m.copy()
    out[ink_b] = support.reshape(p, p)[ink_b]
    return out


def gradient_relevance(attn: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Gradient-weighted attention (Chefer et al., ICCV 2021): ``max(0, A * dlogit/dA)`` per head.

    Args:
        attn: [h, T, T] attention probabilities with the [Ret] row and column (T = 1 + P).
        grad: [h, T, T] gradient of the relation logit with respect to ``attn``.

    Returns:
        [h, P, P] float64 relevance of each patch pair to the relation logit ([Ret] dropped).
    """
    r = np.maximum(np.asarray(attn, np.float64) * np.asarray(grad, np.float64), 0.0)
    return r[:, 1:, 1:]


def readout_maps(
    readout: str,
    sketch_map: np.ndarray,
    photo_map: np.ndarray,
    ink: np.ndarray,
    relevance: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(match map, strength map), both [P, P]: a sketch patch's line goes to the argmax of its row
    of the match map, and its strength is the strength map at that pair.

    Readouts (``READOUTS``):
        attention: the sketch-stream attention for both (the original reading).
        dual_softmax: ``dual_softmax(sketch_map, photo_map)`` for both.
        sinkhorn: ``sinkhorn(sketch_map, rows=ink)`` for both.
        dual_sinkhorn: ``sinkhorn(dual_softmax(sketch_map, photo_map), rows=ink)`` for both.
        gradient: lines from the attention, strength = ``relevance`` (pair relevance to the
            relation logit, e.g. from ``gradient_relevance``), divided by the largest value
            on an ink row's line, so that the drawn lines' strengths lie in [0, 1].

    Raises:
        ValueError: unknown readout, or ``gradient`` without ``relevance``.
    """
    sm = np.asarray(sketch_map, np.float64)
    if readout == "attention":
        return sm, sm
    if readout == "dual_softmax":
        d = dual_softmax(sm, photo_map)
        return d, d
    if readout == "sinkhorn":
        s = sinkhorn(sm, rows=ink)
        return s, s
    if readout == "dual_sinkhorn":
        s = sinkhorn(dual_softmax(sm, photo_map), rows=ink)
        return s, s
    if readout == "consensus":
        s = sinkhorn(neighbourhood_consensus(sinkhorn(dual_softmax(sm, photo_map), rows=ink), ink), rows=ink)
        return s, s
    if readout == "gradient":
        if relevance is None:
            raise ValueError("the gradient readout needs the relevance map")
        r = np.asarray(relevance, np.float64)
        ink_rows = np.asarray(ink, bool)
        on_lines = r[np.arange(len(r)), np.argmax(sm, axis=1)]  # relevance of each drawn line
        top = float(on_lines[ink_rows].max()) if ink_rows.any() else float(on_lines.max(initial=0.0))
        return sm, (r / top if top > 0 else np.zeros_like(r))
    raise ValueError(f"unknown correspondence readout {readout!r} (one of {', '.join(READOUTS)})")


def correspondences(
    sketch_map: np.ndarray,
    photo_map: np.ndarray,
    ink: np.ndarray,
    head: int | None,
    readout: str = "attention",
    relevance: np.ndarray | None = None,
) -> Correspondences:
    """Best matches in both directions from one pair of [P, P] attention maps.

    Args:
        sketch_map: [P, P] sketch-stream attention (rows sketch patches, columns photo patches).
        photo_map: [P, P] photo-stream attention (rows photo patches, columns sketch patches).
        ink: [P] bool ink mask of the sketch patches.
        head: head index, or None for the head mean.
        readout: how sketch -> photo lines and their strengths are read (``readout_maps``); the
            photo -> sketch direction and ``mutual`` always use the attention argmax.
        relevance: [P, P] pair relevance, for ``readout="gradient"``.

    Raises:
        ValueError: see ``readout_maps``.
    """
    return correspondences_and_strength(sketch_map, photo_map, ink, head, readout, relevance)[0]


def correspondences_and_strength(
    sketch_map: np.ndarray,
    photo_map: np.ndarray,
    ink: np.ndarray,
    head: int | None,
    readout: str = "attention",
    relevance: np.ndarray | None = None,
) -> tuple[Correspondences, np.ndarray]:
    """``correspondences`` and the readout's [P, P] strength map it read them from (computed
    once; the consensus readout's map is the costly part)."""
    match, strength = readout_maps(readout, sketch_map, photo_map, ink, relevance)
    s2p = np.argmax(match, axis=1).astype(np.int64)  # [P]
    p2s = np.argmax(photo_map, axis=1).astype(np.int64)  # [P]
    rows = np.arange(len(s2p))
    corr = Correspondences(
        head=head,
        sketch_to_photo=s2p,
        sketch_score=strength[rows, s2p].astype(np.float32),
        photo_to_sketch=p2s,
        photo_score=photo_map[rows, p2s].astype(np.float32),
        mutual=np.asarray(p2s[s2p] == rows),
        ink=np.asarray(ink, bool),
        readout=readout,
    )
    return corr, strength


def line_photo_order(
    sketch_to_photo: np.ndarray, strength: np.ndarray, rows: np.ndarray, strength_map: np.ndarray
) -> np.ndarray:
    """Photo patches in the order a readout's lines explain them: [P] int64 patch ids.

    First the photo patches the lines of ``rows`` end on, by the summed strength of those lines;
    then the rest by the strength map's mass over those rows; ties by patch id. This is the order
    the deletion benchmark masks a readout's explanation in, and the order the faithfulness
    training term (``zse_gui.train.faithfulness``) can be asked to make faithful.

    Args:
        sketch_to_photo: [P] photo patch of each sketch patch's line.
        strength: [P] strength of each line.
        rows: [P] bool sketch patches whose lines count (e.g. ink and kept).
        strength_map: [P, P] the readout's strength map.
    """
    rows = np.asarray(rows, bool)
    p = strength_map.shape[1]
    line_w = np.bincount(sketch_to_photo[rows], weights=np.asarray(strength, np.float64)[rows], minlength=p)
    mass = np.asarray(strength_map, np.float64)[rows].sum(0)
    return np.lexsort((np.arange(p), -mass, -line_w)).astype(np.int64)


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
