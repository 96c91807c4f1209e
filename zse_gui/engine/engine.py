"""``Engine``: the typed inference API over one ZSE-SBIR model (torch inside, numpy outside).

Retrieval is two-stage. Stage 1 ranks the whole gallery by cosine of the [Ret] embeddings
(chunked matrix product, ``argpartition`` top-N; above 100 000 items a FAISS shortlist re-scored
exactly, see ``zse_gui.engine.ann``). Stage 2 re-scores the top K with the
cross-attention + relation network, using cached gallery SA tokens and an LRU of per-photo CA
projections, and sorts by the fp32 relation **logit** (the sigmoid saturates). ``mode="rn"``
scores every gallery item with the RN, like the paper's ``-r rn``. Not thread-safe: use one
engine from one thread (the app's worker thread).
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from zse_gui.engine.device import resolve_device, resolve_precision
from zse_gui.engine.explain import (
    DEFAULT_READOUT,
    READOUTS,
    correspondences,
    mask_photo_patches,
    patch_centres,
    patch_ink,
    strip_ret,
    synthesize,
    top_pairs,
)
from zse_gui.engine.gallery import GalleryIndex, build_index
from zse_gui.engine.preprocess import normalize, prepare_photo, prepare_sketch
from zse_gui.engine.relevance import attention_relevance, pair_relevance
from zse_gui.engine.retrieval import ProjectionCache, l2_normalize, order_desc, ranked_items
from zse_gui.errors import CancelledError, ConfigError, GalleryError, ImageReadError, UsageError
from zse_gui.model.config import ZseConfig
from zse_gui.model.factory import WeightsInfo, create_model
from zse_gui.model.layers import CrossProjections, cosine_kernel
from zse_gui.model.network import ZseSbir
from zse_gui.results import Explanation, Faithfulness, PreparedImage, RetrievalResult, SearchStage
from zse_gui.sketch import StrokeSketch, query_digest
from zse_gui.stroke_results import OcclusionMap, PatchContrast, Replay, StrokeAttribution, StrokeContrast

if TYPE_CHECKING:  # replay.py imports this module
    from zse_gui.engine.replay import ReplayTarget

__all__ = ["Engine", "SketchQuery", "SketchInput"]

log = logging.getLogger(__name__)

SketchInput = StrokeSketch | np.ndarray | str | Path
MODES = ("rerank", "ret", "rn")


@dataclass(frozen=True, eq=False)
class SketchQuery:
    """An encoded sketch, reusable across searches and explanations.

    Attributes:
        prepared: the preprocessed sketch (model input and frame to canvas pixels).
        tokens: [1, T, C] SA tokens on the engine's device, in its compute dtype.
        ret: [C] float32 L2-normalised [Ret] embedding.
        ret_attn: [H, P] float32 [Ret] attention per SA head in the last block.
        projections: the sketch's CA projections ([1, h, T, d] each), cached for re-ranking.
        weights_sha256: weights that produced it (a query is only valid with the same model).
    """

    prepared: PreparedImage
    tokens: Tensor
    ret: np.ndarray
    ret_attn: np.ndarray
    projections: CrossProjections
    weights_sha256: str


def _check(cancel: Callable[[], bool] | None, stage: str) -> None:
    if cancel is not None and cancel():
        raise CancelledError(f"cancelled before {stage}")


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


class Engine:
    """Inference over one model: encoding, gallery indexing, two-stage search, explanations.

    Args:
        model: a ``ZseSbir`` (from ``create_model``); the engine moves it to ``device`` and casts
            it to the compute dtype, keeping the relation MLP in fp32.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        precision: ``"auto"`` (fp16 on GPU, fp32 on CPU), ``"fp32"``, ``"bf16"``, ``"fp16"``.
        projection_cache_size: gallery items whose CA projections are kept (LRU; 0 = off).
        rn_batch: sketch-photo pairs per CA + RN forward.
    """

    def __init__(
        self,
        model: ZseSbir,
        device: str | torch.device = "auto",
        precision: str = "auto",
        projection_cache_size: int = 256,
        rn_batch: int = 16,
    ) -> None:
        self._device = resolve_device(device)
        self._dtype = resolve_precision(precision, self._device)
        model = model.to(self._device).eval()
        if self._dtype != torch.float32:
            model = model.to(self._dtype)
            model.rn.float()  # the relation logits are ranked: keep them in fp32
        self._model = model
        info = getattr(model, "weights_info", None)
        if info is None:
            raise ConfigError("the model has no weights_info; build it with zse_gui.model.create_model")
        self._info: WeightsInfo = info
        self.projections = ProjectionCache(projection_cache_size)
        self.rn_batch = max(1, int(rn_batch))
        self._last_query: tuple[str, SketchQuery] | None = None  # (query_digest, encoded)
        # recomputed SA tokens of galleries that keep none: (gallery key, index) -> [T, C]
        self._token_lru: OrderedDict[tuple[str, int], Tensor] = OrderedDict()

    @classmethod
    def from_name(
        cls,
        name: str,
        weights: str | os.PathLike[str] | None = None,
        device: str | torch.device = "auto",
        precision: str = "auto",
        **kwargs: Any,
    ) -> Engine:
        """Build the model with ``create_model(name, weights)`` and wrap it.

        Raises:
            ConfigError: unknown model name or device. WeightsError: unusable weights.
        """
        return cls(
            create_model(name, weights=weights, device="cpu"), device=device, precision=precision, **kwargs
        )

    # ---- properties ----------------------------------------------------------------------------
    @property
    def config(self) -> ZseConfig:
        """The model config (input size, grid, normalisation)."""
        return self._model.cfg

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """Compute dtype of the SA and CA stages."""
        return self._dtype

    @property
    def weights_info(self) -> WeightsInfo:
        return self._info

    @property
    def model(self) -> ZseSbir:
        return self._model

    # ---- encoding ------------------------------------------------------------------------------
    def _to_input(self, batch: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to(self._device, self._dtype)

    def encode_sketch(
        self, sketch: SketchInput | SketchQuery, cancel: Callable[[], bool] | None = None
    ) -> SketchQuery:
        """Preprocess and encode a sketch (strokes, RGB array or file path).

        The last sketch encoded is kept: encoding an equal sketch again (the same strokes while
        the user looks at another result) returns it without running the model.

        Raises:
            InvalidSketchError: no strokes / no ink / unreadable. CancelledError: ``cancel()`` was True.
        """
        if isinstance(sketch, SketchQuery):
            self._check_query(sketch)
            return sketch
        digest = query_digest(sketch)
        if self._last_query is not None and self._last_query[0] == digest:
            return self._last_query[1]
        prepared = prepare_sketch(sketch, self.config)
        _check(cancel, "encoding the sketch")
        with torch.inference_mode():
            out = self._model.forward_tokens(self._to_input(prepared.tensor[None]), return_attn=True)
            tokens = out.tokens  # [1, T, C]
            proj = self._model.project_sketch(tokens)
            ret = tokens[0, 0].float().cpu().numpy()
            assert out.ret_attn is not None
            ret_attn = out.ret_attn[0].float().cpu().numpy()  # [H, P]
        query = SketchQuery(prepared, tokens, l2_normalize(ret), ret_attn, proj, self._info.sha256)
        self._last_query = (digest, query)
        return query

    def encode_photo_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[B, 3, S, S] normalised photos -> ([B, C] float32 raw [Ret], [B, T, C] float16 tokens)."""
        with torch.inference_mode():
            tokens = self._model.forward_tokens(self._to_input(batch)).tokens  # [B, T, C]
            return tokens[:, 0].float().cpu().numpy(), tokens.to(torch.float16).cpu().numpy()

    def index_gallery(
        self,
        folder: str | os.PathLike[str],
        cache_root: str | os.PathLike[str] | None = None,
        batch_size: int = 16,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        follow_symlinks: bool = False,
        if_busy: str = "use_last",
        ann: str | None = None,
        tokens: str | None = None,
    ) -> GalleryIndex:
        """Index a gallery folder with this engine; see ``zse_gui.engine.gallery.build_index``."""
        return build_index(
            self,
            folder,
            cache_root,
            batch_size=batch_size,
            progress=progress,
            cancel=cancel,
            follow_symlinks=follow_symlinks,
            if_busy=if_busy,
            ann=ann,
            tokens=tokens,
        )

    # ---- retrieval -----------------------------------------------------------------------------
    def _check_query(self, q: SketchQuery) -> None:
        if q.weights_sha256 != self._info.sha256:
            raise ConfigError("this SketchQuery was encoded by another model; encode the sketch again")

    def _check_gallery(self, gallery: GalleryIndex) -> None:
        if gallery.weights_sha256 != self._info.sha256 or gallery.config_name != self.config.name:
            raise GalleryError(
                f"gallery {gallery.root} was indexed with {gallery.config_name} "
                f"(weights {gallery.weights_sha256[:12]}), not {self.config.name} "
                f"(weights {self._info.sha256[:12]}); index it again with this model"
            )

    def _query(
        self, q: SketchInput | SketchQuery, cancel: Callable[[], bool] | None, timings: dict[str, float]
    ) -> SketchQuery:
        t0 = time.perf_counter()
        query = self.encode_sketch(q, cancel)
        if not isinstance(q, SketchQuery):
            timings["encode"] = _ms(t0)
        return query

    def search_stage1(
        self,
        query: SketchInput | SketchQuery,
        gallery: GalleryIndex,
        top_k: int = 20,
        candidates: int | None = None,
    ) -> RetrievalResult:
        """Stage 1: rank the whole gallery by [Ret] cosine and return the top items.

        Small galleries are scanned exactly; large ones go through the gallery's approximate
        index and an exact re-scoring of its shortlist (``GalleryIndex.stage1``).

        Args:
            query: a ``SketchQuery`` or anything ``encode_sketch`` accepts.
            gallery: an index built with this engine's model and weights.
            top_k: items to return; ``candidates`` (if larger) returns that many instead so a
                later ``rerank`` has a shortlist to work on.

        Returns:
            ``RetrievalResult`` with ``mode="ret"``; ``rn_score``/``rn_logit`` are None.
        """
        timings: dict[str, float] = {}
        q = self._query(query, None, timings)
        self._check_gallery(gallery)
        n = max(int(top_k), int(candidates or 0))
        t0 = time.perf_counter()
        idx, scores = gallery.stage1().search(q.ret, n)
        timings["stage1"] = _ms(t0)
        items = ranked_items(idx, scores, gallery.paths, gallery.labels)
        return RetrievalResult(items, "ret", 0, timings, len(gallery))

    def _photo_tokens(self, gallery: GalleryIndex, indices: Sequence[int]) -> Tensor:
        if gallery.tokens.shape[1] == 0:
            return self._recomputed_tokens(gallery, indices)
        order = np.asarray(indices, np.int64)
        rows = np.asarray(gallery.tokens[np.sort(order)])  # sorted reads are kinder to a memmap
        rows = rows[np.argsort(np.argsort(order))]
        return torch.from_numpy(rows).to(self._device, self._dtype)  # [K, T, C]

    def photo_side(self, gallery: GalleryIndex, indices: Sequence[int]) -> tuple[Tensor, CrossProjections]:
        """SA tokens [K, T, C] of gallery items ``indices`` and their CA projections (through the LRU).

        Works for every token policy (stored or recomputed tokens). Must run under
        ``torch.inference_mode()``.

        Raises:
            GalleryError: the gallery belongs to another model, or a photo to recompute is gone.
        """
        self._check_gallery(gallery)
        idx = [int(i) for i in indices]
        tokens = self._photo_tokens(gallery, idx)
        at = {i: p for p, i in enumerate(idx)}
        proj = self.projections.get_many(
            gallery.key, idx, lambda miss: self._model.project_photo(tokens[[at[i] for i in miss]])
        )
        return tokens, proj

    def _recomputed_tokens(self, gallery: GalleryIndex, indices: Sequence[int]) -> Tensor:
        """[K, T, C] SA tokens of a gallery that keeps none (token policy ``none``).

        Encodes the photos again, batch by batch, and keeps them in an LRU as large as the
        projection LRU, so a shortlist that changes little while the user draws costs little.

        Raises:
            GalleryError: a photo cannot be read any more (re-index the gallery).
        """
        lru = self._token_lru
        missing = [i for i in dict.fromkeys(int(j) for j in indices) if (gallery.key, i) not in lru]
        for s in range(0, len(missing), self.rn_batch):
            part = missing[s : s + self.rn_batch]
            try:
                batch = np.stack([prepare_photo(gallery.paths[i], self.config).tensor for i in part])
            except ImageReadError as e:
                raise GalleryError(f"{e}; the gallery changed since it was indexed: index it again") from None
            tok = self._model.forward_tokens(self._to_input(batch)).tokens  # [k, T, C]
            for pos, i in enumerate(part):
                lru[(gallery.key, i)] = tok[pos].clone()
        out = []
        for i in indices:
            key = (gallery.key, int(i))
            out.append(lru[key])
            lru.move_to_end(key)
        while len(lru) > max(self.projections.capacity, len(indices)):
            lru.popitem(last=False)
        return torch.stack(out)

    def relation(
        self, sk_ca: Tensor, ph_ca: Tensor, return_kernel: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """fp32 relation logits [B] (and kernel [B, A, A]) of paired CA tokens [B, T, C]."""
        m = self._model
        kernel = cosine_kernel(m.anchors(sk_ca).float(), m.anchors(ph_ca).float())  # [B, A, A]
        logit = m.rn(kernel)[:, 0]  # [B]
        return logit, (kernel if return_kernel else None)

    def rn_logits(
        self,
        query: SketchInput | SketchQuery,
        gallery: GalleryIndex,
        indices: Sequence[int] | np.ndarray,
        use_cache: bool = True,
        cancel: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """fp32 relation logits of the sketch against gallery items ``indices`` (in that order).

        The sketch's CA projections come from the ``SketchQuery`` (computed once per sketch).

        Args:
            use_cache: take the photos' CA projections from (and put them into) the LRU; False
                computes them per batch without storing them (for one-off exhaustive scoring).
                Both give the same scores up to float rounding.
            cancel: polled between batches of ``rn_batch`` pairs.

        Returns:
            [K] float32 logits; ``sigmoid`` gives the relation scores.
        """
        q = self.encode_sketch(query, cancel)
        self._check_gallery(gallery)
        idx = [int(i) for i in indices]
        out = np.empty(len(idx), np.float32)
        m = self._model
        with torch.inference_mode():
            for s in range(0, len(idx), self.rn_batch):
                _check(cancel, "the next re-ranking batch")
                part = idx[s : s + self.rn_batch]
                k = len(part)
                sk = q.tokens.expand(k, -1, -1)  # [k, T, C], a view: the sketch is shared
                if use_cache:
                    ph, pp = self.photo_side(gallery, part)  # [k, T, C]
                else:
                    ph = self._photo_tokens(gallery, part)
                    pp = m.project_photo(ph)  # computed for this batch only
                sp = CrossProjections(*(t.expand(k, -1, -1, -1) for t in q.projections))
                cross = m.forward_cross(sk, ph, sk_proj=sp, ph_proj=pp)
                logit, _ = self.relation(cross.sketch, cross.photo)
                out[s : s + k] = logit.cpu().numpy()
        return out

    def rerank(
        self,
        query: SketchInput | SketchQuery,
        gallery: GalleryIndex,
        stage1_result: RetrievalResult,
        depth: int = 50,
        top_k: int | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> RetrievalResult:
        """Stage 2: re-score the first ``depth`` items of a stage-1 result with the RN.

        Re-scored items come first, sorted by fp32 logit (ties by gallery index); the rest of
        the stage-1 items follow in stage-1 order with ``rn_score`` None.

        Returns:
            ``RetrievalResult`` with ``mode="rerank"`` and at most ``top_k`` items (default: as
            many as ``stage1_result`` has).
        """
        timings: dict[str, float] = dict(stage1_result.timings_ms)
        q = self._query(query, cancel, timings)
        items = stage1_result.items
        d = max(0, min(int(depth), len(items)))
        t0 = time.perf_counter()
        head = items[:d]
        logits = self.rn_logits(q, gallery, [it.index for it in head], cancel=cancel)
        timings["stage2"] = _ms(t0)
        order = order_desc(logits, np.asarray([it.index for it in head], np.int64))
        ranked = [head[i] for i in order]
        final_idx = [it.index for it in ranked] + [it.index for it in items[d:]]
        ret_sc = [it.ret_score for it in ranked] + [it.ret_score for it in items[d:]]
        s1 = [it.stage1_rank for it in ranked] + [it.stage1_rank for it in items[d:]]
        n = len(items) if top_k is None else min(int(top_k), len(items))
        new = ranked_items(final_idx, ret_sc, gallery.paths, gallery.labels, s1, logits[order])
        return RetrievalResult(new[:n], "rerank", d, timings, len(gallery))

    def search_stages(
        self,
        query_or_sketch: SketchInput | SketchQuery,
        gallery: GalleryIndex,
        top_k: int = 20,
        rerank_depth: int = 50,
        mode: str = "rerank",
        cancel: Callable[[], bool] | None = None,
    ) -> Iterator[SearchStage]:
        """Rank the gallery for one sketch, yielding each stage's ranking as soon as it is ready.

        In ``"rerank"`` mode with ``rerank_depth > 0`` this yields twice: the stage-1 ranking
        ([Ret] cosine, ``mode="ret"``, at most ``top_k`` items, ``final=False``) and then the
        re-ranked one (``mode="rerank"``, ``final=True``). Every other case (``"ret"``, ``"rn"``,
        or depth 0) yields one final stage. ``search`` returns the final ranking; the app shows
        each stage as it comes.

        Args:
            query_or_sketch: a ``SketchQuery`` or strokes / RGB array / image path.
            gallery: an index built with this engine's model and weights.
            top_k: items per ranking.
            rerank_depth: K, stage-1 candidates re-scored by the RN (``mode="rerank"``).
            mode: ``"rerank"`` (Ret shortlist + RN, the app's default), ``"ret"`` (the paper's
                "Ours-Ret"), ``"rn"`` (exhaustive RN over the whole gallery, the paper's "Ours-RN").
            cancel: polled between stages and RN batches; raises ``CancelledError``.

        Raises:
            ConfigError: unknown mode, or a negative ``top_k`` / ``rerank_depth``. GalleryError:
            the gallery belongs to another model. InvalidSketchError, CancelledError.
        """
        if mode not in MODES:
            raise ConfigError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if int(top_k) < 1 or int(rerank_depth) < 0:
            raise ConfigError(f"top_k must be >= 1 and rerank_depth >= 0, got {top_k} and {rerank_depth}")
        timings: dict[str, float] = {}
        q = self._query(query_or_sketch, cancel, timings)
        _check(cancel, "stage 1")
        if mode == "rn":
            yield SearchStage(self._search_exhaustive(q, gallery, top_k, timings, cancel), final=True)
            return
        depth = int(rerank_depth) if mode == "rerank" else 0
        s1 = self.search_stage1(q, gallery, top_k, candidates=max(int(top_k), depth))
        timings.update(s1.timings_ms)
        s1 = RetrievalResult(s1.items, "ret", 0, dict(timings), len(gallery))
        shown = RetrievalResult(s1.items[:top_k], "ret", 0, dict(timings), len(gallery))
        yield SearchStage(shown, final=depth == 0)
        if depth == 0:
            return
        _check(cancel, "stage 2")
        yield SearchStage(self.rerank(q, gallery, s1, depth=depth, top_k=top_k, cancel=cancel), final=True)

    def search(
        self,
        query_or_sketch: SketchInput | SketchQuery,
        gallery: GalleryIndex,
        top_k: int = 20,
        rerank_depth: int = 50,
        mode: str = "rerank",
        cancel: Callable[[], bool] | None = None,
    ) -> RetrievalResult:
        """Rank the gallery for one sketch: the final ranking of ``search_stages`` (same arguments)."""
        for stage in self.search_stages(query_or_sketch, gallery, top_k, rerank_depth, mode, cancel):
            if stage.final:
                return stage.result
        raise AssertionError("search_stages ended without a final stage")  # pragma: no cover

    def _search_exhaustive(
        self,
        q: SketchQuery,
        gallery: GalleryIndex,
        top_k: int,
        timings: dict[str, float],
        cancel: Callable[[], bool] | None,
    ) -> RetrievalResult:
        self._check_gallery(gallery)
        n = len(gallery)
        t0 = time.perf_counter()
        ret = np.asarray(gallery.embeddings, np.float32) @ q.ret  # [N]
        s1_order = order_desc(ret)
        s1_rank = np.empty(n, np.int64)
        s1_rank[s1_order] = np.arange(n)
        timings["stage1"] = _ms(t0)
        t0 = time.perf_counter()
        # The sketch's projections are reused for every pair; photo projections go through the
        # LRU (a gallery larger than the LRU just cycles through it).
        logits = self.rn_logits(q, gallery, np.arange(n), cancel=cancel)
        timings["rn"] = _ms(t0)
        order = order_desc(logits)[: int(top_k)]
        items = ranked_items(order, ret[order], gallery.paths, gallery.labels, s1_rank[order], logits[order])
        return RetrievalResult(items, "rn", n, timings, n)

    def attribute_strokes(
        self,
        sketch: StrokeSketch,
        gallery: GalleryIndex,
        index: int,
        compared: Sequence[int] = (),
        cancel: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
        first: Callable[[StrokeAttribution], None] | None = None,
    ) -> StrokeAttribution:
        """What each stroke does for gallery item ``index`` (``zse_gui.engine.strokes.attribute_strokes``)."""
        from zse_gui.engine.strokes import attribute_strokes  # it builds on this module

        return attribute_strokes(self, sketch, gallery, index, compared, cancel, progress, first=first)

    def occlusion_map(
        self,
        query: SketchInput | SketchQuery,
        gallery: GalleryIndex,
        index: int,
        window: int = 2,
        cancel: Callable[[], bool] | None = None,
    ) -> OcclusionMap:
        """Photo occlusion of gallery item ``index`` (``zse_gui.engine.occlusion.occlusion_map``)."""
        from zse_gui.engine.occlusion import occlusion_map  # it builds on this module

        return occlusion_map(self, query, gallery, index, window=window, cancel=cancel)

    def replay(
        self,
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
        """``target``'s rank after each stroke (``zse_gui.engine.replay.replay_sketch``)."""
        from zse_gui.engine.replay import replay_sketch  # it builds on this module

        return replay_sketch(
            self, sketch, gallery, target, mode, rerank_depth, top, cancel, progress, on_prefix=on_prefix
        )

    def contrast_strokes(
        self,
        sketch: StrokeSketch,
        gallery: GalleryIndex,
        index_a: int,
        index_b: int,
        cancel: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> StrokeContrast:
        """Why A and not B per stroke (``zse_gui.engine.strokes.contrast_strokes``)."""
        from zse_gui.engine.strokes import contrast_strokes  # it builds on this module

        return contrast_strokes(self, sketch, gallery, index_a, index_b, cancel, progress)

    def contrast_patches(
        self,
        query: SketchInput | SketchQuery,
        gallery: GalleryIndex,
        index_a: int,
        index_b: int,
        window: int = 1,
        cancel: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> PatchContrast:
        """Why A and not B per sketch patch (``zse_gui.engine.contrast.contrast_patches``)."""
        from zse_gui.engine.contrast import contrast_patches  # it builds on this module

        return contrast_patches(self, query, gallery, index_a, index_b, window, cancel, progress)

    # ---- explanations --------------------------------------------------------------------------
    def explain(
        self,
        query_or_sketch: SketchInput | SketchQuery,
        gallery: GalleryIndex | None = None,
        index: int | None = None,
        photo: np.ndarray | str | Path | None = None,
        faithfulness_top: int = 0,
        cancel: Callable[[], bool] | None = None,
        readout: str = DEFAULT_READOUT,
    ) -> Explanation:
        """Explain why a sketch matches one photo (a gallery item or any photo).

        The photo is re-read and re-encoded at the engine's precision (so its [Ret] attention is
        available), hence ``relation_score`` can differ in the last digits from a ranking that
        used the fp16 cached tokens.

        Args:
            query_or_sketch: a ``SketchQuery`` or strokes / RGB array / image path.
            gallery, index: explain gallery item ``index``; or pass ``photo`` (array or path).
            faithfulness_top: for this many strongest pairs (ink patches first) measure the
                relation score drop when the matched photo patch is painted white (0 = skip).
            cancel: polled between stages; raises ``CancelledError``.
            readout: how the lines are read out of the cross-attention (``READOUTS`` in
                ``zse_gui.engine.explain``); ``"gradient"`` adds one backward pass through the
                cross-attention and relation network.

        Raises:
            UsageError: unknown ``readout``.
            GalleryError: neither a valid ``index`` nor ``photo`` given. ImageReadError,
            InvalidSketchError, CancelledError.
        """
        cfg = self.config
        if readout not in READOUTS:
            raise UsageError(f"unknown correspondence readout {readout!r} (one of {', '.join(READOUTS)})")
        q = self.encode_sketch(query_or_sketch, cancel)
        if index is not None:
            if gallery is None:
                raise GalleryError("explain(index=...) needs the gallery the index refers to")
            if not 0 <= int(index) < len(gallery):
                raise GalleryError(
                    f"gallery index {index} is out of range for a gallery of {len(gallery)} items"
                )
            source: np.ndarray | str | Path = gallery.paths[int(index)]
        elif photo is not None:
            source = photo
        else:
            raise GalleryError("explain needs a gallery index or a photo")
        _check(cancel, "encoding the photo")
        ph = prepare_photo(source, cfg)
        m = self._model
        with torch.inference_mode():
            ph_out = m.forward_tokens(self._to_input(ph.tensor[None]), return_attn=True)
            _check(cancel, "cross-attention")
            cross = m.forward_cross(q.tokens, ph_out.tokens, sk_proj=q.projections, return_attn=True)
            logit, kernel = self.relation(cross.sketch, cross.photo, return_kernel=True)
            assert cross.sketch_attn is not None and cross.photo_attn is not None and kernel is not None
            assert ph_out.ret_attn is not None
            sk_attn = strip_ret(cross.sketch_attn[0].float().cpu().numpy())  # [h, P, P]
            ph_attn = strip_ret(cross.photo_attn[0].float().cpu().numpy())  # [h, P, P]
            ph_ret = ph_out.tokens[0, 0].float().cpu().numpy()
            ret_attn_photo = ph_out.ret_attn[0].float().cpu().numpy()
        _check(cancel, "correspondences")
        g, ps = cfg.grid_size, cfg.patch_size
        ink = patch_ink(q.prepared.display, g, ps)
        heads: list[int | None] = [None, *range(len(sk_attn))]
        rel: dict[int | None, np.ndarray | None] = dict.fromkeys(heads)
        if readout == "gradient":
            sk_rel, ph_rel = attention_relevance(
                m, q.tokens, ph_out.tokens, q.projections, lambda a, b: self.relation(a, b)[0]
            )
            rel = {h: pair_relevance(sk_rel, ph_rel, h) for h in heads}
        corrs = tuple(
            correspondences(
                sk_attn.mean(0) if h is None else sk_attn[h],
                ph_attn.mean(0) if h is None else ph_attn[h],
                ink,
                h,
                readout=readout,
                relevance=rel[h],
            )
            for h in heads
        )
        mean_corr = corrs[0]
        synth = synthesize(ph.display, mean_corr.sketch_to_photo, mean_corr.sketch_score, g, ps)
        base_logit = float(logit[0])
        base_score = float(1.0 / (1.0 + np.exp(-np.float64(base_logit))))
        faith = None
        if faithfulness_top > 0:
            faith = self._faithfulness(
                q, ph, mean_corr.sketch_to_photo, top_pairs(mean_corr, faithfulness_top), base_score, cancel
            )
        ret_score = float(q.ret @ (ph_ret / max(float(np.linalg.norm(ph_ret)), 1e-12)))
        return Explanation(
            grid=g,
            patch_size=ps,
            sketch_image=q.prepared.display,
            photo_image=ph.display,
            sketch_frame=q.prepared.frame,
            photo_frame=ph.frame,
            sketch_centres=patch_centres(g, ps, q.prepared.frame),
            photo_centres=patch_centres(g, ps, ph.frame),
            sketch_attn=sk_attn,
            photo_attn=ph_attn,
            correspondences=corrs,
            ret_attn_sketch=q.ret_attn,
            ret_attn_photo=ret_attn_photo,
            kernel=kernel[0].cpu().numpy().astype(np.float32),
            relation_score=base_score,
            relation_logit=base_logit,
            ret_score=ret_score,
            synthesis=synth,
            faithfulness=faith,
        )

    def photo_scores(
        self, q: SketchQuery, photos: np.ndarray, cancel: Callable[[], bool] | None = None
    ) -> np.ndarray:
        """[n] float32 relation scores of the encoded sketch with each of [n, S, S, 3] uint8
        model-input photos (e.g. masked copies of one photo), encoded in batches of ``rn_batch``.

        Raises:
            CancelledError: ``cancel()`` became true between batches.
        """
        cfg = self.config
        scores = np.empty(len(photos), np.float32)
        m = self._model
        with torch.inference_mode():
            for s in range(0, len(photos), self.rn_batch):
                _check(cancel, "the next batch of photos")
                imgs = np.stack([normalize(x, cfg) for x in photos[s : s + self.rn_batch]])
                ph_tok = m.forward_tokens(self._to_input(imgs)).tokens  # [k, T, C]
                k = len(ph_tok)
                sk = q.tokens.expand(k, -1, -1)
                sp = CrossProjections(*(t.expand(k, -1, -1, -1) for t in q.projections))
                cross = m.forward_cross(sk, ph_tok, sk_proj=sp)
                logit, _ = self.relation(cross.sketch, cross.photo)
                scores[s : s + k] = torch.sigmoid(logit).float().cpu().numpy()
        return scores

    def _faithfulness(
        self,
        q: SketchQuery,
        ph: PreparedImage,
        s2p: np.ndarray,
        sketch_cells: np.ndarray,
        base_score: float,
        cancel: Callable[[], bool] | None,
    ) -> Faithfulness:
        """Relation score with each tested pair's photo patch painted white (see ``explain``)."""
        cfg = self.config
        photo_cells = s2p[sketch_cells]
        masked = mask_photo_patches(ph.display, photo_cells, cfg.grid_size, cfg.patch_size)  # [n, S, S, 3]
        scores = self.photo_scores(q, masked, cancel)
        return Faithfulness(
            sketch_patch=np.asarray(sketch_cells, np.int64),
            photo_patch=np.asarray(photo_cells, np.int64),
            base_score=base_score,
            masked_score=scores,
            drop=(np.float32(base_score) - scores).astype(np.float32),
        )
