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
    "MAX_CANVAS_PIXELS",
    "MAX_CANVAS_SIDE",
    "MAX_COORDINATE",
    "MAX_PEN_WIDTH",
    "MAX_POINTS",
    "validate_strokes",
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

# Limits of what a sketch may be (``validate_strokes``). OpenCV keeps fixed-point coordinates
# in 32 bits, so |x| * 2**_SHIFT must stay below 2**31; a canvas is an [H, W, 3] uint8 array.
MAX_CANVAS_SIDE = 16384  # pixels per side
MAX_CANVAS_PIXELS = 1 << 26  # 64 Mpx: a 192 MiB canvas
MAX_COORDINATE = 1.0e6  # |x|, |y| in canvas pixels (points may lie off the canvas)
MAX_PEN_WIDTH = 1024.0  # pixels
MAX_POINTS = 1_000_000  # over all strokes


def validate_strokes(strokes: Sequence[tuple[object, object]], size: object) -> tuple[int, int]:
    """Check strokes and canvas size at the boundary; return the canvas (width, height) as ints.

    Every way in (the Qt canvas, stroke JSON, QuickDraw files, the engine API) reaches
    ``rasterize_strokes``, which calls this first, so nothing malformed gets to OpenCV.

    Args:
        strokes: ``(points, width)`` per stroke; ``points`` [N, 2] (x, y) canvas pixels.
        size: canvas (width, height) in pixels.

    Raises:
        InvalidSketchError: a canvas size that is not two positive whole numbers up to
            ``MAX_CANVAS_SIDE`` (``MAX_CANVAS_PIXELS`` in all); points that are not [N, 2]
            finite numbers within +-``MAX_COORDINATE``; a pen width that is not a finite
            number in [0, ``MAX_PEN_WIDTH``]; more than ``MAX_POINTS`` points.
    """
    try:
        w_f, h_f = (float(v) for v in size)  # type: ignore[attr-defined]
    except (TypeError, ValueError, OverflowError):
        raise InvalidSketchError(f"canvas size {size!r} must be two numbers (width, height)") from None
    if not all(np.isfinite(v) and v == int(v) and v > 0 for v in (w_f, h_f)):
        raise InvalidSketchError(f"canvas size {size!r} must be two positive whole numbers (width, height)")
    w, h = int(w_f), int(h_f)
    if max(w, h) > MAX_CANVAS_SIDE or w * h > MAX_CANVAS_PIXELS:
        raise InvalidSketchError(
            f"canvas size {w} x {h} is too large (at most {MAX_CANVAS_SIDE} pixels a side and "
            f"{MAX_CANVAS_PIXELS // 1_000_000} Mpx); scale the strokes down"
        )
    total = 0
    for k, item in enumerate(strokes):
        try:
            points, width = item
            pts = np.asarray(points, dtype=np.float64)
            wid = float(width)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError) as e:
            raise InvalidSketchError(f"stroke {k}: not (points, width) numbers ({e})") from None
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise InvalidSketchError(f"stroke {k}: points must be [N, 2] (x, y), got shape {pts.shape}")
        if not np.isfinite(pts).all():
            raise InvalidSketchError(f"stroke {k}: points contain NaN or infinity")
        if len(pts) and float(np.abs(pts).max()) > MAX_COORDINATE:
            raise InvalidSketchError(
                f"stroke {k}: coordinate {float(np.abs(pts).max()):.3g} is beyond +-{MAX_COORDINATE:.0e} "
                "canvas pixels; scale the strokes to the canvas"
            )
        if not (np.isfinite(wid) and 0.0 <= wid <= MAX_PEN_WIDTH):
            raise InvalidSketchError(
                f"stroke {k}: pen width {wid!r} must be a number from 0 to {MAX_PEN_WIDTH:g} pixels"
            )
        total += len(pts)
        if total > MAX_POINTS:
            raise InvalidSketchError(f"the sketch has more than {MAX_POINTS} points; simplify the strokes")
    return w, h


def rasterize_strokes(strokes: Sequence[tuple[np.ndarray, float]], size: tuple[int, int]) -> np.ndarray:
    """Draw strokes as black antialiased polylines with round caps on a white canvas.

    Args:
        strokes: ``(points, width)`` per stroke; ``points`` is [N, 2] (x, y) in canvas pixels
            (N >= 1; a single point draws a dot), ``width`` the pen width in pixels.
        size: canvas (width, height) in pixels.

    Returns:
        [H, W, 3] uint8 RGB image, white background (255) with black ink.

    Raises:
        InvalidSketchError: anything ``validate_strokes`` refuses.
    """
    w, h = validate_strokes(strokes, size)
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    for points, width in strokes:
        pts = np.asarray(points, dtype=np.float64)
        if len(pts) == 0:
            continue
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
    return np.asarray(rgb.sum(axis=2, dtype=np.uint16) <= INK_THRESHOLD)  # 3 * 255 fits in 16 bits


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
    # float64, and repr() as a fallback: a digest is taken before the sketch is validated, so it
    # must not fail on a canvas of 2**63 pixels or a ragged point list (validation refuses those).
    h.update(_number_bytes(query.canvas_size))
    for s in query.strokes:
        h.update(_number_bytes(s.width))
        h.update(_number_bytes(s.points))
        h.update(b"|")
    return h.hexdigest()


def _number_bytes(value: object) -> bytes:
    try:
        return np.ascontiguousarray(value, dtype=np.float64).tobytes()
    except (TypeError, ValueError, OverflowError):
        return repr(value).encode("utf-8", "backslashreplace")
