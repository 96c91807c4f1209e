"""A fake engine for the app's tests: it satisfies ``SearchEngine`` and marks every ranking and
explanation with the sketch and gallery it was computed for, so a test can tell whether what is
on screen belongs to the current sketch. Optionally slow, to let user events overtake jobs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from explanation_fixtures import make_explanation

from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.replay import ReplayTarget, replay_sketch
from zse_gui.errors import CancelledError, InvalidSketchError
from zse_gui.model.config import ZseConfig, get_config
from zse_gui.model.factory import WeightsInfo
from zse_gui.qt.protocols import Query
from zse_gui.results import Explanation, RankedItem, RetrievalResult, SearchStage
from zse_gui.sketch import StrokeSketch, query_digest
from zse_gui.stroke_results import OcclusionMap, PatchContrast, Replay, StrokeAttribution, StrokeContrast

LABELS = ("cat", "dog", "owl", "cat", "dog", "owl")


def fingerprint(query: Query) -> str:
    """The mark a fake result carries of the sketch it was computed for."""
    return query_digest(query)[:12]


def item_sketch(item: RankedItem) -> str:
    """The sketch fingerprint a fake ranked item was computed for (the folder above the file)."""
    return Path(item.path).parent.name


def item_gallery(item: RankedItem) -> str:
    """The gallery a fake ranked item came from."""
    return str(Path(item.path).parent.parent)


class FakeEngine:
    """Stage 1 ranks the gallery in index order; re-ranking reverses the top ``depth``.

    Args:
        delay_s: seconds each stage and each explanation takes (cancellable).
        fail_encode: every search and explanation fails as an empty sketch would.
    """

    def __init__(self, delay_s: float = 0.0, fail_encode: bool = False) -> None:
        self.delay_s = delay_s
        self.fail_encode = fail_encode
        self.searched = 0
        self.reranked = 0
        self.explained = 0
        self.explained_for: dict[int, tuple[str, int | None]] = {}
        self._lock = threading.Lock()
        self._config = get_config("zse_test")
        self._info = WeightsInfo(config="zse_test", source="random-init", sha256="ab" * 32, report=None)

    @property
    def config(self) -> ZseConfig:
        return self._config

    @property
    def weights_info(self) -> WeightsInfo:
        return self._info

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def _wait(self, cancel: Callable[[], bool] | None) -> None:
        end = time.perf_counter() + self.delay_s
        while time.perf_counter() < end:
            if cancel is not None and cancel():
                raise CancelledError("cancelled")
            time.sleep(0.002)

    def index_gallery(
        self,
        folder: str | Path,
        cache_root: str | Path | None = None,
        batch_size: int = 16,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        follow_symlinks: bool = False,
        if_busy: str = "use_last",
        ann: str | None = None,
        tokens: str | None = None,
    ) -> GalleryIndex:
        self._wait(cancel)
        n = len(LABELS)
        return GalleryIndex(
            root=Path(folder),
            cache_dir=Path(folder),
            paths=[str(Path(folder) / "sketch" / f"{i}.png") for i in range(n)],
            labels=list(LABELS),
            embeddings=np.zeros((n, 4), np.float32),
            tokens=np.zeros((n, 1, 4), np.float16),
            key=str(folder),
            config_name="zse_test",
            weights_sha256=self._info.sha256,
            num_encoded=n,
        )

    def _item(
        self, gallery: GalleryIndex, fp: str, i: int, s1: int, final: int, rn: float | None
    ) -> RankedItem:
        path = str(Path(gallery.root) / fp / f"{i}.png")
        return RankedItem(i, path, LABELS[i], 0.9 - 0.1 * s1, rn, None if rn is None else 0.0, s1, final)

    def search_stages(
        self,
        query_or_sketch: Query,
        gallery: GalleryIndex,
        top_k: int = 20,
        rerank_depth: int = 50,
        mode: str = "rerank",
        cancel: Callable[[], bool] | None = None,
    ) -> Iterator[SearchStage]:
        if self.fail_encode:
            raise InvalidSketchError("the sketch has no ink")
        with self._lock:
            self.searched += 1
        fp = fingerprint(query_or_sketch)
        n = min(len(gallery), max(top_k, rerank_depth))
        self._wait(cancel)
        s1 = [self._item(gallery, fp, i, i, i, None) for i in range(n)]
        shown = RetrievalResult(tuple(s1[:top_k]), "ret", 0, {"stage1": 0.5}, len(gallery))
        yield SearchStage(shown, final=rerank_depth == 0)
        if rerank_depth == 0:
            return
        self._wait(cancel)
        with self._lock:
            self.reranked += 1
        order = s1[:rerank_depth][::-1] + s1[rerank_depth:]
        items = tuple(self._item(gallery, fp, it.index, it.stage1_rank, k, 0.7) for k, it in enumerate(order))
        timings = {"stage1": 0.5, "stage2": 12.0}
        yield SearchStage(RetrievalResult(items[:top_k], "rerank", rerank_depth, timings, len(gallery)), True)

    def explain(
        self,
        query_or_sketch: Query,
        gallery: GalleryIndex | None = None,
        index: int | None = None,
        photo: np.ndarray | str | None = None,
        faithfulness_top: int = 0,
        cancel: Callable[[], bool] | None = None,
        readout: str = "attention",
    ) -> Explanation:
        if self.fail_encode:
            raise InvalidSketchError("the sketch has no ink")
        self._wait(cancel)
        expl = make_explanation()
        with self._lock:
            self.explained += 1
            # which sketch and photo each explanation object was computed for
            self.explained_for[id(expl)] = (fingerprint(query_or_sketch), index)
        return expl

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
        """A deterministic attribution: stroke k contributes its point count (longer = more)."""
        self._wait(cancel)
        n = len(sketch.strokes)
        contribution = np.array([len(s.points) for s in sketch.strokes], np.float32)
        cmp = tuple(dict.fromkeys([int(index), *(int(i) for i in compared)]))

        def attribution(among: tuple[int, ...]) -> StrokeAttribution:
            return StrokeAttribution(
                target_index=int(index),
                target_path=gallery.paths[int(index)],
                base_logit=2.0,
                base_rank=0,
                compared=among,
                removed_logit=np.float32(2.0) - contribution,
                alone_logit=contribution - np.float32(2.0),
                removed_rank=np.zeros(n, np.int64),
                alone_rank=np.zeros(n, np.int64),
            )

        if first is not None and len(cmp) > 1:
            first(attribution(cmp[:1]))
        return attribution(cmp)

    def occlusion_map(
        self,
        query: Query,
        gallery: GalleryIndex,
        index: int,
        window: int = 2,
        cancel: Callable[[], bool] | None = None,
    ) -> OcclusionMap:
        """A flat map whose deletion curve falls linearly (area 0.5)."""
        self._wait(cancel)
        g, s = self._config.grid_size, self._config.img_size
        curve = np.linspace(1.0, 0.0, 11, dtype=np.float32)
        photo = np.full((s, s, 3), 128, np.uint8)
        return OcclusionMap(g, window, np.zeros((g, g), np.float32), 1.0, curve, 0.5, photo)

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
        """The engine's own replay, run on this double's searches."""
        return replay_sketch(
            self,  # type: ignore[arg-type]  # duck-typed: it needs config, weights_info and search
            sketch,
            gallery,
            target,
            mode,
            rerank_depth,
            top,
            cancel,
            progress,
            on_prefix=on_prefix,
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
        """Both results' deterministic attributions (see ``attribute_strokes``)."""
        a = self.attribute_strokes(sketch, gallery, index_a, (index_a, index_b), cancel, progress)
        b = self.attribute_strokes(sketch, gallery, index_b, (index_a, index_b), cancel, progress)
        return StrokeContrast(a, b)

    def contrast_patches(
        self,
        query: Query,
        gallery: GalleryIndex,
        index_a: int,
        index_b: int,
        window: int = 1,
        cancel: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> PatchContrast:
        """Row r of the sketch pulls towards A by r (A loses r logits without it, B nothing)."""
        self._wait(cancel)
        g, s = self._config.grid_size, self._config.img_size
        rows = np.repeat(np.arange(g, dtype=np.float32)[:, None], g, axis=1)
        return PatchContrast(
            grid=g,
            window=window,
            index_a=int(index_a),
            index_b=int(index_b),
            path_a=gallery.paths[int(index_a)],
            path_b=gallery.paths[int(index_b)],
            base_logit_a=2.0,
            base_logit_b=1.0,
            masked_logit_a=2.0 - rows,
            masked_logit_b=np.ones((g, g), np.float32),
            ink=np.ones((g, g), bool),
            sketch_image=np.full((s, s, 3), 255, np.uint8),
        )
