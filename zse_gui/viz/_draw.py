"""Low-level raster drawing on uint8 RGB canvases (cv2 + numpy; private to the package).

All helpers draw in place on a canvas the caller created, never on an input image.
Coordinates are float rendered pixels; lines use cv2's sub-pixel ``shift`` so that the raster
and the vector figure put a line on the same spot.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from zse_gui.viz.colors import colormap_lut
from zse_gui.viz.layout import Box, Panel

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT
FONT = cv2.FONT_HERSHEY_SIMPLEX
RGB = tuple[int, int, int]
INK: RGB = (30, 30, 30)
GRID: RGB = (150, 150, 150)


def as_rgb(color: np.ndarray | Sequence[int]) -> RGB:
    """A colour as a plain tuple of three ints (what cv2 wants)."""
    r, g, b = (int(v) for v in np.asarray(color).reshape(3))
    return (r, g, b)


def check_image(img: np.ndarray, what: str) -> np.ndarray:
    """Validate an [H, W, 3] uint8 image (grey [H, W] is promoted) and return an RGB view."""
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(
            f"{what}: expected an [H, W, 3] uint8 image, got shape {arr.shape} dtype {arr.dtype}"
        )
    return arr


def canvas(height: int, width: int, value: int = 255) -> np.ndarray:
    """A new [height, width, 3] uint8 canvas filled with ``value``."""
    return np.full((height, width, 3), value, dtype=np.uint8)


def fit(img: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """Resize an image to ``size x size`` (a new array; the input is untouched)."""
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return img.copy()
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA if size < max(h, w) else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(img, (size, size), interpolation=interp))


def paste(dst: np.ndarray, img: np.ndarray, panel: Panel, nearest: bool = False) -> None:
    """Draw ``img`` scaled into ``panel``."""
    dst[panel.y0 : panel.y0 + panel.size, panel.x0 : panel.x0 + panel.size] = fit(img, panel.size, nearest)


def _pt(x: float, y: float) -> tuple[int, int]:
    # Rendered coordinates put pixel centres at k + 0.5; cv2 puts them at integers.
    return (round((x - 0.5) * _ONE), round((y - 0.5) * _ONE))


def line(
    dst: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], color: RGB, thickness: int
) -> None:
    """Anti-aliased line between two rendered points."""
    cv2.line(dst, _pt(*p0), _pt(*p1), color, thickness, cv2.LINE_AA, _SHIFT)


def dot(dst: np.ndarray, p: tuple[float, float], radius: float, color: RGB) -> None:
    """Filled anti-aliased disc."""
    cv2.circle(dst, _pt(*p), max(round(radius * _ONE), 1), color, -1, cv2.LINE_AA, _SHIFT)


def box(dst: np.ndarray, b: Box, color: RGB, thickness: int = 1) -> None:
    """Outline of a cell box (x0, y0, x1, y1), drawn just inside its edge."""
    x0, y0, x1, y1 = (round(v) for v in b)
    cv2.rectangle(dst, (x0, y0), (x1 - 1, y1 - 1), color, thickness, cv2.LINE_8)


def fill(dst: np.ndarray, b: Box, color: RGB, alpha: float) -> None:
    """Blend a flat colour over a box."""
    x0, y0, x1, y1 = (round(v) for v in b)
    region = dst[y0:y1, x0:x1]
    blended = region.astype(np.float32) * (1.0 - alpha) + np.asarray(color, np.float32) * alpha
    region[...] = np.round(blended).astype(np.uint8)


def grid(dst: np.ndarray, panel: Panel, color: RGB = GRID, alpha: float = 0.45) -> None:
    """Faint patch-cell grid over a panel (interior lines only)."""
    region = dst[panel.y0 : panel.y0 + panel.size, panel.x0 : panel.x0 + panel.size]
    mask = np.zeros(region.shape[:2], dtype=bool)
    for k in range(1, panel.grid):
        e = round(k * panel.cell)
        mask[:, e] = True
        mask[e, :] = True
    blended = region[mask].astype(np.float32) * (1.0 - alpha) + np.asarray(color, np.float32) * alpha
    region[mask] = np.round(blended).astype(np.uint8)


def text(dst: np.ndarray, s: str, org: tuple[float, float], scale: float = 0.4, color: RGB = INK) -> None:
    """Text with its baseline-left corner at ``org`` (ASCII only: Hershey fonts)."""
    cv2.putText(dst, s, (round(org[0]), round(org[1])), FONT, scale, color, 1, cv2.LINE_AA)


def text_width(s: str, scale: float = 0.4) -> int:
    """Width in pixels of ``s`` as ``text`` draws it."""
    (w, _), _ = cv2.getTextSize(s, FONT, scale, 1)
    return int(w)


def colorbar(
    dst: np.ndarray,
    x0: int,
    y0: int,
    width: int,
    height: int,
    palette: str,
    lo: float,
    hi: float,
    label: str,
    threshold: float | None = None,
) -> None:
    """Horizontal colour bar with end values, a label and an optional threshold tick.

    The bar runs ``lo`` (left) to ``hi`` (right); the threshold is drawn as a dark tick with its value
    when it falls inside the range, and named in the label otherwise.
    """
    if threshold is not None and not lo < threshold <= hi:
        # Off the scale (all drawn pairs are above it): say it in words instead of a tick.
        label = f"{label}, threshold {threshold:.3g}"
    lut = colormap_lut(palette)
    ramp = lut[np.round(np.linspace(0, 255, width)).astype(np.intp)]
    dst[y0 : y0 + height, x0 : x0 + width] = ramp[None, :, :]
    cv2.rectangle(dst, (x0, y0), (x0 + width - 1, y0 + height - 1), INK, 1, cv2.LINE_8)
    ty = y0 + height + 12
    text(dst, f"{lo:.3g}", (x0, ty))
    hi_s = f"{hi:.3g}"
    text(dst, hi_s, (x0 + width - text_width(hi_s), ty))
    text(dst, label, (x0 + (width - text_width(label)) / 2, y0 - 4))
    if threshold is not None and lo < threshold <= hi:
        tx = x0 + round((threshold - lo) / max(hi - lo, 1e-12) * (width - 1))
        cv2.line(dst, (tx, y0 - 2), (tx, y0 + height + 1), INK, 2, cv2.LINE_8)
        t_s = f"thr {threshold:.3g}"
        text(dst, t_s, (min(max(tx - text_width(t_s) / 2, x0), x0 + width - text_width(t_s)), ty))


def legend(dst: np.ndarray, x0: int, y0: int, items: Sequence[tuple[RGB, str]], max_width: int) -> None:
    """A row of colour swatches with labels, wrapping at ``max_width``."""
    x, y = x0, y0
    for color, label in items:
        w = 14 + 4 + text_width(label) + 12
        if x + w > x0 + max_width and x > x0:
            x, y = x0, y + 18
        cv2.rectangle(dst, (x, y), (x + 13, y + 13), color, -1, cv2.LINE_8)
        cv2.rectangle(dst, (x, y), (x + 13, y + 13), INK, 1, cv2.LINE_8)
        text(dst, label, (x + 18, y + 11))
        x += w


def legend_rows(items: Sequence[str], max_width: int) -> int:
    """How many rows ``legend`` needs for these labels."""
    rows, x = 1, 0
    for label in items:
        w = 14 + 4 + text_width(label) + 12
        if x + w > max_width and x > 0:
            rows, x = rows + 1, 0
        x += w
    return rows
