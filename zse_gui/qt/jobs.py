"""The jobs the worker thread runs against the engine.

Each ``*_job`` function builds a ``Job`` whose ``fn`` runs on the worker thread; only that thread
touches ``EngineState`` (it owns the model). Jobs only schedule the engine's own calls (the
two-stage search is ``SearchEngine.search_stages``); what they return is stamped with the
``Revision`` they were asked for, so the controller can tell current results from old ones.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zse_gui.data.imageio import read_image_or_placeholder
from zse_gui.errors import GalleryError, WeightsError
from zse_gui.qt.protocols import Query, SearchEngine
from zse_gui.qt.state import (
    ContrastPayload,
    ExplainPayload,
    GalleryInfo,
    ModelInfo,
    Revision,
    Stamped,
    StrokesPayload,
)
from zse_gui.qt.worker import Job, JobContext
from zse_gui.results import DEFAULT_READOUT, RankedItem, RetrievalResult
from zse_gui.sketch import StrokeSketch, query_digest
from zse_gui.stroke_results import StrokeAttribution
from zse_gui.viz.strokes import replay_frames

__all__ = [
    "EngineState",
    "SearchParams",
    "explain_job",
    "index_job",
    "load_model_job",
    "model_info",
    "need_engine",
    "need_gallery",
    "search_job",
    "strokes_job",
]

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # typing only: the GUI thread does not import torch
    from zse_gui.engine.gallery import GalleryIndex
    from zse_gui.model.factory import WeightsInfo


@dataclass
class EngineState:
    """What the worker thread owns: the engine and the open gallery's index."""

    engine: SearchEngine | None = None
    gallery: GalleryIndex | None = None


@dataclass(frozen=True)
class SearchParams:
    """Retrieval settings of one request."""

    top_k: int
    rerank_depth: int


def _seen_classes(info: WeightsInfo) -> frozenset[str] | None:
    """Canonical names of the training classes from a checkpoint's metadata, when it lists them.

    ``seen_classes`` are the classes trained with sketches; ``photo_only_classes`` (optional) are
    classes trained through their photos alone (pseudo-sketches), which the model has also seen.
    """
    from zse_gui.data.splits import canonical_class

    meta = info.report.metadata if info.report is not None else {}
    inner = meta.get("meta")
    if not isinstance(inner, dict):
        return None
    seen = inner.get("seen_classes")
    if not (isinstance(seen, (list, tuple)) and all(isinstance(c, str) for c in seen)):
        return None
    extra = inner.get("photo_only_classes") or []
    if isinstance(extra, (list, tuple)) and all(isinstance(c, str) for c in extra):
        seen = [*seen, *extra]
    return frozenset(canonical_class(c) for c in seen)


def model_info(engine: SearchEngine) -> ModelInfo:
    """Describe a loaded engine for the GUI."""
    info = engine.weights_info
    cfg = engine.config
    return ModelInfo(
        name=cfg.name,
        source=str(info.source),
        sha256=str(info.sha256),
        device=str(engine.device),
        report=info.report.summary() if info.report is not None else "",
        seen_classes=_seen_classes(info),
        description=cfg.description,
        trained=info.report is not None,
        ca_heads=int(cfg.ca_heads),
        sa_heads=int(cfg.num_heads),
    )


def load_model_job(name: str, weights: str | None, device: str) -> Job:
    """Load a model (replacing the current one); the open gallery must be re-indexed after it."""

    def run(state: EngineState, ctx: JobContext) -> ModelInfo:
        from zse_gui.engine import Engine  # heavy (torch); imported on the worker thread
        from zse_gui.model import create_model

        if weights:
            engine = Engine.from_name(name, weights=weights, device=device)
        else:
            # a seeded random init: the same "model" every run, so its gallery cache is reused
            engine = Engine(create_model(name, seed=0), device=device)
        ctx.check()
        state.engine = engine
        state.gallery = None  # an index belongs to the weights that built it
        return model_info(engine)

    return Job("model", run, key=None, label=f"load {name} {weights or ''} on {device}")


