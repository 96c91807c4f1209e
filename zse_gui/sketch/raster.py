"""Stroke rasterisation: vector strokes to the black-on-white pixels the model sees.

Strokes are polylines in canvas pixels (x right, y down). They are drawn black, antialiased,
with round caps and joins, on a white canvas, which is what the model's sketch domain looks like.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from zse_gui.errors import InvalidSketchError
from zse_gui.sketch.strokes import StrokeSketch

__all__ = [
    "INK_THRESHOLD",
    "has_ink",
    "ink_mask",
    "query_digest",
    "rasterize_sketch",
    "rasterize_strokes",
    "sketch_query",
]

log = logging.getLogger(__name__)

INK_THRESHOLD = 300  # a pixel is ink when R + G + B <= this (the released sketch loader's rule)

# cv2 drawing takes integer coordinates; ``shift`` fractional bits keep sub-pixel positions.
_SHIFT = 4
_ONE = 1 << _SHIFT


def rasterize_strokes(strokes: Sequence[tuple[np.ndarray, float]], size: tuple[int, int]) -> np.ndarray:
    """Draw strokes as black antialiased polylines with round caps on a white canvas.

    Args:
        strokes: ``(points, width)`` per stroke; ``points`` is [N, 2] (x, y) in canvas pixels
            (N >= 1; a single point draws a dot), ``width`` the pen width in pixels.
        size: canvas (width, height) in pixels.

    Returns:
        [H, W, 3] uint8 RGB image, white background (255) with black ink.

    Raises:
        InvalidSketchError: a non-positive canvas size or a malformed point array.
    """
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        raise InvalidSketchError(f"canvas size {size} must be positive (width, height)")
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    for k, (points, width) in enumerate(strokes):
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise InvalidSketchError(f"stroke {k}: points must be [N, 2] (x, y), got shape {pts.shape}")
        if len(pts) == 0:
            continue
        if not np.isfinite(pts).all():
            raise InvalidSketchError(f"stroke {k}: points contain NaN or infinity")
        thickness = max(1, round(float(width)))
        fixed = np.round(pts * _ONE).astype(np.int64)  # fixed-point coordinates
        if len(fixed) == 1:
            x, y = (int(v) for v in fixed[0])
            # A tap: a filled dot of the pen's diameter.
            cv2.circle(img, (x, y), max(1, thickness * _ONE // 2), (0, 0, 0), -1, cv2.LINE_AA, _SHIFT)
            continue
        for a, b in zip(fixed[:-1], fixed[1:], strict=True):
            # cv2.line draws thick lines with round ends, so consecutive segments join roundly.
            cv2.line(
                img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (0, 0, 0), thickness, cv2.LINE_AA, _SHIFT
            )
    return img


def rasterize_sketch(sketch: StrokeSketch) -> np.ndarray:
    """A ``StrokeSketch`` drawn on its canvas: [H, W, 3] uint8 RGB, black ink on white."""
    return rasterize_strokes([(s.points, s.width) for s in sketch.strokes], sketch.canvas_size)


def sketch_query(sketch: StrokeSketch, background: np.ndarray | None) -> StrokeSketch | np.ndarray | None:
    """What to retrieve with for a canvas: the strokes, a sketch image with the strokes drawn
    into it ([H, W, 3] uint8, the darker pixel wins), or None when the canvas is blank."""
    if background is None:
        return None if sketch.is_empty else sketch
    if sketch.is_empty:
        return background
    composed: np.ndarray = np.minimum(background, rasterize_sketch(sketch))
    return composed


def ink_mask(rgb: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 -> [H, W] bool, True where R + G + B <= ``INK_THRESHOLD``."""
    return np.asarray(rgb.astype(np.int32).sum(axis=2) <= INK_THRESHOLD)


def has_ink(query: StrokeSketch | np.ndarray) -> bool:
    """Whether a query (strokes, or an [H, W, 3] uint8 sketch image) has anything to retrieve with."""
    if isinstance(query, StrokeSketch):
        return not query.is_empty
    return bool(ink_mask(query).any())


def query_digest(query: StrokeSketch | np.ndarray | str | os.PathLike[str]) -> str:
    """A short stable digest of a query: equal sketches give equal digests.

    Strokes hash their canvas, widths and points; an array its shape and pixels; a file path its
    name, size and modification time (so an edited file gets a new digest).
    """
    h = hashlib.sha1()
    if isinstance(query, (str, os.PathLike)):
        h.update(b"file:" + os.fsencode(query))
        try:
            st = Path(query).stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(b"missing")
        return h.hexdigest()
    if isinstance(query, np.ndarray):
        h.update(b"rgb:" + str(query.shape).encode())
        h.update(np.ascontiguousarray(query).tobytes())
        return h.hexdigest()
    h.update(np.asarray(query.canvas_size, np.int64).tobytes())
    for s in query.strokes:
        h.update(np.float32(s.width).tobytes())
        h.update(np.ascontiguousarray(s.points, dtype=np.float32).tobytes())
        h.update(b"|")
    return h.hexdigest()
