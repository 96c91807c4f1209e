"""The controller: wires the main window's intents to worker jobs and results back to its setters.

All application state lives in one ``AppState`` (the loaded model and gallery, the canvas, the
shown ranking and explanation) plus the settings; the view only renders, the worker only computes.
Handlers are ``_on_<source>_<event>``.

Staleness is ruled out by construction: every job is stamped with the ``Revision`` (sketch
content, gallery and model generation) it was asked for, and a result reaches the view only while
its stamp is the current revision. When the sketch changes, what is on screen is marked stale
(dimmed, "updating") until results for the new sketch arrive; a blank canvas shows nothing.
"""

from __future__ import annotations

import html
import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from zse_gui.errors import ZseError
from zse_gui.qt.controller_files import FilesMixin
from zse_gui.qt.controller_strokes import StrokesController
from zse_gui.qt.debounce import AdaptiveDelay
from zse_gui.qt.jobs import SearchParams, explain_job, index_job, load_model_job, search_job
from zse_gui.qt.protocols import MainView
from zse_gui.qt.render import (
    ViewState,
    explanation_header,
    render_attention_view,
    render_correspondence_view,
    render_kernel_view,
    render_synthesis_view,
    synthesis_pointer,
)
from zse_gui.qt.session import write_autosave
from zse_gui.qt.settings import AppSettings, save_settings
from zse_gui.qt.state import AppState, ExplainPayload, GalleryInfo, ModelInfo, Stamped, class_seen
from zse_gui.qt.strokes import SketchImage
from zse_gui.qt.worker import JobResult, Worker
from zse_gui.results import RankedItem, RetrievalResult
from zse_gui.sketch import StrokeSketch, sketch_query
from zse_gui.viz.correspondence import CorrespondenceSettings
from zse_gui.viz.synthesis import synthesis_layout

__all__ = [
    "Controller",
    "UNTRAINED_BANNER",
    "gallery_classes_text",
    "gallery_status_text",
    "latency_text",
    "skipped_files_text",
]

log = logging.getLogger(__name__)

UNTRAINED_BANNER = (
    "<b>{what}</b> The app is running <code>{name}</code> with random weights, so rankings and "
    "explanations are meaningless. Pick a checkpoint with <i>Model &gt; Open checkpoint…</i> (Ctrl+M) "
    "and a photo folder with <i>File &gt; Open gallery folder…</i> (Ctrl+G)."
)
STALE_RESULTS = "Updating for the new sketch…"
STALE_MANUAL = "These results are for the previous sketch: press Search now (live search is off)."
EMPTY_CANVAS = "Draw a sketch to search the gallery."
PENDING_LIVE = "Searching for this sketch…"
PENDING_MANUAL = "Live search is off: press Search now."


def latency_text(result: RetrievalResult, reranking: bool) -> str:
    """Status-bar text with each stage's latency, e.g. ``encode 12 ms · stage 1 0.4 ms · re-rank 80 ms``."""
    t = result.timings_ms
    parts = []
    if "encode" in t:
        parts.append(f"encode {t['encode']:.0f} ms")
    if "stage1" in t:
        parts.append(f"stage 1 {t['stage1']:.1f} ms")
    if "stage2" in t:
        parts.append(f"re-rank K={result.rerank_depth} {t['stage2']:.0f} ms")
    elif reranking:
        parts.append("re-ranking…")
    return " · ".join(parts)


