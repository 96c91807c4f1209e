"""Colour maps and head colours shared by the raster and the vector renderers.

Both renderers take their colours from here, so a PNG and an SVG of the same view agree.
Colour maps are matplotlib's (looked up by name, no pyplot); head colours follow the
Okabe-Ito palette, which stays distinguishable under the common colour-vision deficiencies.
"""

from __future__ import annotations

from functools import lru_cache

import matplotlib
import numpy as np

from zse_gui.errors import ConfigError

__all__ = ["OKABE_ITO", "colormap_lut", "head_colors", "map_scores", "check_palette"]

# Okabe & Ito (2008), black left out because it vanishes on the dark attention background.
# Blue and orange first, the two heads of the paper's Fig. 1a.
OKABE_ITO: tuple[tuple[int, int, int], ...] = (
    (0, 114, 178),  # blue
    (230, 159, 0),  # orange
    (0, 158, 115),  # bluish green
    (213, 94, 0),  # vermillion
    (86, 180, 233),  # sky blue
    (204, 121, 167),  # reddish purple
    (240, 228, 66),  # yellow
)


def check_palette(name: str) -> str:
    """Return ``name`` if matplotlib knows the colour map, else raise ``ConfigError``."""
    if name not in matplotlib.colormaps:
        raise ConfigError(
            f"unknown colour map {name!r}; use a matplotlib name such as 'viridis', 'cividis' or 'magma'"
        )
    return name


@lru_cache(maxsize=32)
def _lut(name: str) -> np.ndarray:
    cmap = matplotlib.colormaps[check_palette(name)].resampled(256)
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    lut = np.round(np.asarray(rgba)[:, :3] * 255.0).astype(np.uint8)
    lut.setflags(write=False)  # cached and shared: nobody may change it
    return lut


def colormap_lut(name: str) -> np.ndarray:
    """[256, 3] uint8 RGB lookup table of a matplotlib colour map (read-only, cached).

    Raises:
        ConfigError: matplotlib does not know ``name``.
    """
    return _lut(name)


def map_scores(scores: np.ndarray, lo: float, hi: float, palette: str) -> np.ndarray:
    """Map scores to RGB through a colour map with a linear ``[lo, hi]`` range.

    Args:
        scores: [N] values; outside the range they are clipped.
        lo, hi: the values at the two ends of the colour map (``hi > lo``).
        palette: matplotlib colour map name.

    Returns:
        [N, 3] uint8 RGB.
    """
    span = max(hi - lo, 1e-12)
    t = np.clip((np.asarray(scores, dtype=np.float64) - lo) / span, 0.0, 1.0)
    idx = np.round(t * 255.0).astype(np.intp)
    return colormap_lut(palette)[idx]


def head_colors(n: int) -> np.ndarray:
    """[n, 3] uint8 RGB, one distinct colour per attention head.

    The first seven are Okabe-Ito; beyond that evenly spaced hues fill in (ViT-B has 12 heads,
    and no palette keeps 12 hues apart for every viewer, so the legend carries the names).
    """
    base = list(OKABE_ITO[:n])
    extra = n - len(base)
    for k in range(max(extra, 0)):
        hue = (k + 0.5) / extra
        base.append(_hsv_to_rgb(hue, 0.75, 0.95))
    return np.asarray(base, dtype=np.uint8).reshape(n, 3)


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return round(r * 255), round(g * 255), round(b * 255)
