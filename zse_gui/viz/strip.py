"""Retrieval strip: the query, then the top-k thumbnails with rank, score and label.

When the query's class is known, thumbnails of that class get a blue frame and a filled dot,
the others an orange frame and a hollow dot (shape as well as colour, for colour-blind readers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from zse_gui.errors import ConfigError
from zse_gui.results import RankedItem, RetrievalResult
from zse_gui.viz import _draw
from zse_gui.viz.colors import OKABE_ITO

__all__ = ["StripCell", "strip_cells", "render_retrieval_strip", "item_score_text", "MATCH_RGB", "MISS_RGB"]

MATCH_RGB = _draw.as_rgb(OKABE_ITO[0])  # blue
MISS_RGB = _draw.as_rgb(OKABE_ITO[3])  # vermillion
_GAP = 14
_TEXT_H = 34


@dataclass(frozen=True)
class StripCell:
    """Where one tile of the strip sits.

    Attributes:
        rank: 0-based final rank, or -1 for the query tile.
        x0, y0: top-left of the thumbnail in rendered pixels.
        size: thumbnail side in px.
        match: True / False when the labels decide it, None when unknown (or for the query).
    """

    rank: int
    x0: int
    y0: int
    size: int
    match: bool | None


def item_score_text(item: RankedItem) -> str:
    """``"rn 0.91"`` when re-ranked, else ``"ret 0.42"``."""
    if item.rn_score is not None:
        return f"rn {item.rn_score:.3f}"
    return f"ret {item.ret_score:.3f}"


def strip_cells(
    result: RetrievalResult, k: int | None, thumb_size: int, query_label: str | None
) -> tuple[list[StripCell], int, int]:
    """Tiles of the strip and its (width, height); tile 0 is the query."""
    items = result.items[: k if k is not None else len(result.items)]
    cells = [StripCell(-1, _GAP, _GAP, thumb_size, None)]
    x = _GAP + thumb_size + 3 * _GAP  # a wider gap separates the query from the results
    for it in items:
        match = None if query_label is None or it.label is None else it.label == query_label
        cells.append(StripCell(it.final_rank, x, _GAP, thumb_size, match))
        x += thumb_size + _GAP
    return cells, x, _GAP + thumb_size + _TEXT_H + _GAP


def _short(s: str, width: int) -> str:
    while s and _draw.text_width(s) > width:
        s = s[:-1]
    return s


def render_retrieval_strip(
    query_image: np.ndarray,
    result: RetrievalResult,
    thumbnails: Sequence[np.ndarray],
    k: int | None = None,
    query_label: str | None = None,
    thumb_size: int = 128,
) -> np.ndarray:
    """Raster strip: query | #1 | #2 | ... with score, label and true-class marks.

    Args:
        query_image: [H, W, 3] uint8 sketch (any size; shown square).
        result: the ranking; tiles follow ``result.items`` order.
        thumbnails: one [h, w, 3] uint8 image per shown item, in the same order.
        k: show at most this many items (None = all in ``result``).
        query_label: the sketch's class; when given, tiles of that class are marked as matches.
        thumb_size: tile side in px.

    Returns:
        [H, W, 3] uint8 RGB.

    Raises:
        ConfigError: fewer thumbnails than shown items, or a bad size.
    """
    if thumb_size < 32:
        raise ConfigError(f"thumb_size must be >= 32 px, got {thumb_size}")
    n = min(k if k is not None else len(result.items), len(result.items))
    if len(thumbnails) < n:
        raise ConfigError(f"need {n} thumbnails for the strip, got {len(thumbnails)}")
    cells, width, height = strip_cells(result, n, thumb_size, query_label)
    out = _draw.canvas(height, width)
    _tile(out, _draw.check_image(query_image, "query_image"), cells[0], _draw.INK)
    _draw.text(out, "query", (cells[0].x0, cells[0].y0 + thumb_size + 14))
    if query_label:
        _draw.text(out, _short(query_label, thumb_size), (cells[0].x0, cells[0].y0 + thumb_size + 28))
    for cell, item, thumb in zip(cells[1:], result.items[:n], thumbnails[:n], strict=True):
        frame = _draw.GRID if cell.match is None else (MATCH_RGB if cell.match else MISS_RGB)
        _tile(out, _draw.check_image(thumb, f"thumbnail {cell.rank}"), cell, frame)
        head = f"#{cell.rank + 1} {item_score_text(item)}"
        if item.moved:
            head += f" {item.moved:+d}"
        _draw.text(out, _short(head, thumb_size), (cell.x0, cell.y0 + thumb_size + 14))
        if item.label:
            _draw.text(out, _short(item.label, thumb_size - 14), (cell.x0 + 14, cell.y0 + thumb_size + 28))
        if cell.match is not None:
            centre = (cell.x0 + 6.0, cell.y0 + thumb_size + 24.0)
            _draw.dot(out, centre, 5.0, frame)
            if not cell.match:
                _draw.dot(out, centre, 2.5, (255, 255, 255))
    return out


def _tile(out: np.ndarray, img: np.ndarray, cell: StripCell, frame: _draw.RGB) -> None:
    s = cell.size
    h, w = img.shape[:2]
    # Letterbox: thumbnails keep their aspect ratio on a white tile.
    scale = s / max(h, w)
    nh, nw = max(round(h * scale), 1), max(round(w * scale), 1)
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y, x = cell.y0 + (s - nh) // 2, cell.x0 + (s - nw) // 2
    out[y : y + nh, x : x + nw] = small
    _draw.box(out, (cell.x0 - 3, cell.y0 - 3, cell.x0 + s + 3, cell.y0 + s + 3), frame, 3)
