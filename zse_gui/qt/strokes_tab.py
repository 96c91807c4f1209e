"""The Strokes tab: strokes coloured by what they do for the selected result, its replay curve, the
photo's occlusion map, and the match strength.

The images come from ``zse_gui.viz.strokes`` (set by the controller); hovering a stroke shows its
numbers, hit-tested against the panel transform the renderer returned.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from zse_gui.qt.contrast_pane import ContrastPane
from zse_gui.qt.image_pane import ImagePane
from zse_gui.sketch import StrokeSketch
from zse_gui.viz.strokes import StrokePanel, stroke_at

__all__ = ["StrokesTab"]

REPLAY_FRAME_MS = 700
NO_STROKES = "Select a result to see what each stroke does for it."


class StrokesTab(QWidget):
    """Attribution-coloured strokes (hover for numbers), the replay curve, the strength label.

    Signals:
        stroke_hovered(int): the stroke under the mouse (-1 = none), for tests and status lines.
        replay_step(int): the player moved to stroke k (1..S), or back to the curve (0); the main
            window's canvas and results grid follow it.

    The player: Play steps through the strokes; Stop, or the end of the drawing, goes back to the
    curve (and so the main window back to the real sketch); the slider scrubs to any stroke.
    """

    stroke_hovered = Signal(int)
    replay_step = Signal(int)
    contrast_requested = Signal(int)  # position of result B in the result list; -1 = back to A alone

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.strength = QLabel(self)
        self.strength.setObjectName("strengthLabel")
        self.strength.setTextFormat(Qt.TextFormat.RichText)
        self.versus = QComboBox(self)
        self.versus.setObjectName("contrastChoice")
        self.versus.setToolTip(
            "Why this result and not another: colour the strokes by how much more they support this "
            "result than the one chosen here (orange = towards this one, purple = towards the other)."
        )
        self.versus.setEnabled(False)
        self._versus_positions: list[int] = []
        self.versus.activated.connect(self._on_versus_activated)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.progress.setMaximumHeight(14)
        self.attribution = ImagePane(NO_STROKES, self)
        self.replay = ImagePane("", self)
        self.occlusion = ImagePane("", self)
        self.occlusion.setToolTip(
            "Photo occlusion: each window of the photo painted over in turn; brighter = the relation "
            "score fell more. The area under the deletion curve (masking the brightest windows "
            "first) is lower when the map found what the score depends on."
        )
        self.info = QLabel(self)
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setMinimumHeight(36)
        panes = QHBoxLayout()
        panes.addWidget(self.attribution, 1)
        # the replay pane shows the curve (slider at 0) or the drawing after stroke k beside its results
        self.play = QPushButton("Play", self)
        self.play.setToolTip("Replay the drawing stroke by stroke, with the top results after each stroke")
        self.step = QSlider(Qt.Orientation.Horizontal, self)
        self.step.setToolTip("0: the rank curve; k: the drawing after stroke k and its top results")
        self.step.setRange(0, 0)
        self.step_label = QLabel("curve", self)
        self._frames: list[np.ndarray] = []
        self._curve: np.ndarray | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(REPLAY_FRAME_MS)
        self._timer.timeout.connect(self._on_tick)
        self.play.clicked.connect(self._on_play)
        self.step.valueChanged.connect(self._on_step)
        self._set_player_enabled(False)
        player = QHBoxLayout()
        player.addWidget(self.play)
        player.addWidget(self.step, 1)
        player.addWidget(self.step_label)
        middle = QVBoxLayout()
        middle.addWidget(self.replay, 1)
        middle.addLayout(player)
        panes.addLayout(middle, 1)
        panes.addWidget(self.occlusion, 1)
        self.contrast = ContrastPane(self)  # why this and not B: takes the replay's and occlusion's place
        panes.addWidget(self.contrast, 2)
        self.contrast.shown.connect(self._on_contrast_shown)
        self._a_only = [self.replay, self.play, self.step, self.step_label, self.occlusion]
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        top = QHBoxLayout()
        top.addWidget(self.strength, 1)
        top.addWidget(QLabel("Why this and not", self))
        top.addWidget(self.versus)
        lay.addLayout(top)
        lay.addWidget(self.progress)
        lay.addLayout(panes, 1)
        lay.addWidget(self.info)
        self._sketch: StrokeSketch | None = None
        self._panel: StrokePanel | None = None
        self._rows: list[str] = []
        self._summary = ""
        self._hover = -1
        self.attribution.hovered.connect(self._on_attribution_hovered)

    # ---- setters
    def set_strength(self, text: str, tooltip: str) -> None:
        self.strength.setText(text)
        self.strength.setToolTip(tooltip)

    def set_progress(self, done: int, total: int, text: str = "") -> None:
        """Show progress (hidden once done >= total)."""
        busy = total > 0 and done < total
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"{text} %v/%m" if text else "%v/%m")

    def set_attribution(
        self, image: np.ndarray, sketch: StrokeSketch, panel: StrokePanel, rows: list[str], summary: str
    ) -> None:
        """The coloured strokes, what to hit-test against, one hover text per stroke, a summary."""
        self.attribution.set_image(image, NO_STROKES)
        self._sketch, self._panel, self._rows, self._summary = sketch, panel, rows, summary
        self.info.setText(summary)

    def set_replay(
        self, image: np.ndarray | None, text: str = "", frames: list[np.ndarray] | None = None
    ) -> None:
        """The rank curve and, when given, one animation frame per stroke for the player."""
        self._timer.stop()
        self._curve = image
        self._frames = list(frames or [])
        self.step.blockSignals(True)
        self.step.setRange(0, len(self._frames))
        self.step.setValue(0)
        self.step.blockSignals(False)
        self.step_label.setText("curve")
        self.play.setText("Play")
        self._set_player_enabled(bool(self._frames))
        self.replay.set_image(image, text)
        self.replay_step.emit(0)

    def stop_player(self) -> None:
        """Stop playing and go back to the curve (emits ``replay_step(0)`` if it was on a stroke)."""
        self._timer.stop()
        self.play.setText("Play")
        self.step.setValue(0)

    def _set_player_enabled(self, on: bool) -> None:
        for w in (self.play, self.step, self.step_label):
            w.setEnabled(on)

    def _on_step(self, k: int) -> None:
        if 1 <= k <= len(self._frames):
            self.step_label.setText(f"stroke {k}/{len(self._frames)}")
            self.replay.set_image(self._frames[k - 1], "")
        else:
            self.step_label.setText("curve")
            self.replay.set_image(self._curve, "")
        self.replay_step.emit(k if 1 <= k <= len(self._frames) else 0)

    def _on_play(self) -> None:
        if self._timer.isActive():  # Stop: back to the curve and the real sketch
            self.stop_player()
            return
        if self.step.value() >= len(self._frames):
            self.step.setValue(0)
        self.play.setText("Stop")
        self._timer.start()

    def _on_tick(self) -> None:
        k = self.step.value() + 1
        if k > len(self._frames):  # the end: back to the curve
            self.stop_player()
            return
        self.step.setValue(k)

    def set_versus_choices(self, labels: list[str], positions: list[int]) -> None:
        """The results B can be (``labels[i]`` is result list position ``positions[i]``)."""
        self.versus.blockSignals(True)
        self.versus.clear()
        self.versus.addItem("(only this result)")
        self.versus.addItems(labels)
        self.versus.setCurrentIndex(0)
        self.versus.blockSignals(False)
        self._versus_positions = list(positions)
        self.versus.setEnabled(bool(positions))

    def _on_versus_activated(self, row: int) -> None:
        self.contrast_requested.emit(self._versus_positions[row - 1] if row > 0 else -1)

    def set_occlusion(self, image: np.ndarray | None, text: str = "") -> None:
        self.occlusion.set_image(image, text)

    def clear(self, placeholder: str = NO_STROKES) -> None:
        self.attribution.set_image(None, placeholder)
        self.set_replay(None, "")
        self.occlusion.set_image(None, "")
        self.set_versus_choices([], [])
        self.contrast.clear()
        self._sketch = self._panel = None
        self._rows, self._summary = [], ""
        self.info.setText("")
        self.strength.setText("")
        self.strength.setToolTip("")
        self.progress.setVisible(False)

    def _on_contrast_shown(self, on: bool) -> None:
        """While B is chosen, its contrast stands where A's own replay and occlusion were."""
        for w in self._a_only:
            w.setVisible(not on)

    def hover_text(self, stroke: int) -> str:
        return self._rows[stroke] if 0 <= stroke < len(self._rows) else ""

    # ---- events
    def _on_attribution_hovered(self, x: float, y: float) -> None:
        k = -1
        if x >= 0 and self._sketch is not None and self._panel is not None:
            hit = stroke_at(self._sketch, self._panel, x, y)
            k = -1 if hit is None else hit
        if k == self._hover:
            return
        self._hover = k
        self.stroke_hovered.emit(k)
        text = self.hover_text(k)
        self.info.setText(text or self._summary)
        if text:
            QToolTip.showText(QCursor.pos(), text, self.attribution)
        else:
            QToolTip.hideText()
