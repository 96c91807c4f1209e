"""The drawing canvas: vector strokes on a fixed logical canvas, shown scaled to the widget.

Strokes live in logical canvas pixels (``StrokeDocument.canvas_size``, 512 x 512 by default), so a
sketch does not change when the window is resized, and a saved session redraws the same strokes.
The canvas renders what it holds and emits intents; it never runs inference.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from zse_gui.qt.strokes import SketchImage, StrokeDocument, smooth_points, stroke_hits
from zse_gui.sketch import Stroke, StrokeSketch

__all__ = ["SketchCanvas"]

log = logging.getLogger(__name__)

ERASER_RADIUS = 10.0  # screen pixels, so the eraser feels the same at any zoom
MIN_POINT_STEP = 1.0  # logical pixels between recorded points; denser input adds nothing


class SketchCanvas(QWidget):
    """A white square to draw on with the mouse or a pen.

    Signals:
        strokes_changed(StrokeSketch): the visible strokes changed, including while a stroke is
            being drawn (for live retrieval).
        edited(): a finished edit (stroke, erase, undo, redo, clear, load), for autosave.
        history_changed(bool, bool): can undo, can redo.
        image_changed(SketchImage | None): the sketch image under the strokes changed (opened, or
            removed / restored by Clear, undo and redo); emitted before ``strokes_changed``.
        preview_interrupted(): the user pressed on the canvas, or an edit (undo, redo, clear,
            load) came, while a replay preview was on show; the preview has already ended.

    Replay preview: ``show_preview`` paints another sketch (a replayed prefix) instead of the
    document, which it leaves untouched (strokes, image, undo history). While it is on show the
    canvas is read-only: a press only ends the preview (it draws nothing, so no stroke lands on a
    drawing the user was not looking at), and an edit ends it before it applies.
    """

    strokes_changed = Signal(object)
    edited = Signal()
    history_changed = Signal(bool, bool)
    image_changed = Signal(object)
    preview_interrupted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = StrokeDocument()
        self.pen_width = 4.0
        self.smoothing = True
        self.tool = "pen"
        self._current: list[tuple[float, float]] = []
        self._erasing: set[int] = set()
        self._hover: QPointF | None = None
        self._background: QPixmap | None = None
        self._shown_image: SketchImage | None = None
        self._preview: StrokeSketch | None = None
        self._preview_note = ""
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setObjectName("sketchCanvas")
        self.setAccessibleName("Sketch canvas")

    # ------------------------------------------------------------ setters (no signals but edits)
    def set_pen_width(self, width: float) -> None:
        self.pen_width = float(width)

    def set_smoothing(self, on: bool) -> None:
        self.smoothing = bool(on)

    def set_tool(self, tool: str) -> None:
        """``"pen"`` or ``"eraser"`` (removes whole strokes)."""
        if tool not in ("pen", "eraser"):
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self.update()

    def _sync_image(self) -> bool:
        """Show the document's current sketch image; True when it changed."""
        img = self.doc.image
        if img is self._shown_image:
            return False
        self._shown_image = img
        if img is None:
            self._background = None
        else:
            arr = np.ascontiguousarray(img.rgb, dtype=np.uint8)
            h, w = arr.shape[:2]
            qimg = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            self._background = QPixmap.fromImage(qimg)
        return True

    def sketch(self) -> StrokeSketch:
        """The finished strokes (without one being drawn); never a replay preview."""
        return self.doc.sketch()

    # ------------------------------------------------------------ replay preview
    @property
    def previewing(self) -> bool:
        """Whether a replay preview is on show (the canvas is then read-only)."""
        return self._preview is not None

    def show_preview(self, sketch: StrokeSketch, note: str = "") -> bool:
        """Paint ``sketch`` (without the sketch image) instead of the document, with ``note`` on
        top; the document is not touched. Refused (False) while a stroke is being drawn or
        erased: that unfinished edit is the user's and must not vanish under a replay."""
        if self._current or self._erasing:
            return False
        self._preview, self._preview_note = sketch, note
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.update()
        return True

    def end_preview(self) -> None:
        """Show the document again (no signal; nothing was changed)."""
        if self._preview is None:
            return
        self._preview, self._preview_note = None, ""
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.update()

    def _interrupt_preview(self) -> None:
        if self._preview is not None:
            self.end_preview()
            self.preview_interrupted.emit()

    # ------------------------------------------------------------ edits
    def load_sketch(self, sketch: StrokeSketch, image: SketchImage | None = None) -> None:
        """Replace the strokes and the image under them (one undoable edit)."""
        self._interrupt_preview()
        self.doc.replace_all(sketch.strokes, sketch.canvas_size, image)
        self._after_edit()

    def undo(self) -> None:
        self._interrupt_preview()
        if self.doc.undo():
            self._after_edit()

    def redo(self) -> None:
        self._interrupt_preview()
        if self.doc.redo():
            self._after_edit()

    def clear(self) -> None:
        """Remove every stroke and the sketch image under them (undoable)."""
        self._interrupt_preview()
        if self.doc.clear():
            self._after_edit()

    def _after_edit(self) -> None:
        if self._sync_image():
            self.image_changed.emit(self.doc.image)
        self.update()
        self.history_changed.emit(self.doc.can_undo, self.doc.can_redo)
        self.strokes_changed.emit(self.doc.sketch())
        self.edited.emit()

    # ------------------------------------------------------------ geometry
    def _view_rect(self) -> QRectF:
        """Where the logical canvas is drawn: the largest centred rect with its aspect ratio."""
        cw, ch = self.doc.canvas_size
        scale = min(self.width() / cw, self.height() / ch)
        w, h = cw * scale, ch * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _scale(self) -> float:
        return self._view_rect().width() / self.doc.canvas_size[0]

    def to_canvas(self, pos: QPointF) -> tuple[float, float]:
        """Widget position -> logical canvas pixels (clamped to the canvas)."""
        r = self._view_rect()
        s = self._scale()
        cw, ch = self.doc.canvas_size
        x = min(max((pos.x() - r.x()) / s, 0.0), cw - 1.0)
        y = min(max((pos.y() - r.y()) / s, 0.0), ch - 1.0)
        return (x, y)

    def to_widget(self, xy: tuple[float, float]) -> QPointF:
        """Logical canvas pixels -> widget position."""
        r = self._view_rect()
        s = self._scale()
        return QPointF(r.x() + xy[0] * s, r.y() + xy[1] * s)

    # ------------------------------------------------------------ mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._preview is not None:  # read-only while replaying: a press returns to the drawing
            self._interrupt_preview()
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if not self._view_rect().contains(event.position()):
            # A press on the grey margin around the page starts nothing: clamped to the border it
            # would leave a dot the user cannot see, which still changes the search.
            return
        xy = self.to_canvas(event.position())
        if self.tool == "pen":
            self._current = [xy]
            self._emit_live()
        else:
            self._erasing = set()
            self._erase_at(xy)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._hover = event.position()
        if self._preview is not None:
            return
        if not event.buttons() & Qt.MouseButton.LeftButton:
            if self.tool == "eraser":
                self.update()
            return
        xy = self.to_canvas(event.position())
        if self.tool == "pen" and self._current:
            last = self._current[-1]
            if abs(xy[0] - last[0]) + abs(xy[1] - last[1]) >= MIN_POINT_STEP:
                self._current.append(xy)
                self._emit_live()
        elif self.tool == "eraser":
            self._erase_at(xy)
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._preview is not None or event.button() != Qt.MouseButton.LeftButton:
            return
        if self.tool == "pen" and self._current:
            pts = np.asarray(self._current, dtype=np.float32)
            self._current = []
            if self.smoothing:
                pts = smooth_points(pts)
            self.doc.add(Stroke(points=pts, width=self.pen_width))
            self._after_edit()
        elif self.tool == "eraser":
            hits, self._erasing = self._erasing, set()
            if self.doc.erase(hits):
                self._after_edit()
            else:
                self.update()

    def leaveEvent(self, event: object) -> None:
        self._hover = None
        self.update()

    def _erase_at(self, xy: tuple[float, float]) -> None:
        radius = ERASER_RADIUS / max(self._scale(), 1e-6)
        for i, s in enumerate(self.doc.strokes):
            if i not in self._erasing and stroke_hits(s, xy, radius):
                self._erasing.add(i)
        # erased strokes vanish at once; the document changes (one undo step) on release
        self.strokes_changed.emit(self._live_sketch())

    def _live_sketch(self) -> StrokeSketch:
        strokes = tuple(s for i, s in enumerate(self.doc.strokes) if i not in self._erasing)
        if len(self._current) >= 1:
            strokes += (Stroke(points=np.asarray(self._current, dtype=np.float32), width=self.pen_width),)
        return StrokeSketch(strokes=strokes, canvas_size=self.doc.canvas_size)

    def _emit_live(self) -> None:
        self.strokes_changed.emit(self._live_sketch())

    # ------------------------------------------------------------ painting
    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), self.palette().window())
        r = self._view_rect()
        p.fillRect(r, QColor("white"))
        if self._background is not None:
            p.drawPixmap(r.toRect(), self._background)
        p.setPen(QPen(QColor(170, 170, 170), 1))
        p.drawRect(r.adjusted(0, 0, -1, -1))
        s = self._scale()
        if self._preview is not None:
            self._paint_preview(p, r, s)
            p.end()
            return
        for i, stroke in enumerate(self.doc.strokes):
            colour = QColor(200, 200, 200) if i in self._erasing else QColor(0, 0, 0)
            self._draw_stroke(p, stroke.points, stroke.width * s, colour)
        if self._current:
            self._draw_stroke(p, np.asarray(self._current), self.pen_width * s, QColor(0, 0, 0))
        if self.tool == "eraser" and self._hover is not None:
            p.setPen(QPen(QColor(200, 60, 60), 1, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(self._hover, ERASER_RADIUS, ERASER_RADIUS)
        if not self.doc.strokes and not self._current and self._background is None:
            p.setPen(QColor(150, 150, 150))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "Draw here")
        p.end()

    def _paint_preview(self, p: QPainter, r: QRectF, s: float) -> None:
        """A replayed prefix: its strokes in dark blue (not the user's black), with a note."""
        for stroke in self._preview.strokes if self._preview is not None else ():
            self._draw_stroke(p, stroke.points, stroke.width * s, QColor(30, 70, 160))
        if self._preview_note:
            band = QRectF(r.x() + 1, r.y() + 1, r.width() - 2, 24)
            p.fillRect(band, QColor(30, 70, 160, 215))
            p.setPen(QColor("white"))
            p.drawText(band.adjusted(6, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter, self._preview_note)

    def _draw_stroke(self, p: QPainter, points: np.ndarray, width: float, colour: QColor) -> None:
        pen = QPen(
            colour, max(width, 1.0), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin
        )
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        pts = [self.to_widget((float(x), float(y))) for x, y in np.asarray(points)]
        if len(pts) == 1:
            p.drawPoint(pts[0])
            return
        path = QPainterPath(pts[0])
        for q in pts[1:]:
            path.lineTo(q)
        p.drawPath(path)
