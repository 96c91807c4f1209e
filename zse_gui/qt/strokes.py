"""The canvas's document: vector strokes with undo/redo, eraser hit tests and smoothing.

Plain Python + numpy (no Qt), so it is tested directly. Every state is an immutable tuple of
``Stroke`` plus the sketch image under them (if one was opened); undo/redo keeps whole states,
which is cheap because unchanged strokes and images are shared between states. The strokes'
types and JSON form live in ``zse_gui.sketch``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from zse_gui.sketch import CANVAS_SIZE, Stroke, StrokeSketch

__all__ = [
    "SketchImage",
    "StrokeDocument",
    "smooth_points",
    "stroke_hits",
]

log = logging.getLogger(__name__)

MAX_HISTORY = 200


@dataclass(frozen=True, eq=False)
class SketchImage:
    """A sketch image opened onto the canvas: shown under the strokes and searched with them.

    Attributes:
        rgb: [H, W, 3] uint8 pixels.
        source: the file it came from.
    """

    rgb: np.ndarray
    source: str


_KEEP = object()  # "keep the current image" in StrokeDocument edits


class StrokeDocument:
    """Strokes in drawing order and an optional sketch image, with an undo/redo history of whole
    states (so undoing Clear brings back an image as well as the strokes)."""

    def __init__(self, canvas_size: tuple[int, int] = CANVAS_SIZE) -> None:
        self.canvas_size = canvas_size
        self._states: list[tuple[Stroke, ...]] = [()]
        self._images: list[SketchImage | None] = [None]  # parallel to _states
        self._pos = 0

    @property
    def strokes(self) -> tuple[Stroke, ...]:
        """The current strokes."""
        return self._states[self._pos]

    @property
    def image(self) -> SketchImage | None:
        """The current sketch image under the strokes, if any."""
        return self._images[self._pos]

    def sketch(self) -> StrokeSketch:
        """The current strokes as the engine's input type."""
        return StrokeSketch(strokes=self.strokes, canvas_size=self.canvas_size)

    @property
    def can_undo(self) -> bool:
        return self._pos > 0

    @property
    def can_redo(self) -> bool:
        return self._pos < len(self._states) - 1

    def _push(self, state: tuple[Stroke, ...], image: object = _KEEP) -> None:
        img = self.image if image is _KEEP else image
        assert img is None or isinstance(img, SketchImage)
        # a new edit after undos forks history: the redo branch is dropped, as in every editor
        del self._states[self._pos + 1 :]
        del self._images[self._pos + 1 :]
        self._states.append(state)
        self._images.append(img)
        if len(self._states) > MAX_HISTORY:
            del self._states[0]
            del self._images[0]
        self._pos = len(self._states) - 1

    def add(self, stroke: Stroke) -> None:
        """Append a finished stroke."""
        self._push((*self.strokes, stroke))

    def erase(self, indices: set[int]) -> bool:
        """Remove whole strokes by index; returns False (no history entry) when nothing matched."""
        if not indices:
            return False
        self._push(tuple(s for i, s in enumerate(self.strokes) if i not in indices))
        return True

    def clear(self) -> bool:
        """Remove every stroke and the sketch image (undoable); False when already empty."""
        if not self.strokes and self.image is None:
            return False
        self._push((), None)
        return True

    def replace_all(
        self,
        strokes: tuple[Stroke, ...],
        canvas_size: tuple[int, int] | None = None,
        image: SketchImage | None = None,
    ) -> None:
        """Load strokes and the image under them (a file, a session): one undoable edit."""
        if canvas_size is not None:
            self.canvas_size = canvas_size
        self._push(tuple(strokes), image)

    def undo(self) -> bool:
        if not self.can_undo:
            return False
        self._pos -= 1
        return True

    def redo(self) -> bool:
        if not self.can_redo:
            return False
        self._pos += 1
        return True


def smooth_points(points: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Chaikin corner cutting: rounds the jitter of a hand-drawn polyline, keeps its end points.

    Args:
        points: [N, 2] float32 polyline.
        iterations: rounds of corner cutting (each roughly doubles N).

    Returns:
        [M, 2] float32 smoothed polyline (the input unchanged when N < 3).
    """
    pts = np.asarray(points, dtype=np.float32)
    if len(pts) < 3:
        return pts
    for _ in range(iterations):
        a, b = pts[:-1], pts[1:]
        q = 0.75 * a + 0.25 * b
        r = 0.25 * a + 0.75 * b
        mid = np.stack([q, r], axis=1).reshape(-1, 2)
        pts = np.concatenate([pts[:1], mid, pts[-1:]], axis=0)
    return pts.astype(np.float32)


def stroke_hits(stroke: Stroke, xy: tuple[float, float], radius: float) -> bool:
    """Whether a point lies within ``radius`` (+ half the pen width) of a stroke's polyline."""
    pts = np.asarray(stroke.points, dtype=np.float32)
    p = np.asarray(xy, dtype=np.float32)
    reach = radius + stroke.width / 2
    if len(pts) == 1:
        return float(np.linalg.norm(pts[0] - p)) <= reach
    a, b = pts[:-1], pts[1:]
    ab = b - a
    denom = np.maximum((ab * ab).sum(axis=1), 1e-9)
    t = np.clip(((p - a) * ab).sum(axis=1) / denom, 0.0, 1.0)
    closest = a + t[:, None] * ab
    return bool((np.linalg.norm(closest - p, axis=1) <= reach).any())