def index_job(folder: str, revision: Revision) -> Job:
    """Index a gallery folder (incremental: the engine reuses its cache)."""

    def run(state: EngineState, ctx: JobContext) -> Stamped[GalleryInfo]:
        engine = need_engine(state)
        state.gallery = None  # until the new one is complete, no search runs on the old one
        gallery = engine.index_gallery(folder, progress=ctx.progress, cancel=ctx.cancelled)
        state.gallery = gallery
        info = GalleryInfo(
            folder=folder,
            size=len(gallery),
            labels=tuple(sorted({lb for lb in gallery.labels if lb})),
            skipped=tuple((str(p), str(why)) for p, why in gallery.skipped),
            encoded=gallery.num_encoded,
            reused=gallery.num_reused,
        )
        return Stamped(revision, info)

    return Job("index", run, key=None, label=f"index {folder}")


def need_engine(state: EngineState) -> SearchEngine:
    if state.engine is None:
        raise WeightsError("<no model>", "no model is loaded", "pick one in the Model menu")
    return state.engine


def need_gallery(state: EngineState) -> GalleryIndex:
    if state.gallery is None:
        raise GalleryError("no gallery is open; open a folder of photos with File > Open gallery (Ctrl+G)")
    return state.gallery


def search_job(query: Query, params: SearchParams, revision: Revision) -> Job:
    """Rank the gallery: the stage-1 ranking is emitted as ``"partial"``, the final one is the result."""

    def run(state: EngineState, ctx: JobContext) -> Stamped[RetrievalResult]:
        engine, gallery = need_engine(state), need_gallery(state)
        stages = engine.search_stages(
            query, gallery, top_k=params.top_k, rerank_depth=params.rerank_depth, cancel=ctx.cancelled
        )
        for stage in stages:
            if stage.final:
                return Stamped(revision, stage.result)
            ctx.emit("partial", Stamped(revision, stage.result))
            ctx.check()
        raise AssertionError("search_stages ended without a final stage")  # pragma: no cover

    # equal requests (same sketch content, settings, gallery and model) are skipped by the worker
    return Job("search", run, key=(revision, params), label="search")


def explain_job(
    query: Query, item: RankedItem, faithfulness_top: int, revision: Revision, readout: str = DEFAULT_READOUT
) -> Job:
    """Explain why the query matched one gallery item (lines read out by ``readout``)."""

    def run(state: EngineState, ctx: JobContext) -> ExplainPayload:
        engine, gallery = need_engine(state), need_gallery(state)
        expl = engine.explain(
            query,
            gallery,
            index=item.index,
            faithfulness_top=faithfulness_top,
            cancel=ctx.cancelled,
            readout=readout,
        )
        return ExplainPayload(item=item, explanation=expl, revision=revision)

    key = (revision, query_digest(query), item.index, faithfulness_top, readout)
    return Job("explain", run, key=key, label=f"explain {item.path}")


OCCLUSION_WINDOW = 2  # patches per side of each masked photo window in the Strokes tab
CONTRAST_WINDOW = 1  # sketch patches masked one by one (about 60 inked cells: a few seconds on zse_lite)


