"""Stroke rasterisation and the QuickDraw simplified ndjson format.

Strokes are polylines in canvas pixels (x right, y down). They are drawn black, antialiased,
with round caps and joins, on a white canvas, which is what the model's sketch domain looks like.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from zse_gui.errors import DatasetError, InvalidSketchError

__all__ = ["QuickDrawDrawing", "quickdraw_to_strokes", "rasterize_strokes", "read_quickdraw_ndjson"]

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class QuickDrawDrawing:
    """One drawing of the QuickDraw *simplified* dataset.

    Attributes:
        word: category name, e.g. ``"ant"``.
        key_id: the drawing's unique id (a decimal string).
        recognized: whether the game's classifier recognised it.
        countrycode: two-letter country code of the player.
        strokes: one [N, 2] float32 (x, y) array per stroke, in the dataset's 0..255 box.
    """

    word: str
    key_id: str
    recognized: bool
    countrycode: str
    strokes: list[np.ndarray] = field(default_factory=list)


def _parse_drawing(raw: object, where: str) -> list[np.ndarray]:
    if not isinstance(raw, list):
        raise DatasetError(f"{where}: 'drawing' must be a list of strokes, got {type(raw).__name__}")
    strokes = []
    for s, stroke in enumerate(raw):
        if not (isinstance(stroke, list) and len(stroke) >= 2):
            raise DatasetError(f"{where}: stroke {s} must be [[xs], [ys], ...]")
        xs, ys = stroke[0], stroke[1]
        if not (isinstance(xs, list) and isinstance(ys, list)) or len(xs) != len(ys):
            raise DatasetError(f"{where}: stroke {s} has x and y lists of different lengths or types")
        try:
            pts = np.stack([np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32)], axis=1)
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{where}: stroke {s} has non-numeric coordinates ({e})") from None
        strokes.append(pts.reshape(-1, 2))
    return strokes


def read_quickdraw_ndjson(path: str | os.PathLike[str], limit: int | None = None) -> list[QuickDrawDrawing]:
    """Read a QuickDraw simplified ndjson file (one JSON drawing per line).

    Each line has ``word``, ``countrycode``, ``recognized``, ``key_id`` and ``drawing``, where
    ``drawing`` is a list of strokes ``[[x0, x1, ...], [y0, y1, ...]]``. Blank lines are skipped.

    Args:
        path: the ``.ndjson`` file.
        limit: read at most this many drawings (None = all).

    Returns:
        The drawings in file order.

    Raises:
        DatasetError: the file is missing or a line is malformed; the message gives the line number.
    """
    p = Path(path)
    out: list[QuickDrawDrawing] = []
    try:
        fh = p.open("r", encoding="utf-8")
    except OSError as e:
        raise DatasetError(f"{p}: cannot open QuickDraw file ({e.strerror or e})") from None
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if limit is not None and len(out) >= limit:
                break
            if not line.strip():
                continue
            where = f"{p}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(rec, dict) or "drawing" not in rec or "word" not in rec:
                raise DatasetError(f"{where}: expected an object with 'word' and 'drawing' keys")
            out.append(
                QuickDrawDrawing(
                    word=str(rec["word"]),
                    key_id=str(rec.get("key_id", "")),
                    recognized=bool(rec.get("recognized", False)),
                    countrycode=str(rec.get("countrycode", "")),
                    strokes=_parse_drawing(rec["drawing"], where),
                )
            )
    return out


def quickdraw_to_strokes(
    drawing: QuickDrawDrawing, pen_width: float = 3.0, canvas: int = 256
) -> list[tuple[np.ndarray, float]]:
    """Scale a QuickDraw drawing's 0..255 box to a square canvas, as ``rasterize_strokes`` input.

    Args:
        drawing: a parsed drawing.
        pen_width: pen width in canvas pixels.
        canvas: canvas side in pixels (coordinates are scaled by ``canvas / 256``).

    Returns:
        ``(points [N, 2] float32 canvas pixels, pen_width)`` per stroke; draw with
        ``rasterize_strokes(strokes, (canvas, canvas))``.
    """
    scale = canvas / 256.0
    return [((s * scale).astype(np.float32), float(pen_width)) for s in drawing.strokes]