def gallery_classes_text(gallery: GalleryInfo | None, model: ModelInfo | None) -> str:
    """Each gallery class and whether the loaded model saw it in training (zero-shot if not)."""
    if gallery is None:
        return "No gallery is open."
    if not gallery.labels:
        return f"{gallery.folder} has no class sub-folders, so its images have no labels."
    seen = model.seen_classes if model is not None else None
    if seen is None:
        head = "The loaded model does not list its training classes: seen / unseen is unknown."
        return head + "\n\n" + "\n".join(gallery.labels)
    unseen = [lb for lb in gallery.labels if not class_seen(lb, seen)]
    lines = [
        f"{len(gallery.labels)} classes in {gallery.folder}: {len(gallery.labels) - len(unseen)} seen in "
        f"training, {len(unseen)} unseen (zero-shot).",
        "",
    ]
    lines += [f"{'seen     ' if class_seen(lb, seen) else 'ZERO-SHOT'}  {lb}" for lb in gallery.labels]
    return "\n".join(lines)


def gallery_status_text(info: GalleryInfo, model: ModelInfo | None) -> str:
    """One short status-bar line about an opened gallery: it must fit beside the latency and the
    model label (the folder's full path is in File > Gallery classes)."""
    name = Path(info.folder).name
    name = name if len(name) <= 24 else "…" + name[-23:]
    parts = [f"{name}: {info.size} images", f"{len(info.labels)} classes"]
    if model is not None and model.seen_classes is not None and info.labels:
        unseen = sum(not class_seen(lb, model.seen_classes) for lb in info.labels)
        parts[-1] += f" ({unseen} zero-shot)"
    parts.append(f"{info.encoded} encoded, {info.reused} cached")
    if info.skipped:
        parts.append(f"{len(info.skipped)} skipped (File > Skipped gallery files)")
    return "Gallery " + " · ".join(parts)


def skipped_files_text(gallery: GalleryInfo | None) -> str:
    """Every gallery file that could not be indexed, with the reason."""
    if gallery is None:
        return "No gallery is open."
    if not gallery.skipped:
        return f"Every image file in {gallery.folder} was indexed; none was skipped."
    lines = [f"{len(gallery.skipped)} files in {gallery.folder} could not be indexed:", ""]
    lines += [f"{path}\n    {reason}" for path, reason in gallery.skipped]
    return "\n".join(lines)


