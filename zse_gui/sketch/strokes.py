"""Vector sketches: strokes, their JSON form, and fitting a drawing into a canvas.

A stroke is a polyline in canvas pixels (x right, y down) with a pen width; a ``StrokeSketch`` is
the strokes in drawing order plus the canvas they were drawn on. The JSON form is the one the app
saves (stroke files, sessions, autosave) and the one export sidecars carry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zse_gui.errors import InvalidSketchError

__all__ = [
    "CANVAS_SIZE",
    "Stroke",
    "StrokeSketch",
    "fit_sketch",
    "read_stroke_file",
    "sketch_from_json",
    "sketch_to_json",
]

CANVAS_SIZE = (512, 512)  # the app's drawing canvas, (width, height) in pixels


@dataclass(frozen=True)
class Stroke:
    """One pen stroke.

    Attributes:
        points: [N, 2] float32 polyline vertices (x, y) in canvas pixels, N >= 1.
        width: pen width in canvas pixels.
    """

    points: np.ndarray
    width: float = 3.0


@dataclass(frozen=True)
class StrokeSketch:
    """A vector sketch as drawn on a canvas: black strokes on white.

    Attributes:
        strokes: the strokes in drawing order.
        canvas_size: (width, height) of the canvas in pixels.
    """

    strokes: tuple[Stroke, ...]
    canvas_size: tuple[int, int]

    @property
    def is_empty(self) -> bool:
        return not any(len(s.points) for s in self.strokes)

    @property
    def ink_extent(self) -> float:
        """The longer side of the ink's bounding box in canvas pixels, pen width included (0 when
        empty). A dot is about its pen width; a drawing, a good part of the canvas."""
        pts = [np.asarray(s.points, np.float64).reshape(-1, 2) for s in self.strokes if len(s.points)]
        if not pts:
            return 0.0
        xy = np.concatenate(pts)
        pen = max(float(s.width) for s in self.strokes if len(s.points))
        return float(np.ptp(xy, axis=0).max()) + pen

    @property
    def ink_share(self) -> float:
        """``ink_extent`` over the canvas's longer side: how much of the canvas the drawing spans."""
        return self.ink_extent / max(max(self.canvas_size), 1)


def sketch_to_json(sketch: StrokeSketch) -> dict[str, Any]:
    """``{"canvas_size": [w, h], "strokes": [{"width": w, "points": [[x, y], ...]}, ...]}``.

    Points are rounded to 0.01 px.
    """
    return {
        "canvas_size": [int(sketch.canvas_size[0]), int(sketch.canvas_size[1])],
        "strokes": [
            {"width": float(s.width), "points": np.round(np.asarray(s.points, np.float64), 2).tolist()}
            for s in sketch.strokes
        ],
    }


def sketch_from_json(data: object) -> StrokeSketch:
    """Parse :func:`sketch_to_json` output (points come back as [N, 2] float32).

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
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidSketchError(f"malformed stroke sketch: {exc}") from exc
    if w <= 0 or h <= 0:
        raise InvalidSketchError(f"canvas_size must be positive, got {(w, h)}")
    return StrokeSketch(strokes=tuple(strokes), canvas_size=(w, h))


def read_stroke_file(path: str | os.PathLike[str]) -> StrokeSketch:
    """Read a stroke JSON file (the app's own format, or the strokes of a session file).

    Raises:
        InvalidSketchError: unreadable, not JSON, or not a stroke sketch.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSketchError(f"cannot read sketch {p}: {exc}") from exc
    if isinstance(data, dict) and "sketch" in data and "strokes" not in data:
        data = data["sketch"]  # a session file: take its strokes
    return sketch_from_json(data)


def fit_sketch(
    sketch: StrokeSketch, canvas_size: tuple[int, int], margin: float = 0.08, scale_width: bool = True
) -> StrokeSketch:
    """Scale and centre a sketch's ink into a canvas (for drawings made on other canvases).

    Args:
        sketch: the drawing.
        canvas_size: (width, height) of the target canvas.
        margin: free border on each side, as a fraction of the shorter canvas side.
        scale_width: scale pen widths with the drawing (keeps its look); False keeps each
            stroke's width as it is (a doodle drawn with the user's pen).
    """
    pts = [np.asarray(s.points, np.float32) for s in sketch.strokes if len(s.points)]
    if not pts:
        return StrokeSketch(strokes=(), canvas_size=canvas_size)
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1.0))
    scale = min(canvas_size) * (1 - 2 * margin) / span
    centre_src = (lo + hi) / 2
    centre_dst = np.asarray(canvas_size, np.float32) / 2
    strokes = tuple(
        Stroke(
            points=((np.asarray(s.points, np.float32) - centre_src) * scale + centre_dst).astype(np.float32),
            width=max(1.0, float(s.width) * scale) if scale_width else float(s.width),
        )
        for s in sketch.strokes
        if len(s.points)
    )
    return StrokeSketch(strokes=strokes, canvas_size=canvas_size)
