"""Stroke attribution: what each stroke does to a result's relation score, measured by the model.

For a sketch of S strokes and one result, the sketch is scored again with each stroke removed
(S variants) and with each stroke alone (S more), all in batches: the 2S + 1 variant sketches go
through the self-attention encoder together, and each compared photo's cached SA tokens and CA
projections are reused for every variant (the photo side is computed once). Each variant is
preprocessed like any query (ink crop, resize, pad), so a removed stroke also changes the crop:
that is what the model would have seen had the stroke not been drawn.

The ranks are among ``compared`` gallery items (the current results), by relation logit, ties by
gallery index, like the re-ranking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zse_gui.engine.engine import Engine
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.preprocess import prepare_photo, prepare_sketch
from zse_gui.errors import CancelledError, GalleryError, InvalidSketchError
from zse_gui.model.layers import CrossProjections
from zse_gui.results import PreparedImage
from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import StrokeAttribution, StrokeContrast

__all__ = [
    "ENCODE_BATCH",
    "PAIR_BATCH",
    "StrokeContrast",
    "attribute_strokes",
    "contrast_strokes",
    "encode_prepared",
    "pair_logits",
    "rank_of",
    "stroke_variants",
]

log = logging.getLogger(__name__)

PAIR_BATCH = 20  # sketch-photo pairs per CA + RN forward in pair_logits: side by side (410 pairs, quiet
# machine) 20 took 2-4 % less than the per-photo loop with 1 thread and 5-7 % less with 2; 64 took 5-10 % more
ENCODE_BATCH = 4  # variant sketches per SA forward: side by side on this CPU (1 thread, 20 strokes) a whole
# attribution took 1.38 s in batches of 4, 1.42 s in 2s, 1.95 s in 8s; one batch of 41 was slower still

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


def _check(cancel: Cancel | None, what: str) -> None:
    if cancel is not None and cancel():
        raise CancelledError(f"cancelled before {what}")


def stroke_variants(sketch: StrokeSketch) -> tuple[list[StrokeSketch | None], list[StrokeSketch | None]]:
    """(each stroke removed, each stroke alone): S sketches each, None where there is no ink."""
    strokes = sketch.strokes
    removed: list[StrokeSketch | None] = []
    alone: list[StrokeSketch | None] = []
    for k, s in enumerate(strokes):
        rest = StrokeSketch(strokes[:k] + strokes[k + 1 :], sketch.canvas_size)
        removed.append(None if rest.is_empty else rest)
        only = StrokeSketch((s,), sketch.canvas_size)
        alone.append(None if only.is_empty else only)
    return removed, alone


def _prepare(engine: Engine, sketch: StrokeSketch | None) -> PreparedImage | None:
    if sketch is None:
        return None
    try:
        return prepare_sketch(sketch, engine.config)
    except InvalidSketchError:
        return None  # e.g. a stroke whose pen is too light to leave ink: no variant to score


def encode_prepared(
    engine: Engine,
    prepared: Sequence[PreparedImage],
    cancel: Cancel | None = None,
    progress: Progress | None = None,
) -> tuple[Tensor, CrossProjections]:
    """SA tokens [V, T, C] and CA projections of V preprocessed sketches, in batches.

    Must run under ``torch.inference_mode()``; progress counts sketches encoded.
    """
    m = engine.model
    toks: list[Tensor] = []
    projs: list[CrossProjections] = []
    for s in range(0, len(prepared), ENCODE_BATCH):
        _check(cancel, "the next batch of sketches")
        part = np.stack([p.tensor for p in prepared[s : s + ENCODE_BATCH]])
        x = torch.from_numpy(part).to(engine.device, engine.dtype)
        t = m.forward_tokens(x).tokens  # [b, T, C]
        toks.append(t)
        projs.append(m.project_sketch(t))
        if progress is not None:
            progress(min(s + ENCODE_BATCH, len(prepared)), len(prepared))
    tokens = torch.cat(toks)
    proj = CrossProjections(*(torch.cat([p[i] for p in projs]) for i in range(3)))
    return tokens, proj


def pair_logits(
    engine: Engine,
    sk_tokens: Tensor,
    sk_proj: CrossProjections,
    ph_tokens: Tensor,
    ph_proj: CrossProjections,
    cancel: Cancel | None = None,
    progress: Progress | None = None,
    column_done: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """[V, K] float32 relation logits of every sketch (V) with every photo (K).

    Photo 0 (the target) is scored first, alone, so that ``column_done(0, out)`` comes early;
    the other photos are then scored together: each CA forward takes a few sketches against all
    of them (``ZseSbir.forward_cross_all``), which multiplies the attention in large products and
    never copies a photo's tokens or projections per pair, and the relation network scores all
    those pairs in one batch. Must run under ``torch.inference_mode()``. ``column_done(j, out)``
    is called once photo ``j``'s column of ``out`` is filled; ``progress`` counts photos.
    """
    v, k = sk_tokens.shape[0], ph_tokens.shape[0]
    out = np.empty((v, k), np.float32)
    m = engine.model
    groups = [[0], list(range(1, k))] if k > 1 else [[0]]
    for group in groups:
        photos = ph_tokens[group[0] : group[-1] + 1]  # the groups are contiguous: views, no copies
        pp = CrossProjections(*(t[group[0] : group[-1] + 1] for t in ph_proj))
        chunk = max(1, PAIR_BATCH // len(group))  # sketches per forward
        for s in range(0, v, chunk):
            _check(cancel, "the next relation batch")
            b = min(chunk, v - s)
            sp = CrossProjections(*(t[s : s + b] for t in sk_proj))
            cross = m.forward_cross_all(sk_tokens[s : s + b], photos, sp, pp)  # b * len(group) pairs
            logit, _ = engine.relation(cross.sketch, cross.photo)
            out[s : s + b, group[0] : group[-1] + 1] = logit.float().cpu().numpy().reshape(b, len(group))
            if progress is not None and group[0] > 0:
                progress(1 + (k - 1) * (s + b) // v, k)
        for j in group:
            if column_done is not None:
                column_done(j, out)
        if progress is not None and group[0] == 0:
            progress(1, k)
    return out


def rank_of(logits: np.ndarray, indices: Sequence[int], target_col: int) -> np.ndarray:
    """[V] 0-based rank of column ``target_col`` in each row of [V, K] logits.

    Sorted by logit descending, ties by ascending gallery index (as the re-ranking does).
    """
    idx = np.asarray(indices, np.int64)
    t = logits[:, target_col : target_col + 1]
    better = (logits > t) | ((logits == t) & (idx[None, :] < idx[target_col]))
    return np.asarray(better.sum(axis=1), np.int64)


def _variant_logits(
    engine: Engine,
    sketch: StrokeSketch,
    gallery: GalleryIndex | None,
    cmp_idx: list[int],
    photo: np.ndarray | str | Path | None,
    cancel: Cancel | None,
    progress: Progress | None,
    column_done: Callable[[int, np.ndarray, list[int]], None] | None = None,
) -> tuple[np.ndarray, list[int]]:
    """[1 + live, K] relation logits (whole sketch, then the variants with ink) and the live ids;
    ``column_done(j, logits, live)`` is called as each photo's column is filled."""
    full = prepare_sketch(sketch, engine.config)  # raises InvalidSketchError for a blank sketch
    removed, alone = stroke_variants(sketch)
    variants = [_prepare(engine, s) for s in (*removed, *alone)]
    live = [k for k, p in enumerate(variants) if p is not None]
    prepared = [full] + [variants[k] for k in live]
    total = len(prepared) + len(cmp_idx)

    def enc_progress(done: int, _: int) -> None:
        if progress is not None:
            progress(done, total)

    def rn_progress(done: int, _: int) -> None:
        if progress is not None:
            progress(len(prepared) + done, total)

    with torch.inference_mode():
        if photo is None:
            assert gallery is not None
            ph_tokens, ph_proj = engine.photo_side(gallery, cmp_idx)
        else:
            ph = prepare_photo(photo, engine.config)
            x = torch.from_numpy(ph.tensor[None]).to(engine.device, engine.dtype)
            ph_tokens = engine.model.forward_tokens(x).tokens  # [1, T, C]
            ph_proj = engine.model.project_photo(ph_tokens)
        sk_tokens, sk_proj = encode_prepared(engine, prepared, cancel, enc_progress)  # type: ignore[arg-type]
        on_column = None if column_done is None else (lambda j, out: column_done(j, out, live))
        logits = pair_logits(
            engine, sk_tokens, sk_proj, ph_tokens, ph_proj, cancel, rn_progress, on_column
        )  # [V, K]
    return logits, live