def strokes_job(
    sketch: StrokeSketch, item: RankedItem, result: RetrievalResult, params: SearchParams, revision: Revision
) -> Job:
    """The Strokes tab for one result: strength, stroke attribution and the replay of the drawing
    following that photo (each emitted as ``"partial"``), then the photo's occlusion map (the final
    payload). Progress is reported throughout.

    The attribution ranks among the result's first 10 re-ranked items; the replay uses the app's
    search settings, so its last point is the rank the grid shows.
    """

    def run(state: EngineState, ctx: JobContext) -> StrokesPayload:
        from zse_gui.engine.replay import ReplayTarget  # torch: on the worker thread only
        from zse_gui.engine.strength import result_strength

        engine, gallery = need_engine(state), need_gallery(state)
        position = next(k for k, it in enumerate(result.items) if it.index == item.index)
        strength = result_strength(result, position, ink_share=sketch.ink_share)
        compared = result.reranked_indices()

        def attr_progress(done: int, total: int) -> None:  # the first 40 % of the bar
            ctx.progress(round(40 * done / max(total, 1)), 100)

        def scores_first(early: StrokeAttribution) -> None:  # colours before the ranks are in
            ctx.emit("partial", StrokesPayload(item, strength, early, None, revision))

        attr = engine.attribute_strokes(
            sketch,
            gallery,
            item.index,
            compared,
            cancel=ctx.cancelled,
            progress=attr_progress,
            first=scores_first,
        )
        ctx.emit("partial", StrokesPayload(item, strength, attr, None, revision))
        ctx.check()

        def replay_progress(done: int, total: int) -> None:  # the next 40 %
            ctx.progress(40 + round(40 * done / max(total, 1)), 100)

        rankings: list[RetrievalResult | None] = [None] * len(sketch.strokes)

        def keep_ranking(k: int, res: RetrievalResult) -> None:  # what the grid shows after stroke k
            rankings[k - 1] = dataclasses.replace(res, items=res.items[: params.top_k])

        rep = engine.replay(
            sketch,
            gallery,
            ReplayTarget(f"photo:{item.path}", (item.index,)),
            rerank_depth=params.rerank_depth,
            cancel=ctx.cancelled,
            progress=replay_progress,
            on_prefix=keep_ranking,
        )
        photo = functools.cache(lambda i: read_image_or_placeholder(gallery.paths[i]))
        frames = tuple(replay_frames(sketch, rep, photo, size=200, thumb=72))
        ranked = tuple(rankings)
        ctx.emit("partial", StrokesPayload(item, strength, attr, rep, revision, None, frames, ranked))
        ctx.check()
        ctx.progress(80, 100)
        occ = engine.occlusion_map(
            sketch,
            gallery,
            item.index,
            window=OCCLUSION_WINDOW,
            cancel=ctx.cancelled,
        )
        return StrokesPayload(item, strength, attr, rep, revision, occ, frames, ranked)

    key = (revision, query_digest(sketch), item.index, params)
    return Job("strokes", run, key=key, label=f"strokes {item.path}")


def contrast_job(
    sketch: StrokeSketch, a: RankedItem, b: RankedItem, revision: Revision, readout: str = DEFAULT_READOUT
) -> Job:
    """Why result ``a`` and not ``b``: per stroke (one encoding of the stroke variants scores both;
    emitted as ``"partial"``), then per sketch patch and both results' explanations (the final
    payload, for the side-by-side correspondences)."""

    def run(state: EngineState, ctx: JobContext) -> ContrastPayload:
        engine, gallery = need_engine(state), need_gallery(state)

        def stroke_progress(done: int, total: int) -> None:  # the first 30 % of the bar
            ctx.progress(round(30 * done / max(total, 1)), 100)

        def patch_progress(done: int, total: int) -> None:  # then up to 95 %
            ctx.progress(30 + round(65 * done / max(total, 1)), 100)

        con = engine.contrast_strokes(
            sketch,
            gallery,
            a.index,
            b.index,
            cancel=ctx.cancelled,
            progress=stroke_progress,
        )
        ctx.emit("partial", ContrastPayload(a, b, con, revision))
        ctx.check()
        patches = engine.contrast_patches(
            sketch,
            gallery,
            a.index,
            b.index,
            window=CONTRAST_WINDOW,
            cancel=ctx.cancelled,
            progress=patch_progress,
        )
        expl_a = engine.explain(sketch, gallery, index=a.index, cancel=ctx.cancelled, readout=readout)
        expl_b = engine.explain(sketch, gallery, index=b.index, cancel=ctx.cancelled, readout=readout)
        ctx.progress(100, 100)
        return ContrastPayload(a, b, con, revision, patches, expl_a, expl_b)

    key = (revision, query_digest(sketch), a.index, b.index, readout)
    return Job("contrast", run, key=key, label=f"contrast {a.path} / {b.path}")
