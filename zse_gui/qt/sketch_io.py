"""Loading sketches into the canvas and turning the canvas into a query (no Qt).

A sketch file can be the app's stroke JSON, a QuickDraw ``.ndjson`` drawing (both become vector
strokes) or an image (shown under the strokes; strokes drawn on it are composited in).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from zse_gui.data.imageio import read_image_rgb
from zse_gui.data.sketch_raster import quickdraw_to_strokes, rasterize_strokes, read_quickdraw_ndjson
from zse_gui.engine.types import Stroke, StrokeSketch
from zse_gui.errors import InvalidSketchError, ZseError
from zse_gui.qt.strokes import fit_sketch, load_sketch_file

__all__ = ["LoadedSketch", "load_any_sketch", "fit_image", "compose_query"]

log = logging.getLogger(__name__)


class LoadedSketch:
    """What a sketch file gave: vector strokes, or an image to draw over (canvas-sized)."""

    def __init__(
        self,
        sketch: StrokeSketch,
        background: np.ndarray | None,
        source: str,
        label: str | None = None,
        drawing: int | None = None,
        has_next: bool = False,
    ):
        self.sketch = sketch
        self.background = background
        self.source = source
        self.label = label
        self.drawing = drawing  # index of the drawing in a QuickDraw file (None for other files)
        self.has_next = has_next  # that file holds another drawing after it


def fit_image(rgb: np.ndarray, canvas_size: tuple[int, int]) -> np.ndarray:
    """Scale an image into the canvas keeping its aspect, centred on white: [H, W, 3] uint8."""
    w, h = canvas_size
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    scale = min(w / img.width, h / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.LANCZOS)
    out = Image.new("RGB", (w, h), (255, 255, 255))
    out.paste(img, ((w - size[0]) // 2, (h - size[1]) // 2))
    return np.asarray(out, dtype=np.uint8)


def load_any_sketch(
    path: str | Path, canvas_size: tuple[int, int], pen_width: float, drawing: int = 0
) -> LoadedSketch:
    """Load a stroke JSON, drawing ``drawing`` (0 = the first) of a QuickDraw ndjson, or a sketch image.

    Strokes from other canvases are scaled to fit this canvas. A QuickDraw file is read only up to
    the drawing after the requested one (full category files hold 100k+ drawings).

    Raises:
        InvalidSketchError: the file cannot be read as a sketch; the message says why.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".json":
            sk = load_sketch_file(p)
            if sk.canvas_size != canvas_size:
                sk = fit_sketch(sk, canvas_size)
            return LoadedSketch(sk, None, str(p))
        if suffix == ".ndjson":
            if drawing < 0:
                raise InvalidSketchError(f"drawing index {drawing} < 0")
            drawings = read_quickdraw_ndjson(p, limit=drawing + 2)
            if not drawings:
                raise InvalidSketchError(f"{p} holds no QuickDraw drawing")
            if len(drawings) <= drawing:
                raise InvalidSketchError(
                    f"{p} holds only {len(drawings)} drawings; there is no drawing {drawing + 1}"
                )
            d = drawings[drawing]
            strokes = tuple(
                Stroke(points=pts, width=pen_width) for pts, _ in quickdraw_to_strokes(d, pen_width)
            )
            sk = fit_sketch(StrokeSketch(strokes=strokes, canvas_size=(256, 256)), canvas_size)
            # fit_sketch scales pen widths with the drawing; a doodle should keep the chosen pen
            sk = StrokeSketch(tuple(Stroke(s.points, pen_width) for s in sk.strokes), sk.canvas_size)
            return LoadedSketch(sk, None, str(p), d.word, drawing, len(drawings) > drawing + 1)
        rgb = read_image_rgb(p)
    except InvalidSketchError:
        raise
    except ZseError as exc:
        raise InvalidSketchError(f"cannot load sketch {p}: {exc}") from exc
    return LoadedSketch(
        StrokeSketch(strokes=(), canvas_size=canvas_size), fit_image(rgb, canvas_size), str(p)
    )


def compose_query(sketch: StrokeSketch, background: np.ndarray | None) -> StrokeSketch | np.ndarray | None:
    """The engine query for the canvas: the strokes, the image with strokes drawn in, or None if blank."""
    if background is None:
        return None if sketch.is_empty else sketch
    if sketch.is_empty:
        return background
    ink = rasterize_strokes([(s.points, s.width) for s in sketch.strokes], sketch.canvas_size)
    composed: np.ndarray = np.minimum(background, ink)  # ink is dark: the darker pixel wins
    return composed
