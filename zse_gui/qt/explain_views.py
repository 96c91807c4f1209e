"""The explanation tabs: correspondences, [Ret] attention, synthesis and the relation kernel.

Each tab shows an image rendered by ``zse_gui.viz`` (set by the controller, so the screen and an
exported file come from the same renderer), its controls, and a text line. Clicks are hit-tested
against the renderer's panel layout and leave as intents (``patch_clicked``, ``cell_pointed``).
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGraphicsOpacityEffect,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from zse_gui.qt.image_pane import ImagePane
from zse_gui.qt.strokes_tab import StrokesTab
from zse_gui.viz.correspondence import CorrespondenceSettings
from zse_gui.viz.layout import PanelLayout, hit_test

__all__ = ["CorrespondenceTab", "AttentionTab", "SynthesisTab", "KernelTab", "ExplanationPanel"]

log = logging.getLogger(__name__)

NO_RESULT = "Select a result to see why it matched."


def _info_label(parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setMinimumHeight(36)
    return label


def _fill_heads(combo: QComboBox, first: str, n: int) -> None:
    """Fill a head box with ``first`` (data None) and heads 0..n-1, keeping a still-valid choice."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(first, None)
    for h in range(n):
        combo.addItem(f"head {h}", h)
    idx = combo.findData(current) if current is not None else 0
    combo.setCurrentIndex(max(idx, 0))
    combo.blockSignals(False)


