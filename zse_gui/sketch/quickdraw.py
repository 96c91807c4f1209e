"""The Quick, Draw! *simplified* ndjson format: reading drawings and turning them into sketches.

Each line of a file is one drawing; its strokes are ``[[x0, x1, ...], [y0, y1, ...]]`` in a
0..255 box (``QUICKDRAW_SIZE`` pixels a side).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zse_gui.errors import DatasetError
from zse_gui.sketch.raster import MAX_COORDINATE
from zse_gui.sketch.strokes import Stroke, StrokeSketch

__all__ = [
    "QUICKDRAW_SIZE",
    "QuickDrawDrawing",
    "quickdraw_sketch",
    "quickdraw_to_strokes",
    "read_quickdraw_drawing",
    "read_quickdraw_ndjson",
]

QUICKDRAW_SIZE = 256  # side of the box the simplified drawings are scaled into


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
            pts = np.stack([np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)], axis=1)
        except (TypeError, ValueError, OverflowError) as e:
            raise DatasetError(f"{where}: stroke {s} has non-numeric coordinates ({e})") from None
        if not np.isfinite(pts).all() or (pts.size and float(np.abs(pts).max()) > MAX_COORDINATE):
            raise DatasetError(
                f"{where}: stroke {s} has coordinates that are not finite or beyond +-{MAX_COORDINATE:.0e}"
            )
        strokes.append(pts.astype(np.float32).reshape(-1, 2))
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
        try:
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
                except (ValueError, RecursionError) as e:  # a 5000-digit number, nesting 10^5 deep
                    raise DatasetError(
                        f"{where}: not a usable JSON drawing ({type(e).__name__}: {e})"
                    ) from None
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
        except UnicodeDecodeError:
            raise DatasetError(
                f"{p}: not a text file (it holds bytes that are not UTF-8); a QuickDraw file is ndjson text"
            ) from None
    return out


def quickdraw_to_strokes(
    drawing: QuickDrawDrawing, pen_width: float = 3.0, canvas: int = QUICKDRAW_SIZE
) -> list[tuple[np.ndarray, float]]:
    """Scale a QuickDraw drawing's 0..255 box to a square canvas, as ``rasterize_strokes`` input.

    Args:
        drawing: a parsed drawing.
        pen_width: pen width in canvas pixels.
        canvas: canvas side in pixels (coordinates are scaled by ``canvas / QUICKDRAW_SIZE``).

    Returns:
        ``(points [N, 2] float32 canvas pixels, pen_width)`` per stroke; draw with
        ``rasterize_strokes(strokes, (canvas, canvas))``.
    """
    scale = canvas / float(QUICKDRAW_SIZE)
    return [((s * scale).astype(np.float32), float(pen_width)) for s in drawing.strokes]


def quickdraw_sketch(drawing: QuickDrawDrawing, pen_width: float = 3.0) -> StrokeSketch:
    """A drawing as a ``StrokeSketch`` on its own ``QUICKDRAW_SIZE`` square canvas."""
    strokes = tuple(Stroke(pts, w) for pts, w in quickdraw_to_strokes(drawing, pen_width))
    return StrokeSketch(strokes, (QUICKDRAW_SIZE, QUICKDRAW_SIZE))


def read_quickdraw_drawing(path: str | os.PathLike[str], index: int) -> tuple[QuickDrawDrawing, bool]:
    """Drawing ``index`` (0-based) of an ndjson file, and whether another drawing follows it.

    Reads only up to the drawing after it (full category files hold 100k+ drawings).

    Raises:
        DatasetError: a negative index, an unreadable or malformed file, or no such drawing.
    """
    if index < 0:
        raise DatasetError(f"drawing index {index} is negative; drawings are numbered from 0")
    drawings = read_quickdraw_ndjson(path, limit=index + 2)
    if len(drawings) <= index:
        raise DatasetError(
            f"{path} holds {len(drawings)} drawing(s); there is no drawing {index} (numbered from 0)"
        )
    return drawings[index], len(drawings) > index + 1