class Controller(FilesMixin, QObject):
    """Owns the app state; one per main window.

    Args:
        view: the main window (or a ``MagicMock(spec=MainWindow)`` in tests).
        worker: the worker that owns the engine.
        settings: the starting settings.
        config_folder: where settings and the autosave go (None = the platform config dir).
        persist: write settings and the autosave to disk (off in some tests).
    """

    def __init__(
        self,
        view: MainView,
        worker: Worker,
        settings: AppSettings,
        config_folder: Path | None = None,
        persist: bool = True,
    ) -> None:
        super().__init__()
        self.view = view
        self.worker = worker
        self.settings = settings
        self.config_folder = config_folder
        self.persist = persist
        self.state = AppState()
        self.bundled: list[str] = []  # names of models with weights in models/ (set by the app)
        self.view_state = ViewState(correspondence=settings.correspondence())
        self.delay = AdaptiveDelay()
        self._shut_down = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.strokes = StrokesController(self)
        self._connect()
        view.set_settings(settings)

    def _connect(self) -> None:
        v = self.view
        v.strokes_changed.connect(self._on_view_strokes_changed)
        v.sketch_edited.connect(self._on_view_sketch_edited)
        v.sketch_image_changed.connect(self._on_view_sketch_image_changed)
        v.pen_changed.connect(self._on_view_pen_changed)
        v.result_selected.connect(self._on_view_result_selected)
        v.search_settings_changed.connect(self._on_view_search_settings_changed)
        v.search_now_requested.connect(self._on_view_search_now_requested)
        v.corr_settings_changed.connect(self._on_view_corr_settings_changed)
        v.corr_readout_changed.connect(self._on_view_corr_readout_changed)
        v.patch_clicked.connect(self._on_view_patch_clicked)
        v.highlight_cleared.connect(self._on_view_highlight_cleared)
        v.attention_options_changed.connect(self._on_view_attention_options_changed)
        v.synthesis_options_changed.connect(self._on_view_synthesis_options_changed)
        v.synthesis_cell_pointed.connect(self._on_view_synthesis_cell_pointed)
        v.strokes_requested.connect(self._on_view_strokes_requested)
        v.contrast_requested.connect(self.strokes.request_contrast)
        v.contrast_export_requested.connect(self.strokes.export_contrast)
        v.replay_step_requested.connect(self.strokes.replay_step)
        v.replay_interrupted.connect(self.strokes.replay_interrupted)
        v.gallery_open_requested.connect(self._on_view_gallery_open_requested)
        v.cancel_requested.connect(self._on_view_cancel_requested)
        v.sketch_open_requested.connect(self._on_view_sketch_open_requested)
        v.next_drawing_requested.connect(self._on_view_next_drawing_requested)
        v.session_save_requested.connect(self._on_view_session_save_requested)
        v.session_open_requested.connect(self._on_view_session_open_requested)
        v.export_requested.connect(self._on_view_export_requested)
        v.report_requested.connect(self._on_view_report_requested)
        v.model_requested.connect(self._on_view_model_requested)
        v.device_requested.connect(self._on_view_device_requested)
        v.load_report_requested.connect(self._on_view_load_report_requested)
        v.gallery_classes_requested.connect(self._on_view_gallery_classes_requested)
        v.skipped_files_requested.connect(self._on_view_skipped_files_requested)
        v.closing.connect(self._on_view_closing)
        self.worker.result.connect(self._on_worker_result)

    # ================================================================== public API
    def load_model(self, name: str, weights: str) -> None:
        """Load a model on the current device; the gallery is re-indexed with it when done."""
        self.state.loading = (name, weights)
        # searches and explanations in flight belong to the model being replaced
        self.worker.cancel("search")
        self.worker.cancel("explain")
        self.strokes.stop()
        self.view.set_status(f"Loading {name} {weights or '(random init)'}…")
        self.view.set_model_label(f"{name}: loading…")
        self.worker.submit(load_model_job(name, weights or None, self.settings.device))

    def open_gallery(self, folder: str) -> None:
        """Index a gallery folder (after the model loads, if one is loading)."""
        st = self.state
        st.gallery_request = folder
        self._save_settings(replace(self.settings, gallery=folder))
        if st.model is None or st.loading != ("", ""):
            self.view.set_results_message(f"The gallery {folder} opens once a model is loaded.")
            return
        st.gallery = None
        st.next_gallery()  # results of the previous gallery are of no use now
        self._clear_results()
        self.view.set_results_message(f"Indexing {folder}…")
        self.view.set_progress(0, 0, "indexing…")
        st.asked["index"] = st.revision
        self.worker.submit(index_job(folder, st.revision))

    def search(self, force: bool = False) -> int | None:
        """Rank the gallery for the current canvas; returns the job generation (None = not run)."""
        self.timer.stop()
        st = self.state
        query = sketch_query(st.sketch, st.background)
        if query is None:
            self._show_blank()
            return None
        if st.model is None or st.gallery is None or st.loading != ("", ""):
            if st.model is None or st.loading != ("", ""):
                what = "the model to load" if st.loading != ("", "") else "a model"
            elif st.gallery_request:
                what = "the gallery to finish indexing"
            else:
                what = "a gallery (File > Open gallery folder…, Ctrl+G)"
            self.view.set_results_message(f"Waiting for {what}.")
            return None
        self.state.asked["search"] = st.revision
        return self.worker.submit(search_job(query, self.search_params(), st.revision), force=force)

    def search_params(self) -> SearchParams:
        """The search settings a ranking is made with (and kept measurements are keyed by)."""
        return SearchParams(self.settings.top_k, self.settings.rerank_depth)

    def shutdown(self) -> None:
        """Stop the worker (cancelling its jobs), save settings and strokes. Safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        self.timer.stop()
        for lane in ("index", "search", "explain", "strokes", "contrast", "export"):
            self.worker.cancel(lane)
        self.worker.stop()
        if self.persist:
            try:
                save_settings(self.settings, self.config_folder)
            except OSError as exc:  # a read-only or full disk must not turn closing into a crash
                log.warning("cannot save settings: %s", exc)
            write_autosave(self.state.sketch, self.config_folder)

    # ================================================================== drawing
    def _on_view_strokes_changed(self, sketch: StrokeSketch) -> None:
        self.state.with_sketch(sketch)
        self._on_sketch_changed()
        # throttle, not a restarting debounce: while the pen keeps moving, a query still goes
        # out every delay_ms with the newest strokes (read when the timer fires)
        if self.settings.live and self.state.revision.sketch and not self.timer.isActive():
            self.timer.start(self.delay.delay_ms)

    def _on_sketch_changed(self) -> None:
        """Whatever changed the canvas: a blank canvas shows nothing, otherwise what is shown for
        another sketch is marked stale until results for this one arrive."""
        if not self.state.revision.sketch:
            self._show_blank()
            return
        self._refresh_staleness()

    def _show_blank(self) -> None:
        self.timer.stop()
        self.worker.cancel("search")
        self.worker.cancel("explain")
        self._clear_results()
        self.view.set_results_message(EMPTY_CANVAS)
        self.view.set_latency("")

    def _refresh_staleness(self) -> None:
        st = self.state
        if st.shown is not None:
            current = st.shown.revision == st.revision
            self.view.set_results_stale(not current)
            stale_text = STALE_RESULTS if self.settings.live else STALE_MANUAL
            self.view.set_results_message("" if current else stale_text)
            self.view.set_actions_enabled(current and bool(st.shown.value.items))
        else:  # nothing shown yet for any sketch: say what happens next, not "draw a sketch"
            self.view.set_results_message(PENDING_LIVE if self.settings.live else PENDING_MANUAL)
        if st.explained is not None:
            self.view.set_explanation_stale(st.explained.revision != st.revision)
        elif self.state.asked.get("explain") != st.revision:
            self.view.clear_explanation()  # an "Explaining…" header of a withdrawn request
        if self.state.asked.get("explain") != st.revision:
            self.worker.cancel("explain")
        self.strokes.sketch_changed()

    def _on_view_sketch_edited(self) -> None:
        if self.persist:
            write_autosave(self.view.current_sketch(), self.config_folder)

    def _on_view_sketch_image_changed(self, image: SketchImage | None) -> None:
        # Clear removes the image with the strokes; undo / redo bring it back or take it away.
        rgb = image.rgb if image is not None else None
        if rgb is self.state.background:
            return
        self.state.with_background(rgb, image.source if image is not None else "")
        self.state.with_sketch(self.view.current_sketch())  # the same edit changed the strokes too
        self._on_sketch_changed()
        self.search()

    def _on_view_pen_changed(self, width: float, smoothing: bool) -> None:
        self._save_settings(replace(self.settings, pen_width=width, smoothing=smoothing))

    def _on_timer_timeout(self) -> None:
        self.search()

    def _on_view_search_now_requested(self) -> None:
        self.search(force=True)

    def _on_view_search_settings_changed(self, top_k: int, depth: int, live: bool) -> None:
        changed = (top_k, depth) != (self.settings.top_k, self.settings.rerank_depth)
        self._save_settings(replace(self.settings, top_k=top_k, rerank_depth=depth, live=live))
        if changed or live:
            self.search()

    # ================================================================== worker results
    def _on_worker_result(self, res: JobResult) -> None:
        handler = {
            "model": self._on_model_result,
            "index": self._on_index_result,
            "search": self._on_search_result,
            "explain": self._on_explain_result,
            "strokes": self.strokes.on_result,
            "contrast": self.strokes.on_contrast_result,
            "export": self._on_export_result,
        }.get(res.lane)
        if handler is not None:
            handler(res)

    def _on_model_result(self, res: JobResult) -> None:
        st = self.state
        if res.stage == "error":
            st.loading = ("", "")  # the previous model (if any) still runs
            if st.device_before is not None:
                # the new device did not work: the old model still runs on the old one
                self._save_settings(replace(self.settings, device=st.device_before))
                self.view.set_settings(self.settings)
                st.device_before = None
            label = f"{st.model.name} · {st.model.device}" if st.model else "no model"
            self.view.set_model_label(label)
            self.view.show_error("Cannot load the model", res.error)
            if st.model is None:
                self.view.set_banner("<b>No model is loaded.</b> Pick one in the <i>Model</i> menu.")
            return
        if res.stage != "done":
            return
        info: ModelInfo = res.payload
        st.model = info
        st.model_request, st.loading = st.loading, ("", "")
        st.device_before = None
        st.next_model()
        # the gallery index belongs to the old weights: it is re-opened below
        folder = st.gallery_request or (st.gallery.folder if st.gallery else "")
        st.gallery = None
        self._save_settings(replace(self.settings, model=st.model_request[0], weights=st.model_request[1]))
        if info.report and st.model_request[1] not in ("", "default"):
            # a checkpoint the user picked: show what the load did, key by key
            self.view.show_text("Load report", f"{info.report}\n\nsha256 {info.sha256}")
        self.view.set_model_label(f"{info.name} · {info.device}", f"{info.source}\nsha256 {info.sha256}")
        if info.trained:
            self.view.set_banner("")
        else:
            what = "No trained model is loaded." if self.bundled else "No trained model is bundled here."
            self.view.set_banner(UNTRAINED_BANNER.format(what=what, name=html.escape(info.name)))
        self.view.set_heads(info.ca_heads, info.sa_heads)
        self.view.set_status(f"Loaded {info.name} ({info.source}) in {res.elapsed_ms / 1000:.1f} s", 8000)
        if st.expected_sha and info.sha256 != st.expected_sha:
            self.view.show_error(
                "Different weights",
                f"The session was saved with weights sha256 {st.expected_sha[:16]}…, but the loaded "
                f"weights have {info.sha256[:16]}…; results may differ from the saved ones.",
            )
        st.expected_sha = ""
        self._clear_results()
        if folder:
            self.open_gallery(folder)

    def _on_index_result(self, res: JobResult) -> None:
        if self._track_progress(res, "indexing"):
            return
        st = self.state
        asked = st.asked.get("index")
        if asked is None or not asked.same_gallery(st.revision):
            return  # a newer gallery or model was asked for since (the sketch may change meanwhile)
        if res.stage == "cancelled":
            self.view.set_status("Indexing cancelled; the images encoded so far are cached.", 8000)
            self.view.set_results_message("Indexing was cancelled. Open the gallery again to finish it.")
            return
        if res.stage == "error":
            self.view.set_results_message(f"Cannot open the gallery: {res.error}")
            self.view.show_error("Cannot open the gallery", res.error)
            return
        if res.stage != "done":
            return
        stamped: Stamped[GalleryInfo] = res.payload
        if not stamped.revision.same_gallery(st.revision):
            return
        info = stamped.value
        st.gallery = info
        st.gallery_request = ""
        text = gallery_status_text(info, st.model)
        self.view.set_status(text)
        self.view.set_results_message("")
        self.worker.forget("search")
        self.search()

    def _on_search_result(self, res: JobResult) -> None:
        st = self.state
        if res.stage == "error":
            if self.state.asked.get("search") == st.revision:
                soft = res.error_type == "InvalidSketchError"
                self.view.set_results_message(("Sketch: " if soft else "Search failed: ") + res.error)
            return
        if res.stage not in ("partial", "done"):
            return
        stamped: Stamped[RetrievalResult] = res.payload
        if stamped.revision != st.revision:
            return  # computed for another sketch, gallery or model
        result = stamped.value
        reranking = res.stage == "partial"
        if reranking or result.mode == "ret":
            # the debounce follows what the user waits for before seeing anything: stage 1
            self.delay.observe(res.elapsed_ms)
        st.shown, st.shown_final = stamped, not reranking
        self.view.set_results(result, st.model.seen_classes if st.model else None)
        self.view.set_results_message("" if result.items else "The gallery is empty.")
        self.view.set_latency(latency_text(result, reranking))
        self.view.set_actions_enabled(bool(result.items))
        if not reranking:
            self._after_final_results(result)

    def _after_final_results(self, result: RetrievalResult) -> None:
        """Explain the selected result again for the new sketch (or select one)."""
        if not result.items:
            self.state.explained = None
            self.view.clear_explanation()
            return
        pending = self.state.pending_select
        if pending is not None:
            self.state.pending_select = None
            rows = [k for k, it in enumerate(result.items) if it.index == pending]
            if rows:
                self.view.select_result(rows[0])
                return
        selected = self.view.selected_result()
        current = None if selected is None else self._current_item(selected.index)
        if current is None:
            self.view.select_result(0, chosen=False)  # emits result_selected -> explain
        else:
            self._request_explanation(current)

    def _current_item(self, index: int) -> RankedItem | None:
        """The item with gallery index ``index`` in the current ranking, if it is there."""
        result = self.state.result
        return next((it for it in result.items if it.index == index), None) if result else None

    def _on_view_result_selected(self, item: RankedItem) -> None:
        current = self._current_item(item.index)
        if current is not None:  # a tile of a stale grid explains nothing
            self._request_explanation(current)

    def _request_explanation(self, item: RankedItem) -> None:
        st = self.state
        query = sketch_query(st.sketch, st.background)
        if query is None or st.gallery is None:
            return
        if st.explained is None:
            self.view.set_explanation_header(
                f"Explaining #{item.final_rank + 1} {html.escape(item.label or '')}…"
            )
        self.state.asked["explain"] = st.revision
        self.worker.submit(
            explain_job(query, item, self.settings.faithfulness_top, st.revision, self.settings.corr_readout)
        )
        self.strokes.request(item)

    def _on_view_strokes_requested(self) -> None:
        self.strokes.request()

    def _on_explain_result(self, res: JobResult) -> None:
        st = self.state
        if res.stage == "error":
            if self.state.asked.get("explain") == st.revision:
                self.view.set_explanation_header(f"Cannot explain this result: {html.escape(res.error)}")
            return
        if res.stage != "done":
            return
        payload: ExplainPayload = res.payload
        current = self._current_item(payload.item.index)
        if payload.revision != st.revision or current is None:
            return  # for another sketch, or for a photo no longer among the results
        st.explained = replace(payload, item=current)
        self.view_state = replace(self.view_state, highlight=None)
        self.view.set_explanation_stale(False)
        self._render_all()

    # ================================================================== explanation views
    def _render_all(self) -> None:
        if self.state.explained is None:
            return
        e = self.state.explained.explanation
        try:
            self.view.set_explanation_header(explanation_header(self.state.explained.item, e))
            self._render_correspondences()
            rv = render_attention_view(e, self.view_state)
            self.view.set_attention_view(rv.image, rv.layout, rv.info)
            rv = render_synthesis_view(e, self.view_state)
            self.view.set_synthesis_view(rv.image, rv.layout, rv.info)
            rv = render_kernel_view(e)
            self.view.set_kernel_view(rv.image, rv.info)
        except ZseError as exc:
            self.view.show_error("Cannot draw the explanation", str(exc))

    def _render_correspondences(self) -> None:
        if self.state.explained is None:
            return
        try:
            rv = render_correspondence_view(self.state.explained.explanation, self.view_state)
        except ZseError as exc:
            self.view.set_correspondence_info(html.escape(str(exc)))
            return
        self.view.set_correspondence_view(rv.image, rv.layout, rv.info)

    def _on_view_corr_settings_changed(self, cs: CorrespondenceSettings) -> None:
        self.view_state = replace(self.view_state, correspondence=cs)
        self._save_settings(self.settings.with_correspondence(cs))
        self._render_correspondences()

    def _on_view_corr_readout_changed(self, readout: str) -> None:
        """Another readout: saved, and the shown explanation is recomputed with it."""
        self._save_settings(replace(self.settings, corr_readout=readout))
        if self.state.explained is not None:
            self._request_explanation(self.state.explained.item)

    def _on_view_patch_clicked(self, side: str, patch: int) -> None:
        self.view_state = replace(self.view_state, highlight=(side, patch))
        self._render_correspondences()

    def _on_view_highlight_cleared(self) -> None:
        self.view_state = replace(self.view_state, highlight=None)
        self._render_correspondences()

    def _on_view_attention_options_changed(self, opts: tuple[int | None, str, float]) -> None:
        head, background, keep = opts
        self.view_state = replace(self.view_state, attention_head=head, background=background, keep_mass=keep)
        if self.state.explained is not None:
            rv = render_attention_view(self.state.explained.explanation, self.view_state)
            self.view.set_attention_view(rv.image, rv.layout, rv.info)

    def _on_view_synthesis_options_changed(self, opts: tuple[bool, float]) -> None:
        grid, overlay = opts
        self.view_state = replace(self.view_state, synthesis_grid=grid, sketch_overlay=overlay)
        if self.state.explained is not None:
            rv = render_synthesis_view(self.state.explained.explanation, self.view_state)
            self.view.set_synthesis_view(rv.image, rv.layout, rv.info)

    def _on_view_synthesis_cell_pointed(self, panel: str, patch: int) -> None:
        if self.state.explained is None:
            return
        e = self.state.explained.explanation
        boxes, info = synthesis_pointer(e, synthesis_layout(e), panel, patch)
        self.view.set_synthesis_pointer(boxes, info)

    # ================================================================== gallery, model, device
    def _on_view_gallery_open_requested(self, folder: str) -> None:
        self.open_gallery(folder)

    def _on_view_model_requested(self, name: str, weights: str) -> None:
        self.load_model(name, weights)

    def _on_view_closing(self) -> None:
        self.shutdown()

    def _on_view_cancel_requested(self) -> None:
        # the progress bar serves both long jobs: indexing and the top-k report
        self.worker.cancel("index")
        self.worker.cancel("export")

    def _on_view_device_requested(self, device: str) -> None:
        if device == self.settings.device:
            return
        st = self.state
        st.device_before = self.settings.device
        self._save_settings(replace(self.settings, device=device))
        name, weights = st.model_request if st.model_request[0] else st.loading
        if name:
            self.load_model(name, weights)

    def _on_view_load_report_requested(self) -> None:
        model = self.state.model
        if model is None:
            self.view.show_text("Load report", "No model is loaded.")
            return
        text = model.report or f"{model.name}: random initialisation, no weight file was loaded."
        self.view.show_text("Load report", f"{text}\n\nsha256 {model.sha256}")

    def _on_view_gallery_classes_requested(self) -> None:
        self.view.show_text("Gallery classes", gallery_classes_text(self.state.gallery, self.state.model))

    def _on_view_skipped_files_requested(self) -> None:
        self.view.show_text("Skipped gallery files", skipped_files_text(self.state.gallery))

    def _clear_results(self) -> None:
        self.state.shown = None
        self.state.explained = None
        self.strokes.stop()
        self.view.set_results(None, None)
        self.view.clear_explanation()
        self.view.set_actions_enabled(False)

    # ================================================================== settings
    def _save_settings(self, new: AppSettings) -> None:
        if new == self.settings:
            return
        self.settings = new
        if self.persist:
            try:
                save_settings(new, self.config_folder)
            except OSError as exc:
                log.warning("cannot save settings: %s", exc)
