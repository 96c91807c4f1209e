"""The Strokes tab's contrast area: why result A and not result B, per sketch patch, and both
results' correspondences side by side, with an export button.

Shown only while a result B is chosen in the tab's "Why this and not" list, in the place of result
A's own replay and occlusion panes (``shown`` tells the tab); the images come from
``zse_gui.viz.contrast`` (set by the controller).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from zse_gui.qt.image_pane import ImagePane

__all__ = ["ContrastPane"]


class ContrastPane(QWidget):
    """Per-patch contrast map | correspondences of A and of B, a summary line and Export.

    Signals:
        export_requested(str): a base file name was chosen for the contrast files.
    """

    export_requested = Signal(str)
    shown = Signal(bool)  # the area opened (True) or closed: the tab makes room for it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.patches = ImagePane("", self)
        self.patches.setToolTip(
            "Each inked patch of the sketch painted white in turn, scored with both results: orange "
            "patches pull towards this result (masking them costs it more than the other), purple "
            "ones towards the other."
        )
        self.correspondences = ImagePane("", self)
        self.correspondences.setToolTip(
            "Token correspondences of this result (top) and of the other one (below), drawn with the "
            "Correspondences tab's settings when the contrast arrived (an export uses the current ones)."
        )
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.export = QPushButton("Export contrast…", self)
        self.export.setToolTip("Write the contrast as PNG, SVG and PDF with a JSON sidecar of the numbers")
        self.export.setEnabled(False)
        self.export.clicked.connect(self._on_export_clicked)
        images = QHBoxLayout()
        images.addWidget(self.patches, 1)
        images.addWidget(self.correspondences, 2)
        foot = QHBoxLayout()
        foot.addWidget(self.text, 1)
        foot.addWidget(self.export)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(images, 1)
        lay.addLayout(foot)
        self._open = False
        self._summary = ""
        self._export_base = "why"
        self._cell_at: Callable[[float, float], int | None] | None = None
        self._cell_texts: list[str] = []
        self.patches.hovered.connect(self._on_patches_hovered)
        self.setVisible(False)

    def set_contrast(
        self,
        patches: np.ndarray | None,
        correspondences: np.ndarray | None,
        text: str,
        cell_at: Callable[[float, float], int | None] | None = None,
        cell_texts: list[str] | None = None,
        export_base: str = "",
    ) -> None:
        """Show the two images (None = still being computed) and the summary; Export once complete.

        ``cell_at(x, y)`` maps a pixel of the patch image to a patch id, whose hover line is
        ``cell_texts[id]``. ``export_base`` is the base name the Export dialog offers (the files add
        ``_contrast...`` to it).
        """
        self._summary, self._cell_at, self._cell_texts = text, cell_at, list(cell_texts or [])
        self._export_base = export_base or "why"
        self.patches.set_image(patches, "Scoring the sketch with each patch masked…")
        self.correspondences.set_image(correspondences, "")
        self.text.setText(text)
        self.export.setEnabled(patches is not None and correspondences is not None)
        self._set_open(True)

    def clear(self) -> None:
        self._summary, self._cell_at, self._cell_texts = "", None, []
        self.patches.set_image(None, "")
        self.correspondences.set_image(None, "")
        self.text.setText("")
        self.export.setEnabled(False)
        self._set_open(False)

    def is_open(self) -> bool:
        return self._open

    def _set_open(self, on: bool) -> None:
        if on != self._open:
            self._open = on
            self.setVisible(on)
            self.shown.emit(on)

    def has_contrast(self) -> bool:
        return self.patches.has_image() and self.correspondences.has_image()

    def _on_patches_hovered(self, x: float, y: float) -> None:
        cell = self._cell_at(x, y) if self._cell_at is not None and x >= 0 else None
        text = self._cell_texts[cell] if cell is not None and 0 <= cell < len(self._cell_texts) else ""
        self.text.setText(text or self._summary)

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export contrast (base name)", self._export_base, "All files (*)"
        )
        if path:
            self.export_requested.emit(path)
