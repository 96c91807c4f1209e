"""The canvas's document: vector strokes with undo/redo, eraser hit tests, smoothing and JSON IO.

Plain Python + numpy (no Qt), so it is tested directly and shared by the canvas, sessions and
autosave. Every state is an immutable tuple of ``Stroke`` plus the sketch image under them (if one
was opened); undo/redo keeps whole states, which is cheap because unchanged strokes and images are
shared between states.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zse_gui.engine.types import Stroke, StrokeSketch
from zse_gui.errors import InvalidSketchError

__all__ = [
    "SketchImage",
    "StrokeDocument",
    "sketch_from_json",
    "sketch_to_json",
    "smooth_points",
    "stroke_hits",
    "load_sketch_file",
]

log = logging.getLogger(__name__)

CANVAS_SIZE = (512, 512)
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


def sketch_to_json(sketch: StrokeSketch) -> dict[str, object]:
    """A StrokeSketch as a JSON-ready dict (points rounded to 0.01 px)."""
    return {
        "canvas_size": list(sketch.canvas_size),
        "strokes": [
            {"width": float(s.width), "points": np.round(np.asarray(s.points, np.float64), 2).tolist()}
            for s in sketch.strokes
        ],
    }


def sketch_from_json(data: object) -> StrokeSketch:
    """Parse :func:`sketch_to_json` output.

    Raises:
        InvalidSketchError: the data is not a stroke sketch; the message names what is wrong.
    """
    if not isinstance(data, dict) or "strokes" not in data:
        raise InvalidSketchError("not a stroke sketch: expected an object with 'strokes' and 'canvas_size'")
    try:
        w, h = (int(v) for v in data.get("canvas_size", CANVAS_SIZE))
        strokes = []
        for i, s in enumerate(data["strokes"]):
            pts = np.asarray(s["points"], dtype=np.float32).reshape(-1, 2)
            if not np.isfinite(pts).all():
                raise ValueError(f"stroke {i} has non-finite points")
            strokes.append(Stroke(points=pts, width=float(s.get("width", 3.0))))
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidSketchError(f"malformed stroke sketch: {exc}") from exc
    if w <= 0 or h <= 0:
        raise InvalidSketchError(f"canvas_size must be positive, got {(w, h)}")
    return StrokeSketch(strokes=tuple(strokes), canvas_size=(w, h))


def load_sketch_file(path: str | Path) -> StrokeSketch:
    """Read a stroke JSON file (the app's own format, or a session file's strokes).

    Raises:
        InvalidSketchError: unreadable or not a stroke sketch.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSketchError(f"cannot read sketch {p}: {exc}") from exc
    if isinstance(data, dict) and "sketch" in data and "strokes" not in data:
        data = data["sketch"]  # a session file: take its strokes
    return sketch_from_json(data)


def fit_sketch(sketch: StrokeSketch, canvas_size: tuple[int, int], margin: float = 0.08) -> StrokeSketch:
    """Scale and centre a sketch's ink into a canvas (used for drawings from other canvases).

    Pen widths scale with the drawing so the look is kept.
    """
    pts = [np.asarray(s.points, np.float32) for s in sketch.strokes if len(s.points)]
    if not pts:
        return StrokeSketch(strokes=(), canvas_size=canvas_size)
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1.0))
    avail = min(canvas_size) * (1 - 2 * margin)
    scale = avail / span
    centre_src = (lo + hi) / 2
    centre_dst = np.asarray(canvas_size, np.float32) / 2
    strokes = tuple(
        Stroke(
            points=((np.asarray(s.points, np.float32) - centre_src) * scale + centre_dst).astype(np.float32),
            width=max(1.0, float(s.width) * scale),
        )
        for s in sketch.strokes
        if len(s.points)
    )
    return StrokeSketch(strokes=strokes, canvas_size=canvas_size)
