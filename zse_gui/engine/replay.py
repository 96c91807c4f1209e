"""Stroke replay (retrieval while drawing): the target's rank after every stroke prefix.

The prefixes (first 1, 2, ..., S strokes) are preprocessed like any query and encoded together in
batches; each prefix is then ranked by the engine's own two-stage search over the whole gallery
(``Engine.search`` with ``top_k = len(gallery)``), so a replayed rank is the rank the app would
have shown had the person stopped drawing there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zse_gui.data.splits import canonical_class
from zse_gui.engine.engine import Engine, SketchQuery
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.preprocess import prepare_sketch
from zse_gui.engine.retrieval import l2_normalize
from zse_gui.engine.strokes import encode_prepared
from zse_gui.errors import CancelledError, GalleryError, InvalidSketchError, UsageError
from zse_gui.results import PreparedImage, RetrievalResult
from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import Replay

__all__ = ["ReplayTarget", "replay_sketch", "target_class", "target_photo", "target_rank"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayTarget:
    """What a replay follows: one photo, or the best of a class's photos.

    Attributes:
        name: ``"photo:<path>"``, ``"class:<label>"`` or ``"rank:<n>"`` (1-based, for the sidecar).
        indices: gallery indices that count as the target.
    """

    name: str
    indices: tuple[int, ...]


def target_photo(gallery: GalleryIndex, path: str | os.PathLike[str]) -> ReplayTarget:
    """The gallery photo at ``path`` (compared after resolving both paths).

    Raises:
        UsageError: the photo is not in the gallery.
    """
    want = Path(path).resolve()
    for i, p in enumerate(gallery.paths):
        if Path(p).resolve() == want:
            return ReplayTarget(f"photo:{p}", (i,))
    raise UsageError(f"{path} is not a photo of the gallery {gallery.root}; pass one of its image files")


def target_class(gallery: GalleryIndex, name: str) -> ReplayTarget:
    """Every gallery photo labelled ``name`` (case, spaces and underscores ignored).

    Raises:
        UsageError: no photo has that label; the message lists a few labels there are.
    """
    want = canonical_class(name)
    idx = tuple(i for i, lab in enumerate(gallery.labels) if lab is not None and canonical_class(lab) == want)
    if not idx:
        some = ", ".join(sorted({lab for lab in gallery.labels if lab})[:8])
        raise UsageError(
            f"no photo of class {name!r} in the gallery {gallery.root} (classes include: {some})"
        )
    label = gallery.labels[idx[0]]
    return ReplayTarget(f"class:{label}", idx)


def target_rank(
    engine: Engine, sketch: StrokeSketch, gallery: GalleryIndex, n: int, **search: object
) -> ReplayTarget:
    """The photo at 0-based rank ``n`` of the whole sketch's search (``search`` passes settings).

    Raises:
        UsageError: ``n`` is outside the gallery.
    """
    if not 0 <= int(n) < len(gallery):
        raise UsageError(f"rank {n} is outside the gallery (0-based, 0 .. {len(gallery) - 1})")
    res = engine.search(sketch, gallery, top_k=int(n) + 1, **search)  # type: ignore[arg-type]
    item = res.items[int(n)]
    return ReplayTarget(f"rank:{int(n) + 1}", (item.index,))


def _prefix(sketch: StrokeSketch, k: int) -> StrokeSketch:
    return StrokeSketch(sketch.strokes[:k], sketch.canvas_size)


def replay_sketch(
    engine: Engine,
    sketch: StrokeSketch,
    gallery: GalleryIndex,
    target: ReplayTarget,
    mode: str = "rerank",
    rerank_depth: int = 50,
    top: int = 5,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_prefix: Callable[[int, RetrievalResult], None] | None = None,
) -> Replay:
    """Replay ``sketch`` stroke by stroke and follow ``target``'s rank.

    Args:
        mode, rerank_depth: the search settings (as ``Engine.search``).
        top: results kept per prefix (for the animated results strip).
        cancel: polled between prefixes; raises ``CancelledError``.
        progress: ``progress(done, total)`` over the prefixes searched.
        on_prefix: ``on_prefix(k, result)`` with each inked prefix's stroke count ``k`` (1-based)
            and its whole ranking (``top_k = len(gallery)``), e.g. to animate a results grid
            with the very rankings the replayed ranks were read from.

    Returns:
        ``Replay``; a prefix without ink (leading empty strokes) gets rank ``len(gallery)``.

    Raises:
        InvalidSketchError: no strokes or no ink. GalleryError: the target is outside the gallery.
    """
    if not isinstance(sketch, StrokeSketch) or sketch.is_empty:
        raise InvalidSketchError("a replay needs a drawing with strokes")
    n_gal = len(gallery)
    if not target.indices or not all(0 <= i < n_gal for i in target.indices):
        raise GalleryError(f"replay target {target.name} is not in the gallery of {n_gal} items")
    s = len(sketch.strokes)
    prepared: list[PreparedImage | None] = []
    for k in range(1, s + 1):
        pre = _prefix(sketch, k)
        try:
            prepared.append(None if pre.is_empty else prepare_sketch(pre, engine.config))
        except InvalidSketchError:
            prepared.append(None)  # strokes too light to leave ink so far
    live = [k for k, p in enumerate(prepared) if p is not None]
    with torch.inference_mode():
        tokens, proj = encode_prepared(engine, [prepared[k] for k in live], cancel)  # type: ignore[misc]
    ranks = np.full(s, n_gal, np.int64)
    top_idx = np.full((s, top), -1, np.int64)
    top_sc = np.full((s, top), np.nan, np.float32)
    want = set(target.indices)
    sha = engine.weights_info.sha256
    for j, k in enumerate(live):
        if cancel is not None and cancel():
            raise CancelledError("replay cancelled")
        q = SketchQuery(
            prepared=prepared[k],  # type: ignore[arg-type]
            tokens=tokens[j : j + 1],
            ret=l2_normalize(tokens[j, 0].float().cpu().numpy()),
            ret_attn=np.zeros((0, 0), np.float32),  # not needed for ranking
            projections=type(proj)(*(t[j : j + 1] for t in proj)),
            weights_sha256=sha,
        )
        res = engine.search(q, gallery, top_k=n_gal, rerank_depth=rerank_depth, mode=mode, cancel=cancel)
        ranks[k] = min(pos for pos, it in enumerate(res.items) if it.index in want)
        if on_prefix is not None:
            on_prefix(k + 1, res)
        for pos, it in enumerate(res.items[:top]):
            top_idx[k, pos] = it.index
            top_sc[k, pos] = np.nan if it.rn_score is None else it.rn_score
        if progress is not None:
            progress(j + 1, len(live))
    points = np.asarray([len(st.points) for st in sketch.strokes], np.int64)
    return Replay(
        target=target.name,
        target_indices=tuple(int(i) for i in target.indices),
        gallery_size=n_gal,
        mode=mode,
        rerank_depth=int(rerank_depth) if mode == "rerank" else 0,
        ranks=ranks,
        top=top_idx,
        top_scores=top_sc,
        stroke_points=points,
    )
