"""The typed seam between the controller and what it drives: the engine and the main view.

The controller never sees a concrete engine: the worker's jobs call a ``SearchEngine``, which
``zse_gui.engine.Engine`` satisfies and the tests' doubles are checked against. The view is a
``MainView``, which ``MainWindow`` satisfies and ``MagicMock(spec=MainWindow)`` stands in for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from PySide6.QtCore import SignalInstance

from zse_gui.results import Explanation, RankedItem, RetrievalResult, SearchStage
from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import OcclusionMap, PatchContrast, Replay, StrokeAttribution, StrokeContrast

if TYPE_CHECKING:  # the engine's types, without importing torch at run time
    import torch

    from zse_gui.engine.gallery import GalleryIndex
    from zse_gui.engine.replay import ReplayTarget
    from zse_gui.model.config import ZseConfig
    from zse_gui.model.factory import WeightsInfo
    from zse_gui.qt.settings import AppSettings
    from zse_gui.qt.strokes import SketchImage
    from zse_gui.viz.layout import PanelLayout
    from zse_gui.viz.strokes import StrokePanel

__all__ = ["SearchEngine", "MainView", "Query"]

# What the app retrieves with: the strokes on the canvas, or a sketch image ([H, W, 3] uint8) with
# any strokes drawn into it.
Query = StrokeSketch | np.ndarray


@runtime_checkable
class SearchEngine(Protocol):
    """What the app's jobs need from an engine (``zse_gui.engine.Engine`` has it all)."""

    @property
    def config(self) -> ZseConfig: ...

    @property
    def weights_info(self) -> WeightsInfo: ...

    @property
    def device(self) -> torch.device: ...

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
    ) -> GalleryIndex: ...

    def search_stages(
        self,
        query_or_sketch: Query,
        gallery: GalleryIndex,
        top_k: int = 20,
        rerank_depth: int = 50,
        mode: str = "rerank",
        cancel: Callable[[], bool] | None = None,
    ) -> Iterator[SearchStage]: ...

    def explain(
        self,
        query_or_sketch: Query,
        gallery: GalleryIndex | None = None,
        index: int | None = None,
        photo: np.ndarray | str | None = None,
        faithfulness_top: int = 0,
        cancel: Callable[[], bool] | None = None,
        readout: str = ...,
    ) -> Explanation: ...

    def attribute_strokes(
        self,
        sketch: StrokeSketch,
        gallery: GalleryIndex,
        index: int,
        compared: Sequence[int] = (),
        cancel: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
        first: Callable[[StrokeAttribution], None] | None = None,
    ) -> StrokeAttribution: ...

    def occlusion_map(
        self,
        query: Query,
        gallery: GalleryIndex,
        index: int,
        window: int = 2,
        cancel: Callable[[], bool] | None = None,
    ) -> OcclusionMap: ...

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
    ) -> Replay: ...

    def contrast_strokes(
        self,
        sketch: StrokeSketch,
        gallery: GalleryIndex,
        index_a: int,
        index_b: int,
        cancel: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> StrokeContrast: ...

    def contrast_patches(
        self,
        query: Query,
        gallery: GalleryIndex,
        index_a: int,
        index_b: int,
        window: int = 1,
        cancel: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> PatchContrast: ...


class MainView(Protocol):
    """What the controller needs from the main window: intent signals in, setters out."""

    # ---- intents
    strokes_changed: SignalInstance
    sketch_edited: SignalInstance
    sketch_image_changed: SignalInstance
    pen_changed: SignalInstance
    result_selected: SignalInstance
    search_settings_changed: SignalInstance
    search_now_requested: SignalInstance
    corr_settings_changed: SignalInstance
    corr_readout_changed: SignalInstance
    patch_clicked: SignalInstance
    highlight_cleared: SignalInstance
    attention_options_changed: SignalInstance
    synthesis_options_changed: SignalInstance
    synthesis_cell_pointed: SignalInstance
    strokes_requested: SignalInstance
    contrast_requested: SignalInstance
    contrast_export_requested: SignalInstance
    replay_step_requested: SignalInstance
    replay_interrupted: SignalInstance
    gallery_open_requested: SignalInstance
    cancel_requested: SignalInstance
    sketch_open_requested: SignalInstance
    next_drawing_requested: SignalInstance
    session_save_requested: SignalInstance
    session_open_requested: SignalInstance
    export_requested: SignalInstance
    report_requested: SignalInstance
    model_requested: SignalInstance
    device_requested: SignalInstance
    load_report_requested: SignalInstance
    gallery_classes_requested: SignalInstance
    skipped_files_requested: SignalInstance
    closing: SignalInstance

    # ---- setters
    def set_banner(self, html: str) -> None: ...
    def set_model_label(self, text: str, tooltip: str = "") -> None: ...
    def set_latency(self, text: str) -> None: ...
    def set_status(self, text: str, timeout_ms: int = 0) -> None: ...
    def set_progress(self, done: int, total: int, text: str = "") -> None: ...
    def hide_progress(self) -> None: ...
    def set_results(
        self, result: RetrievalResult | None, seen: frozenset[str] | None, stale: bool = False
    ) -> None: ...
    def set_results_stale(self, stale: bool) -> None: ...
    def set_results_message(self, text: str) -> None: ...
    def selected_result(self) -> RankedItem | None: ...
    def select_result(self, row: int, chosen: bool = True) -> None: ...
    def set_sketch(self, sketch: StrokeSketch, image: SketchImage | None = None) -> None: ...
    def current_sketch(self) -> StrokeSketch: ...
    def set_settings(self, s: AppSettings) -> None: ...
    def set_heads(self, ca_heads: int, sa_heads: int) -> None: ...
    def set_explanation_header(self, html: str) -> None: ...
    def set_explanation_stale(self, stale: bool) -> None: ...
    def clear_explanation(self, placeholder: str = ...) -> None: ...
    def set_correspondence_view(self, image: np.ndarray, layout: PanelLayout | None, info: str) -> None: ...
    def set_attention_view(self, image: np.ndarray, layout: PanelLayout | None, info: str) -> None: ...
    def set_synthesis_view(self, image: np.ndarray, layout: PanelLayout | None, info: str) -> None: ...
    def set_synthesis_pointer(
        self, boxes: list[tuple[tuple[float, float, float, float], str]], info: str
    ) -> None: ...
    def set_kernel_view(self, image: np.ndarray, info: str) -> None: ...
    def strokes_tab_active(self) -> bool: ...
    def set_strokes_attribution(
        self, image: np.ndarray, sketch: StrokeSketch, panel: StrokePanel, rows: list[str], summary: str
    ) -> None: ...
    def set_strokes_replay(
        self, image: np.ndarray | None, text: str = "", frames: list[np.ndarray] | None = None
    ) -> None: ...
    def set_strokes_occlusion(self, image: np.ndarray | None, text: str = "") -> None: ...
    def set_strokes_versus(self, labels: list[str], positions: list[int]) -> None: ...
    def set_strength(self, text: str, tooltip: str) -> None: ...
    def set_strokes_progress(self, done: int, total: int, text: str = "") -> None: ...
    def clear_strokes(self, placeholder: str) -> None: ...
    def set_strokes_contrast(
        self,
        patches: np.ndarray | None,
        correspondences: np.ndarray | None,
        text: str,
        cell_at: Callable[[float, float], int | None] | None = None,
        cell_texts: list[str] | None = None,
        export_base: str = "",
    ) -> None: ...
    def clear_strokes_contrast(self) -> None: ...
    def stop_strokes_replay(self) -> None: ...
    def show_replay_frame(
        self,
        sketch: StrokeSketch,
        result: RetrievalResult | None,
        target: int,
        canvas_note: str,
        grid_text: str,
        seen: frozenset[str] | None = None,
    ) -> bool: ...
    def end_replay_frame(self) -> None: ...
    def replay_frame_shown(self) -> bool: ...
    def set_correspondence_info(self, html: str) -> None: ...
    def set_next_drawing_enabled(self, enabled: bool) -> None: ...
    def set_actions_enabled(self, has_result: bool) -> None: ...
    def show_error(self, title: str, text: str) -> None: ...
    def show_text(self, title: str, text: str) -> None: ...