class _RenderedTab(QWidget):
    """A control row, a rendered image and an info line; hit-tests clicks on the image."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controls = QHBoxLayout()
        self.controls.setContentsMargins(0, 0, 0, 0)
        self.pane = ImagePane(NO_RESULT, self)
        self.info = _info_label(self)
        self.layout_: PanelLayout | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(self.controls)
        lay.addWidget(self.pane, 1)
        lay.addWidget(self.info)

    def set_view(self, image: np.ndarray | None, layout: PanelLayout | None = None, info: str = "") -> None:
        """Show a rendered image (None = placeholder) and the panel layout for hit tests."""
        self.pane.set_image(image, NO_RESULT)
        self.layout_ = layout
        self.info.setText(info)

    def set_info(self, html: str) -> None:
        self.info.setText(html)

    def clear(self, placeholder: str = NO_RESULT) -> None:
        self.pane.set_image(None, placeholder)
        self.layout_ = None
        self.info.setText("")

    def _hit(self, x: float, y: float) -> tuple[str, int] | None:
        return hit_test(self.layout_, x, y) if self.layout_ is not None else None


READOUT_LABELS = {
    "attention": "attention",
    "dual_softmax": "dual softmax",
    "sinkhorn": "Sinkhorn",
    "dual_sinkhorn": "dual Sinkhorn",
    "consensus": "consensus",
    "gradient": "gradient-ranked",
}


class CorrespondenceTab(_RenderedTab):
    """Sketch | photo with lines between matched patches.

    Signals:
        settings_changed(CorrespondenceSettings): a control changed.
        readout_changed(str): another readout was chosen (the explanation must be recomputed).
        patch_clicked(str, int): a click on a patch of ``"sketch"`` or ``"photo"``.
        highlight_cleared(): the user wants the best pairs back.
    """

    settings_changed = Signal(object)
    readout_changed = Signal(str)
    patch_clicked = Signal(str, int)
    highlight_cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.readout = QComboBox(self)
        for name, text in READOUT_LABELS.items():
            self.readout.addItem(text, name)
        self.readout.setToolTip(
            "How the lines are read out of the cross-attention: 'attention' is the plain argmax; "
            "'Sinkhorn' variants balance the photo patches so that a few cannot take every line; "
            "'consensus' keeps a line where the neighbouring ink's lines run the same way "
            "(or mirrored); "
            "'gradient' ranks the attention's lines by their relevance to the relation score "
            "(docs/explanations.md measures each)"
        )
        self.threshold = QDoubleSpinBox(self)
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setDecimals(4)
        self.threshold.setSingleStep(0.005)
        self.threshold.setToolTip(
            "Hide pairs whose strength in the chosen readout is below this (uniform = 1/patches)"
        )
        self.top_k = QSpinBox(self)
        self.top_k.setRange(1, 4096)
        self.top_k.setToolTip("Draw at most this many pairs, strongest first")
        self.head = QComboBox(self)
        self.head.setToolTip("Cross-attention head, or the mean over heads")
        self.mutual = QCheckBox("mutual only", self)
        self.mutual.setToolTip("Only pairs that are each other's best match in both directions")
        self.ink = QCheckBox("ink only", self)
        self.ink.setToolTip("Only pairs whose sketch patch contains ink")
        self.clear_btn = QPushButton("Best pairs", self)
        self.clear_btn.setToolTip("Forget the clicked patch and show the strongest pairs again")
        for text, w in (
            ("readout", self.readout),
            ("threshold", self.threshold),
            ("lines", self.top_k),
            ("head", self.head),
        ):
            lab = QLabel(text, self)
            lab.setBuddy(w)
            self.controls.addWidget(lab)
            self.controls.addWidget(w)
        self.controls.addWidget(self.mutual)
        self.controls.addWidget(self.ink)
        self.controls.addStretch(1)
        self.controls.addWidget(self.clear_btn)
        self.set_heads(1)
        self.threshold.valueChanged.connect(self._on_control_changed)
        self.top_k.valueChanged.connect(self._on_control_changed)
        self.head.currentIndexChanged.connect(self._on_control_changed)
        self.mutual.toggled.connect(self._on_control_changed)
        self.ink.toggled.connect(self._on_control_changed)
        self.clear_btn.clicked.connect(self._on_clear_btn_clicked)
        self.pane.clicked.connect(self._on_pane_clicked)
        self.readout.currentIndexChanged.connect(self._on_readout_changed)

    def set_readout(self, readout: str) -> None:
        """Show ``readout`` in its box without emitting ``readout_changed``."""
        self.readout.blockSignals(True)
        self.readout.setCurrentIndex(max(self.readout.findData(readout), 0))
        self.readout.blockSignals(False)

    def _on_readout_changed(self, *args: object) -> None:
        self.readout_changed.emit(str(self.readout.currentData()))

    def set_heads(self, n: int) -> None:
        """Offer 'mean' plus ``n`` heads in the head box (keeps the choice when still valid)."""
        _fill_heads(self.head, "mean of heads", n)

    def set_settings(self, s: CorrespondenceSettings) -> None:
        """Show settings in the controls without emitting ``settings_changed``."""
        widgets = (self.threshold, self.top_k, self.head, self.mutual, self.ink)
        for w in widgets:
            w.blockSignals(True)
        self.threshold.setValue(s.threshold)
        self.top_k.setValue(s.top_k or self.top_k.maximum())
        idx = self.head.findData(s.head) if s.head is not None else 0
        self.head.setCurrentIndex(max(idx, 0))
        self.mutual.setChecked(s.mutual_only)
        self.ink.setChecked(s.ink_only)
        for w in widgets:
            w.blockSignals(False)

    def settings(self) -> CorrespondenceSettings:
        """The settings the controls show."""
        return CorrespondenceSettings(
            top_k=self.top_k.value(),
            threshold=float(self.threshold.value()),
            head=self.head.currentData(),
            mutual_only=self.mutual.isChecked(),
            ink_only=self.ink.isChecked(),
        )

    def _on_control_changed(self, *args: object) -> None:
        self.settings_changed.emit(self.settings())

    def _on_clear_btn_clicked(self) -> None:
        self.highlight_cleared.emit()

    def _on_pane_clicked(self, x: float, y: float) -> None:
        hit = self._hit(x, y)
        if hit is not None and hit[0] in ("sketch", "photo"):
            self.patch_clicked.emit(hit[0], hit[1])


class AttentionTab(_RenderedTab):
    """[Ret] attention per self-attention head over both images.

    Signals:
        options_changed(object): ``(head or None, background, keep_mass)``.
    """

    options_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.head = QComboBox(self)
        self.background = QComboBox(self)
        for text, value in (
            ("dimmed image", "dim"),
            ("image", "image"),
            ("black (as in the paper)", "black"),
        ):
            self.background.addItem(text, value)
        self.keep = QDoubleSpinBox(self)
        self.keep.setRange(0.05, 1.0)
        self.keep.setSingleStep(0.05)
        self.keep.setValue(0.6)
        self.keep.setToolTip("Share of each head's attention mass shown (DINO-style threshold)")
        for text, w in (("heads", self.head), ("background", self.background), ("mass kept", self.keep)):
            lab = QLabel(text, self)
            lab.setBuddy(w)
            self.controls.addWidget(lab)
            self.controls.addWidget(w)
        self.controls.addStretch(1)
        self.set_heads(1)
        self.head.currentIndexChanged.connect(self._on_control_changed)
        self.background.currentIndexChanged.connect(self._on_control_changed)
        self.keep.valueChanged.connect(self._on_control_changed)

    def set_heads(self, n: int) -> None:
        """Offer 'all heads' plus each of ``n`` heads."""
        _fill_heads(self.head, "all heads", n)

    def options(self) -> tuple[int | None, str, float]:
        return (self.head.currentData(), str(self.background.currentData()), float(self.keep.value()))

    def _on_control_changed(self, *args: object) -> None:
        self.options_changed.emit(self.options())


class SynthesisTab(_RenderedTab):
    """Sketch | patch mosaic | photo; pointing at a cell shows which photo cell it came from.

    Signals:
        options_changed(object): ``(show_grid, sketch_overlay_alpha)``.
        cell_pointed(str, int): hover or click on a cell of a panel; ("", -1) when off the panels.
    """

    options_changed = Signal(object)
    cell_pointed = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QCheckBox("cell grid", self)
        self.overlay = QDoubleSpinBox(self)
        self.overlay.setRange(0.0, 1.0)
        self.overlay.setSingleStep(0.1)
        self.overlay.setToolTip("Draw the sketch's ink over the mosaic (0 = off)")
        self.controls.addWidget(self.grid)
        lab = QLabel("sketch overlay", self)
        lab.setBuddy(self.overlay)
        self.controls.addWidget(lab)
        self.controls.addWidget(self.overlay)
        self.controls.addStretch(1)
        # the same defaults as the export options, so an export matches an untouched tab
        self.grid.setChecked(True)
        self.overlay.setValue(0.35)
        self._last: tuple[str, int] = ("", -1)
        self.grid.toggled.connect(self._on_control_changed)
        self.overlay.valueChanged.connect(self._on_control_changed)
        self.pane.hovered.connect(self._on_pane_hovered)
        self.pane.clicked.connect(self._on_pane_hovered)

    def options(self) -> tuple[bool, float]:
        return (self.grid.isChecked(), float(self.overlay.value()))

    def _on_control_changed(self, *args: object) -> None:
        self.options_changed.emit(self.options())

    def _on_pane_hovered(self, x: float, y: float) -> None:
        hit = self._hit(x, y) if x >= 0 else None
        now = hit if hit is not None else ("", -1)
        if now != self._last:
            self._last = now
            self.cell_pointed.emit(*now)


class KernelTab(_RenderedTab):
    """The relation network's anchor-by-anchor cosine kernel as a heat map."""


