"""The jobs the worker thread runs against the engine, and the state they share.

Each ``*_job`` function builds a ``Job`` whose ``fn`` runs on the worker thread; only that thread
touches ``EngineState`` (it owns the model). Payloads are plain dataclasses the GUI thread can
read without locks.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from zse_gui.data.splits import canonical_class
from zse_gui.engine.types import Explanation, RankedItem, RetrievalResult, StrokeSketch
from zse_gui.errors import GalleryError, WeightsError
from zse_gui.qt.worker import Job, JobContext

__all__ = [
    "EngineState",
    "ModelInfo",
    "GalleryInfo",
    "SearchParams",
    "ExplainPayload",
    "query_digest",
    "load_model_job",
    "index_job",
    "search_job",
    "explain_job",
    "encode_query",
    "need_engine",
    "need_gallery",
]

log = logging.getLogger(__name__)

# A query is the strokes on the canvas, a loaded sketch image with strokes drawn over it
# ([H, W, 3] uint8 RGB), or a sketch image file.
Query = StrokeSketch | np.ndarray | str


@dataclass
class EngineState:
    """What the worker thread owns: the engine, the open gallery and the last encoded query."""

    engine: Any = None
    gallery: Any = None
    gallery_folder: str = ""
    query_key: str = ""
    query: Any = None
    stage1: RetrievalResult | None = None


@dataclass(frozen=True)
class ModelInfo:
    """A loaded model, as the GUI shows it.

    Attributes:
        name: registry name.
        source: weight file path or ``"random-init"``.
        sha256: weights sha256 (or state digest for a random init).
        device: the torch device it runs on.
        report: the load report text ("" for a random init).
        seen_classes: canonical names (``canonical_class``) of the classes the model was trained on,
            when its metadata lists them; test a gallery label with ``class_seen``.
        description: one line from the config.
        trained: False for a random init (the GUI then shows a banner).
        ca_heads: cross-attention heads (correspondence head choice).
        sa_heads: self-attention heads ([Ret] attention head choice).
    """

    name: str
    source: str
    sha256: str
    device: str
    report: str
    seen_classes: frozenset[str] | None
    description: str
    trained: bool
    ca_heads: int = 1
    sa_heads: int = 1


@dataclass(frozen=True)
class GalleryInfo:
    """An indexed gallery folder.

    Attributes:
        folder: the folder.
        size: images indexed.
        labels: distinct class labels, sorted.
        skipped: (path, reason) of files that could not be read.
        encoded: files encoded by this run; reused: files taken from the cache.
    """

    folder: str
    size: int
    labels: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    encoded: int = 0
    reused: int = 0


@dataclass(frozen=True)
class SearchParams:
    """Retrieval settings of one request."""

    top_k: int
    rerank_depth: int


@dataclass(frozen=True)
class ExplainPayload:
    """One explanation and the ranked item it explains."""

    item: RankedItem
    explanation: Explanation


def query_digest(query: Query) -> str:
    """A short stable digest of a query: equal sketches give equal digests (skip re-runs)."""
    h = hashlib.sha1()
    if isinstance(query, str):
        h.update(b"file:" + query.encode())
        try:
            st = Path(query).stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(b"missing")
        return h.hexdigest()
    if isinstance(query, np.ndarray):
        h.update(b"rgb:" + str(query.shape).encode())
        h.update(np.ascontiguousarray(query).tobytes())
        return h.hexdigest()
    h.update(np.asarray(query.canvas_size, np.int64).tobytes())
    for s in query.strokes:
        h.update(np.float32(s.width).tobytes())
        h.update(np.ascontiguousarray(s.points, dtype=np.float32).tobytes())
        h.update(b"|")
    return h.hexdigest()


def _seen_classes(weights_info: Any) -> frozenset[str] | None:
    """Canonical names of the training classes from a checkpoint's metadata, when it lists them.

    ``seen_classes`` are the classes trained with sketches; ``photo_only_classes`` (optional) are
    classes trained through their photos alone (pseudo-sketches), which the model has also seen.
    """
    report = getattr(weights_info, "report", None)
    meta = getattr(report, "metadata", None) or {}
    inner = meta.get("meta") if isinstance(meta, dict) else None
    if not isinstance(inner, dict):
        return None
    seen = inner.get("seen_classes")
    if not (isinstance(seen, (list, tuple)) and all(isinstance(c, str) for c in seen)):
        return None
    extra = inner.get("photo_only_classes") or []
    if isinstance(extra, (list, tuple)) and all(isinstance(c, str) for c in extra):
        seen = [*seen, *extra]
    return frozenset(canonical_class(c) for c in seen)


def class_seen(label: str, seen: frozenset[str]) -> bool:
    """Whether gallery class ``label`` (a folder name such as ``hot_air_balloon``) is in ``seen``."""
    return canonical_class(label) in seen


def model_info(engine: Any) -> ModelInfo:
    """Describe a loaded engine for the GUI."""
    info = engine.weights_info
    report = getattr(info, "report", None)
    cfg = engine.config
    return ModelInfo(
        name=cfg.name,
        source=str(info.source),
        sha256=str(info.sha256),
        device=str(getattr(engine, "device", "cpu")),
        report=report.summary() if report is not None else "",
        seen_classes=_seen_classes(info),
        description=getattr(cfg, "description", ""),
        trained=report is not None,
        ca_heads=int(getattr(cfg, "ca_heads", 1)),
        sa_heads=int(getattr(cfg, "num_heads", 1)),
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
        # the gallery cache and the encoded query belong to the old weights
        state.gallery = None
        state.query_key, state.query, state.stage1 = "", None, None
        return model_info(engine)

    return Job("model", run, key=None, label=f"load {name} {weights or ''} on {device}")


def index_job(folder: str) -> Job:
    """Index a gallery folder (incremental: the engine reuses its cache)."""

    def run(state: EngineState, ctx: JobContext) -> GalleryInfo:
        engine = need_engine(state)
        gallery = engine.index_gallery(folder, progress=ctx.progress, cancel=ctx.cancelled)
        state.gallery = gallery
        state.gallery_folder = folder
        state.query_key, state.stage1 = "", None
        labels = tuple(sorted({lb for lb in getattr(gallery, "labels", ()) if lb}))
        skipped = tuple((str(p), str(why)) for p, why in getattr(gallery, "skipped", ()))
        return GalleryInfo(
            folder=folder,
            size=len(gallery),
            labels=labels,
            skipped=skipped,
            encoded=int(getattr(gallery, "num_encoded", 0)),
            reused=int(getattr(gallery, "num_reused", 0)),
        )

    return Job("index", run, key=None, label=f"index {folder}")


def need_engine(state: EngineState) -> Any:
    if state.engine is None:
        raise WeightsError("<no model>", "no model is loaded", "pick one in the Model menu")
    return state.engine


def need_gallery(state: EngineState) -> Any:
    if state.gallery is None:
        raise GalleryError("no gallery is open; open a folder of photos with File > Open gallery (Ctrl+G)")
    return state.gallery


def encode_query(state: EngineState, query: Query, key: str) -> Any:
    """The encoded query, reusing the last one when the sketch is unchanged."""
    if state.query_key != key or state.query is None:
        state.query_key = ""  # a failed encode must not leave a stale query behind
        state.query = need_engine(state).encode_sketch(query)
        state.query_key = key
    return state.query


def search_job(query: Query, params: SearchParams) -> Job:
    """Rank the gallery: stage-1 results are emitted as ``"partial"``, the re-ranked ones are the result."""
    key = query_digest(query)

    def run(state: EngineState, ctx: JobContext) -> RetrievalResult:
        engine = need_engine(state)
        gallery = need_gallery(state)
        t0 = time.perf_counter()
        q = encode_query(state, query, key)
        encode_ms = (time.perf_counter() - t0) * 1000.0
        ctx.check()
        candidates = max(params.top_k, params.rerank_depth)
        stage1: RetrievalResult = engine.search_stage1(q, gallery, top_k=params.top_k, candidates=candidates)
        # the query was encoded here (so it can be reused), so its time is added here
        stage1 = replace(stage1, timings_ms={"encode": encode_ms, **stage1.timings_ms})
        state.stage1 = stage1
        # stage 1 returns the whole shortlist; the grid shows only the top k of it
        shown = replace(stage1, items=stage1.items[: params.top_k])
        if params.rerank_depth <= 0:
            return shown
        ctx.emit("partial", shown)
        ctx.check()
        final: RetrievalResult = engine.rerank(
            q, gallery, stage1, depth=params.rerank_depth, top_k=params.top_k, cancel=ctx.cancelled
        )
        return final

    return Job("search", run, key=(key, params), label="search")


def explain_job(query: Query, item: RankedItem, faithfulness_top: int) -> Job:
    """Explain why the query matched one gallery item."""
    key = query_digest(query)

    def run(state: EngineState, ctx: JobContext) -> ExplainPayload:
        engine = need_engine(state)
        gallery = need_gallery(state)
        q = encode_query(state, query, key)
        ctx.check()
        expl = engine.explain(
            q, gallery, index=item.index, faithfulness_top=faithfulness_top, cancel=ctx.cancelled
        )
        return ExplainPayload(item=item, explanation=expl)

    return Job("explain", run, key=(key, item.index, faithfulness_top), label=f"explain {item.path}")