def attribute_strokes(
    engine: Engine,
    sketch: StrokeSketch,
    gallery: GalleryIndex | None,
    index: int | None,
    compared: Sequence[int] = (),
    cancel: Cancel | None = None,
    progress: Progress | None = None,
    photo: np.ndarray | str | Path | None = None,
    first: Callable[[StrokeAttribution], None] | None = None,
) -> StrokeAttribution:
    """Relation logit (and rank among ``compared``) of gallery item ``index`` with each stroke of
    ``sketch`` removed and with each stroke alone.

    Args:
        engine: the engine the gallery was indexed with.
        sketch: the strokes (``StrokeSketch``; a raster sketch has no strokes to attribute).
        gallery, index: the result to explain.
        compared: gallery indices to rank among (the current results); the target is added if
            missing. Each compared item costs one more CA + RN forward per variant.
        photo: instead of ``gallery`` and ``index``, any photo (array or path), encoded here at
            the engine's precision; the ranks are then all 0 (nothing to rank among) and
            ``target_index`` is -1.
        cancel: polled between batches; raises ``CancelledError``.
        progress: ``progress(done, total)`` over the work units (sketch encodes + photo passes).
        first: called with the target's attribution as soon as its scores exist, before the other
            compared photos are scored (its ranks are among the target alone, ``compared`` = the
            target): a view can show the colours while the ranks are still being computed. Not
            called when nothing else is compared.

    Raises:
        InvalidSketchError: the sketch has no ink. GalleryError: bad index or another model's
        gallery. CancelledError.
    """
    if not isinstance(sketch, StrokeSketch):
        raise InvalidSketchError("stroke attribution needs strokes (a StrokeSketch), not a raster image")
    if photo is None and (gallery is None or index is None or not 0 <= int(index) < len(gallery)):
        size = "no gallery" if gallery is None else f"a gallery of {len(gallery)} items"
        raise GalleryError(f"gallery index {index} is out of range for {size}")
    if photo is None:
        assert gallery is not None and index is not None
        cmp_idx = list(dict.fromkeys([int(index), *(int(i) for i in compared)]))  # target first
    else:
        cmp_idx = [-1]
    n = len(sketch.strokes)
    path = (
        gallery.paths[cmp_idx[0]]
        if photo is None and gallery is not None
        else str(photo if isinstance(photo, (str, Path)) else "<array>")
    )

    def target_done(j: int, logits: np.ndarray, live: list[int]) -> None:
        if j == 0 and first is not None and len(cmp_idx) > 1:
            first(_column(logits[:, :1], cmp_idx[:1], live, n, 0, path))

    logits, live = _variant_logits(engine, sketch, gallery, cmp_idx, photo, cancel, progress, target_done)
    return _column(logits, cmp_idx, live, n, 0, path)