STALE_NOTE = "<span style='color:#b3261e'><b>Previous sketch</b></span> "


class ExplanationPanel(QWidget):
    """A header line and the explanation tabs (the four patch views and the Strokes tab)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = _info_label(self)
        self.header.setObjectName("explanationHeader")
        self.header.setText(NO_RESULT)
        self._header_html = NO_RESULT
        self.stale = False

        self.tabs = QTabWidget(self)
        self._dim = QGraphicsOpacityEffect(self.tabs)  # an explanation of an earlier sketch is faded
        self._dim.setOpacity(0.35)
        self._dim.setEnabled(False)
        self.tabs.setGraphicsEffect(self._dim)
        self.correspondences = CorrespondenceTab(self)
        self.attention = AttentionTab(self)
        self.synthesis = SynthesisTab(self)
        self.kernel = KernelTab(self)
        self.strokes = StrokesTab(self)
        self.tabs.addTab(self.correspondences, "Correspondences")
        self.tabs.addTab(self.attention, "[Ret] attention")
        self.tabs.addTab(self.synthesis, "Synthesis")
        self.tabs.addTab(self.kernel, "Relation kernel")
        self.tabs.addTab(self.strokes, "Strokes")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.header)
        lay.addWidget(self.tabs, 1)

    def set_header(self, html: str) -> None:
        self._header_html = html
        self.header.setText(STALE_NOTE + html if self.stale else html)

    def set_stale(self, stale: bool) -> None:
        """Mark what is shown as belonging to an earlier sketch (dimmed, not clickable) or current."""
        self.stale = stale
        self.tabs.setEnabled(not stale)
        self._dim.setEnabled(stale)
        self.header.setText(STALE_NOTE + self._header_html if stale else self._header_html)

    def clear(self, placeholder: str = NO_RESULT) -> None:
        """Empty every tab (the sketch changed or the result list did)."""
        self.stale = False
        self.tabs.setEnabled(True)
        self._dim.setEnabled(False)
        self.set_header(placeholder)
        for tab in (self.correspondences, self.attention, self.synthesis, self.kernel):
            tab.clear(placeholder)
        self.strokes.clear()
