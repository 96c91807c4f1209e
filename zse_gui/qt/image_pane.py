"""A widget that shows one rendered uint8 RGB image, scaled to fit, and reports clicks in image pixels."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["ImagePane", "to_qimage"]


def to_qimage(rgb: np.ndarray) -> QImage:
    """[H, W, 3] uint8 RGB -> a QImage that owns its pixels (safe after the array is freed)."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an [H, W, 3] uint8 image, got shape {arr.shape}")
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ImagePane(QWidget):
    """Shows a rendered view at the largest size that fits, never upscaled beyond 2x.

    Signals:
        clicked(float, float): a left click at (x, y) in image pixels (inside the image only).
        hovered(float, float): the mouse moved to (x, y) in image pixels; (-1, -1) when it left.
    """

    clicked = Signal(float, float)
    hovered = Signal(float, float)

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder = placeholder
        self._boxes: list[tuple[tuple[float, float, float, float], QColor]] = []
        self.setMouseTracking(True)
        self.setMinimumSize(200, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, rgb: np.ndarray | None, placeholder: str | None = None) -> None:
        """Show an image, or the placeholder text when None."""
        self._image = None if rgb is None else to_qimage(rgb)
        self._boxes = []
        if placeholder is not None:
            self._placeholder = placeholder
        self.update()

    def set_overlay(self, boxes: list[tuple[tuple[float, float, float, float], str]]) -> None:
        """Outline boxes (x0, y0, x1, y1 in image pixels) over the image, e.g. a hovered cell."""
        self._boxes = [(b, QColor(c)) for b, c in boxes]
        self.update()

    def overlay(self) -> list[tuple[float, float, float, float]]:
        """The outlined boxes, in image pixels."""
        return [b for b, _ in self._boxes]

    def has_image(self) -> bool:
        return self._image is not None

    def sizeHint(self) -> QSize:
        if self._image is None:
            return QSize(480, 300)
        return self._image.size()

    def _target(self) -> QRectF:
        """Where the image is drawn in widget coordinates."""
        if self._image is None:
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih, 2.0)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def to_image(self, pos: QPointF) -> tuple[float, float] | None:
        """Widget position -> image pixels, None outside the image."""
        r = self._target()
        if self._image is None or not r.contains(pos):
            return None
        s = r.width() / self._image.width()
        return ((pos.x() - r.x()) / s, (pos.y() - r.y()) / s)

    def image_to_widget(self, x: float, y: float) -> QPointF:
        """Image pixels -> widget position (tests click through this)."""
        r = self._target()
        s = r.width() / self._image.width() if self._image is not None else 1.0
        return QPointF(r.x() + x * s, r.y() + y * s)

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().base())
        if self._image is None:
            p.setPen(QColor(130, 130, 130))
            p.drawText(
                self.rect().adjusted(12, 12, -12, -12),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._placeholder,
            )
        else:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(self._target(), self._image)
            for (x0, y0, x1, y1), colour in self._boxes:
                a, b = self.image_to_widget(x0, y0), self.image_to_widget(x1, y1)
                p.setPen(QPen(colour, 3))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(QRectF(a, b))
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        xy = self.to_image(event.position())
        if xy is not None:
            self.clicked.emit(*xy)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        xy = self.to_image(event.position())
        self.hovered.emit(*(xy if xy is not None else (-1.0, -1.0)))

    def leaveEvent(self, event: object) -> None:
        self.hovered.emit(-1.0, -1.0)