def _column(
    logits: np.ndarray, cmp_idx: list[int], live: list[int], n: int, col: int, path: str
) -> StrokeAttribution:
    """The attribution of compared photo ``col`` from the [1 + live, K] variant logits."""
    ranks = rank_of(logits, cmp_idx, col)
    all_logit = np.full(2 * n, np.nan, np.float32)
    all_rank = np.full(2 * n, -1, np.int64)
    all_logit[live] = logits[1:, col]
    all_rank[live] = ranks[1:]
    return StrokeAttribution(
        target_index=cmp_idx[col],
        target_path=path,
        base_logit=float(logits[0, col]),
        base_rank=int(ranks[0]),
        compared=tuple(cmp_idx),
        removed_logit=all_logit[:n],
        alone_logit=all_logit[n:],
        removed_rank=all_rank[:n],
        alone_rank=all_rank[n:],
    )


def check_contrast_pair(gallery: GalleryIndex, index_a: int, index_b: int) -> tuple[int, int]:
    """The two gallery rows of a contrast, as ints.

    Raises:
        GalleryError: A == B, or an index outside the gallery.
    """
    a, b = int(index_a), int(index_b)
    if a == b:
        raise GalleryError("contrast needs two different results (A and B are the same photo)")
    for i in (a, b):
        if not 0 <= i < len(gallery):
            raise GalleryError(f"gallery index {i} is out of range for a gallery of {len(gallery)} items")
    return a, b


def contrast_strokes(
    engine: Engine,
    sketch: StrokeSketch,
    gallery: GalleryIndex,
    index_a: int,
    index_b: int,
    cancel: Cancel | None = None,
    progress: Progress | None = None,
) -> StrokeContrast:
    """Per-stroke contributions to results A and B and their difference (one encoding of the variants).

    Raises:
        GalleryError: an index outside the gallery, or A == B. InvalidSketchError, CancelledError.
    """
    cmp_idx = list(check_contrast_pair(gallery, index_a, index_b))
    if not isinstance(sketch, StrokeSketch):
        raise InvalidSketchError("a stroke contrast needs strokes (a StrokeSketch), not a raster image")
    logits, live = _variant_logits(engine, sketch, gallery, cmp_idx, None, cancel, progress)
    n = len(sketch.strokes)
    a = _column(logits, cmp_idx, live, n, 0, gallery.paths[cmp_idx[0]])
    b = _column(logits, cmp_idx, live, n, 1, gallery.paths[cmp_idx[1]])
    return StrokeContrast(a, b)
