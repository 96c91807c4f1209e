"""The main window: the one view the controller talks to.

It lays out the canvas, the result grid and the explanation tabs, owns the menus, toolbars and
status bar, and exposes everything as intent signals plus setter methods (so a controller test can
use ``MagicMock(spec=MainWindow)``). It runs no inference and keeps no application state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFontDatabase
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from zse_gui.qt.canvas import SketchCanvas
from zse_gui.qt.explain_views import ExplanationPanel
from zse_gui.qt.menus import build_menus
from zse_gui.qt.results_view import ResultsView
from zse_gui.qt.settings import AppSettings
from zse_gui.qt.strokes import SketchImage
from zse_gui.results import RankedItem, RetrievalResult
from zse_gui.sketch import StrokeSketch
from zse_gui.viz.layout import PanelLayout
from zse_gui.viz.strokes import StrokePanel

__all__ = ["MainWindow"]

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Canvas | results over explanations, with menus and a status bar.

    Intent signals carry plain values; file dialogs live here because choosing a path is a view
    concern, and the chosen path leaves as the intent.
    """

    # drawing
    strokes_changed = Signal(object)  # StrokeSketch, live while drawing
    sketch_edited = Signal()  # a finished edit (autosave)
    sketch_image_changed = Signal(object)  # SketchImage | None: opened, cleared, undone or redone
    pen_changed = Signal(float, bool)  # width, smoothing
    # retrieval
    result_selected = Signal(object)  # RankedItem
    search_settings_changed = Signal(int, int, bool)  # top_k, rerank depth, live
    search_now_requested = Signal()
    # explanation
    corr_settings_changed = Signal(object)  # CorrespondenceSettings
    corr_readout_changed = Signal(str)  # a name of CORRESPONDENCE_READOUTS
    patch_clicked = Signal(str, int)  # side, patch id
    highlight_cleared = Signal()
    attention_options_changed = Signal(object)
    synthesis_options_changed = Signal(object)
    synthesis_cell_pointed = Signal(str, int)
    strokes_requested = Signal()  # the Strokes tab was opened: compute it for the selected result
    contrast_requested = Signal(
        int
    )  # Strokes tab: why the selected result and not result list[pos] (-1: none)
    contrast_export_requested = Signal(str)  # base file name for the shown contrast's files
    replay_step_requested = Signal(int)  # Strokes tab player: show stroke k in the main window (0: off)
    replay_interrupted = Signal()  # a press or an edit on the canvas while it showed a replay
    # files, model, device
    gallery_open_requested = Signal(str)
    cancel_requested = Signal()
    sketch_open_requested = Signal(str)
    next_drawing_requested = Signal()  # the next drawing of the open QuickDraw file
    session_save_requested = Signal(str)
    session_open_requested = Signal(str)
    export_requested = Signal(str)
    report_requested = Signal(str)
    model_requested = Signal(str, str)  # config name, weights ("" = random init, "default" = bundled)
    device_requested = Signal(str)
    load_report_requested = Signal()
    gallery_classes_requested = Signal()
    skipped_files_requested = Signal()
    closing = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("zse-gui: explainable zero-shot sketch-based image retrieval")
        self.resize(1400, 900)
        self.canvas = SketchCanvas(self)
        self.results = ResultsView(self)
        self.explanation = ExplanationPanel(self)
        self.banner = QLabel(self)
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.banner.setTextFormat(Qt.TextFormat.RichText)

        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(self.results)
        right.addWidget(self.explanation)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)
        right.setSizes([350, 550])  # two full rows of result tiles
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([460, 940])
        central = QWidget(self)
        lay = QVBoxLayout(central)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.banner)
        lay.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.latency = QLabel(self)
        self.latency.setObjectName("latencyLabel")
        self.model_label = QLabel(self)
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.cancel_btn = QPushButton("Cancel", self)
        self.cancel_btn.setVisible(False)
        self.cancel_btn.setToolTip("Stop indexing the gallery or writing the report")
        sb = self.statusBar()
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_btn)
        sb.addPermanentWidget(self.latency)
        sb.addPermanentWidget(self.model_label)

        self.actions_ = build_menus(self)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)
        self._forward_signals()

    def _forward_signals(self) -> None:
        """Re-emit the sub-views' intents as the window's, so the controller sees one view."""
        self.canvas.strokes_changed.connect(self.strokes_changed)
        self.canvas.edited.connect(self.sketch_edited)
        self.canvas.image_changed.connect(self.sketch_image_changed)
        self.canvas.history_changed.connect(self._on_canvas_history_changed)
        self.results.result_selected.connect(self.result_selected)
        ex = self.explanation
        ex.correspondences.settings_changed.connect(self.corr_settings_changed)
        ex.correspondences.readout_changed.connect(self.corr_readout_changed)
        ex.correspondences.patch_clicked.connect(self.patch_clicked)
        ex.correspondences.highlight_cleared.connect(self.highlight_cleared)
        ex.attention.options_changed.connect(self.attention_options_changed)
        ex.synthesis.options_changed.connect(self.synthesis_options_changed)
        ex.synthesis.cell_pointed.connect(self.synthesis_cell_pointed)
        ex.tabs.currentChanged.connect(self._on_explanation_tab_changed)
        ex.strokes.contrast_requested.connect(self.contrast_requested)
        ex.strokes.contrast.export_requested.connect(self.contrast_export_requested)
        ex.strokes.replay_step.connect(self.replay_step_requested)
        self.canvas.preview_interrupted.connect(self.replay_interrupted)
        self.cancel_btn.clicked.connect(self.cancel_requested)

    def _on_explanation_tab_changed(self, index: int) -> None:
        if self.explanation.tabs.widget(index) is self.explanation.strokes:
            self.strokes_requested.emit()

    def _on_canvas_history_changed(self, can_undo: bool, can_redo: bool) -> None:
        self.actions_.undo.setEnabled(can_undo)
        self.actions_.redo.setEnabled(can_redo)

    # ------------------------------------------------------------------ setters
    def set_banner(self, html: str) -> None:
        """A warning line above everything ("" hides it)."""
        self.banner.setText(html)
        self.banner.setVisible(bool(html))

    def set_model_label(self, text: str, tooltip: str = "") -> None:
        self.model_label.setText(text)
        self.model_label.setToolTip(tooltip)

    def set_latency(self, text: str) -> None:
        self.latency.setText(text)

    def set_status(self, text: str, timeout_ms: int = 0) -> None:
        """A status-bar message; its tooltip holds the whole text should the bar cut it."""
        self.statusBar().showMessage(text, timeout_ms)
        self.statusBar().setToolTip(text)

    def set_progress(self, done: int, total: int, text: str = "") -> None:
        """Show the indexing progress bar with its cancel button."""
        self.progress.setVisible(True)
        self.cancel_btn.setVisible(True)
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(min(done, total) if total > 0 else 0)
        self.progress.setFormat(text or "%v / %m")

    def hide_progress(self) -> None:
        self.progress.setVisible(False)
        self.cancel_btn.setVisible(False)

    def set_results(
        self, result: RetrievalResult | None, seen: frozenset[str] | None, stale: bool = False
    ) -> None:
        self.results.set_results(result, seen, stale)

    def set_results_stale(self, stale: bool) -> None:
        """Dim the grid while it shows results of an earlier sketch."""
        self.results.set_stale(stale)

    def set_results_message(self, text: str) -> None:
        self.results.set_message(text)

    def selected_result(self) -> RankedItem | None:
        return self.results.selected_item()

    def select_result(self, row: int, chosen: bool = True) -> None:
        self.results.select_row(row, chosen)

    def set_sketch(self, sketch: StrokeSketch, image: SketchImage | None = None) -> None:
        """Load strokes and the sketch image under them into the canvas (one undoable edit; emits
        ``sketch_image_changed`` when the image changes, then ``strokes_changed``)."""
        self.canvas.load_sketch(sketch, image)

    def current_sketch(self) -> StrokeSketch:
        return self.canvas.sketch()

    def set_settings(self, s: AppSettings) -> None:
        """Show settings in every control without emitting intents."""
        self.canvas.set_pen_width(s.pen_width)
        self.canvas.set_smoothing(s.smoothing)
        a = self.actions_
        for w in (a.top_k, a.depth, a.live, a.pen_width, a.smoothing):
            w.blockSignals(True)
        a.top_k.setValue(s.top_k)
        a.depth.setValue(s.rerank_depth)
        a.live.setChecked(s.live)
        a.pen_width.setValue(s.pen_width)
        a.smoothing.setChecked(s.smoothing)
        for w in (a.top_k, a.depth, a.live, a.pen_width, a.smoothing):
            w.blockSignals(False)
        for dev, act in a.devices.items():
            act.setChecked(dev == s.device)
        self.explanation.correspondences.set_settings(s.correspondence())
        self.explanation.correspondences.set_readout(s.corr_readout)

    def set_heads(self, ca_heads: int, sa_heads: int) -> None:
        self.explanation.correspondences.set_heads(ca_heads)
        self.explanation.attention.set_heads(sa_heads)

    def set_explanation_header(self, html: str) -> None:
        self.explanation.set_header(html)

    def clear_explanation(self, placeholder: str = "Select a result to see why it matched.") -> None:
        self.explanation.clear(placeholder)

    def set_explanation_stale(self, stale: bool) -> None:
        """Mark the explanation as one of an earlier sketch (dimmed, with a note) or current."""
        self.explanation.set_stale(stale)

    def set_correspondence_view(self, image: np.ndarray, layout: PanelLayout | None, info: str) -> None:
        self.explanation.correspondences.set_view(image, layout, info)

    def set_attention_view(self, image: np.ndarray, layout: PanelLayout | None, info: str) -> None:
        self.explanation.attention.set_view(image, layout, info)

    def set_synthesis_view(self, image: np.ndarray, layout: PanelLayout | None, info: str) -> None:
        self.explanation.synthesis.set_view(image, layout, info)

    def set_synthesis_pointer(
        self, boxes: list[tuple[tuple[float, float, float, float], str]], info: str
    ) -> None:
        """Outline the pointed cell and its photo source; say where it came from."""
        self.explanation.synthesis.pane.set_overlay(boxes)
        self.explanation.synthesis.set_info(info)

    def set_kernel_view(self, image: np.ndarray, info: str) -> None:
        self.explanation.kernel.set_view(image, None, info)

    # ---- the Strokes tab
    def strokes_tab_active(self) -> bool:
        """Whether the Strokes tab is the one on show (its numbers are computed only then)."""
        return self.explanation.tabs.currentWidget() is self.explanation.strokes

    def set_strokes_attribution(
        self, image: np.ndarray, sketch: StrokeSketch, panel: StrokePanel, rows: list[str], summary: str
    ) -> None:
        self.explanation.strokes.set_attribution(image, sketch, panel, rows, summary)

    def set_strokes_replay(
        self, image: np.ndarray | None, text: str = "", frames: list[np.ndarray] | None = None
    ) -> None:
        self.explanation.strokes.set_replay(image, text, frames)

    def set_strokes_versus(self, labels: list[str], positions: list[int]) -> None:
        self.explanation.strokes.set_versus_choices(labels, positions)

    def set_strokes_occlusion(self, image: np.ndarray | None, text: str = "") -> None:
        self.explanation.strokes.set_occlusion(image, text)

    def set_strength(self, text: str, tooltip: str) -> None:
        self.explanation.strokes.set_strength(text, tooltip)

    def set_strokes_progress(self, done: int, total: int, text: str = "") -> None:
        self.explanation.strokes.set_progress(done, total, text)

    def clear_strokes(self, placeholder: str) -> None:
        self.explanation.strokes.clear(placeholder)

    def set_strokes_contrast(
        self,
        patches: np.ndarray | None,
        correspondences: np.ndarray | None,
        text: str,
        cell_at: Callable[[float, float], int | None] | None = None,
        cell_texts: list[str] | None = None,
        export_base: str = "",
    ) -> None:
        self.explanation.strokes.contrast.set_contrast(
            patches, correspondences, text, cell_at, cell_texts, export_base
        )

    def clear_strokes_contrast(self) -> None:
        self.explanation.strokes.contrast.clear()

    def stop_strokes_replay(self) -> None:
        """Stop the Strokes tab's player and put it back on the curve."""
        self.explanation.strokes.stop_player()

    def show_replay_frame(
        self,
        sketch: StrokeSketch,
        result: RetrievalResult | None,
        target: int,
        canvas_note: str,
        grid_text: str,
        seen: frozenset[str] | None = None,
    ) -> bool:
        """Show a replayed prefix on the canvas (read-only) and its ranking in the results grid,
        gallery item ``target`` outlined; the real sketch and ranking stay underneath, untouched.
        False (nothing shown) while the user is in the middle of a stroke."""
        if not self.canvas.show_preview(sketch, canvas_note):
            return False
        self.results.show_replay(result, target, grid_text, seen)
        return True

    def end_replay_frame(self) -> None:
        """The real sketch and ranking again, exactly as they were (or as they arrived meanwhile)."""
        self.canvas.end_preview()
        self.results.end_replay()

    def replay_frame_shown(self) -> bool:
        return self.canvas.previewing or self.results.replaying

    def set_correspondence_info(self, html: str) -> None:
        self.explanation.correspondences.set_info(html)

    def set_next_drawing_enabled(self, enabled: bool) -> None:
        """Enable File > Next drawing in file (an open QuickDraw file has another drawing)."""
        self.actions_.next_drawing.setEnabled(enabled)

    def set_actions_enabled(self, has_result: bool) -> None:
        """Enable the export actions only when there is something to export."""
        self.actions_.export.setEnabled(has_result)
        self.actions_.report.setEnabled(has_result)

    def show_error(self, title: str, text: str) -> None:
        """Tell the user about an error without blocking the event loop (no modal exec)."""
        self.set_status(f"{title}: {text}", 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()

    def show_text(self, title: str, text: str) -> None:
        """A non-modal window with read-only monospace text (the load report)."""
        dlg = QDialog(self)
        dlg.setWindowTitle(title)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view = QPlainTextEdit(dlg)
        view.setReadOnly(True)
        view.setPlainText(text)
        view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dlg)
        buttons.rejected.connect(dlg.close)
        lay = QVBoxLayout(dlg)
        lay.addWidget(view)
        lay.addWidget(buttons)
        dlg.resize(760, 420)
        dlg.show()

    # ------------------------------------------------------------------ events
    def _focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        """Focus whose holder vanished goes back to the canvas, not to the next field in the chain.

        When the focused widget is hidden or disabled (the replay's Play button as the replay
        stops, the contrast list as the drawing is cleared), Qt hands focus to the next widget in
        the tab chain, here the pen-width box of the toolbar, which then takes Delete and Ctrl+Z
        for itself. A click or Tab leaves a visible, enabled widget behind and is not redirected.
        """
        if new is None or new is self.canvas or not self.isAncestorOf(new):
            return
        if old is None or (old.isVisible() and old.isEnabled()):
            return  # a click, Tab, or the window coming back: the user chose where focus goes
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    def closeEvent(self, event: QCloseEvent) -> None:
        # the controller stops the worker and saves state synchronously in its handler
        self.closing.emit()
        event.accept()
