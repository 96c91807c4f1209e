"""Patch-replacement synthesis (paper Fig. 1c) and the relation-kernel heat map.

The synthesis view shows sketch | mosaic | photo: the mosaic is the engine's
``Synthesis.image`` (each sketch cell filled with its best photo cell), optionally with the
cell grid and the sketch's ink faded over it so the shape it follows stays readable.
"""

from __future__ import annotations

import numpy as np

from zse_gui.errors import ConfigError
from zse_gui.results import Explanation
from zse_gui.viz import _draw
from zse_gui.viz.colors import check_palette, colormap_lut
from zse_gui.viz.layout import PanelLayout, default_panel_size, row_layout

__all__ = [
    "synthesis_layout",
    "render_synthesis",
    "fade_sketch_over",
    "render_kernel",
    "kernel_layout",
    "KERNEL_PALETTE",
]

# Diverging (cosine has a meaningful zero) and colour-blind safe (ColorBrewer PuOr).
KERNEL_PALETTE = "PuOr_r"


def synthesis_layout(expl: Explanation, panel_size: int | None = None) -> PanelLayout:
    """Panels ``sketch``, ``synthesis`` and ``photo`` side by side, a caption band under them."""
    size = panel_size or default_panel_size(int(expl.sketch_image.shape[0]))
    return row_layout(("sketch", "synthesis", "photo"), size, expl.grid, 12, 8, 20)


def fade_sketch_over(mosaic: np.ndarray, sketch: np.ndarray, alpha: float) -> np.ndarray:
    """Darken ``mosaic`` where ``sketch`` has ink, by ``alpha`` times the ink darkness.

    Both images must have the same size; returns a new uint8 array.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"sketch_overlay_alpha must be in [0, 1], got {alpha}")
    darkness = 1.0 - sketch.astype(np.float32).mean(axis=2, keepdims=True) / 255.0
    out: np.ndarray = np.round(mosaic.astype(np.float32) * (1.0 - alpha * darkness)).astype(np.uint8)
    return out


def render_synthesis(
    expl: Explanation,
    show_grid: bool = False,
    sketch_overlay_alpha: float = 0.0,
    panel_size: int | None = None,
) -> np.ndarray:
    """Raster synthesis view: sketch | patch mosaic | photo, with captions.

    Args:
        expl: the explanation (not modified).
        show_grid: draw the patch grid on the three panels.
        sketch_overlay_alpha: 0 = plain mosaic; up to 1 = the sketch's ink drawn dark over it.
        panel_size: panel side in px (None = at least 224).

    Returns:
        [H, W, 3] uint8 RGB; ``synthesis_layout`` gives the panel positions (a click on the
        ``synthesis`` panel maps to a cell whose photo source is ``expl.synthesis.source_cell``).
    """
    lay = synthesis_layout(expl, panel_size)
    out = _draw.canvas(lay.height, lay.width)
    sketch = _draw.check_image(expl.sketch_image, "sketch_image")
    mosaic = _draw.check_image(expl.synthesis.image, "synthesis.image")
    sp, mp, pp = lay.panel("sketch"), lay.panel("synthesis"), lay.panel("photo")
    _draw.paste(out, sketch, sp)
    # Nearest: the mosaic is made of hard-edged cells and should stay so when enlarged.
    _draw.paste(out, mosaic, mp, nearest=True)
    _draw.paste(out, expl.photo_image, pp)
    if sketch_overlay_alpha > 0:
        region = out[mp.y0 : mp.y0 + mp.size, mp.x0 : mp.x0 + mp.size]
        region[...] = fade_sketch_over(region, _draw.fit(sketch, mp.size), sketch_overlay_alpha)
    elif not 0.0 <= sketch_overlay_alpha <= 1.0:
        raise ConfigError(f"sketch_overlay_alpha must be in [0, 1], got {sketch_overlay_alpha}")
    for p in lay.panels:
        if show_grid:
            _draw.grid(out, p, alpha=0.35)
        _draw.box(out, (p.x0, p.y0, p.x0 + p.size, p.y0 + p.size), _draw.GRID, 1)
    for p, caption in zip(lay.panels, ("sketch", "patch replacement", "photo"), strict=True):
        _draw.text(out, caption, (p.x0 + (p.size - _draw.text_width(caption)) / 2, lay.footer[0] + 15))
    return out


def kernel_layout(expl: Explanation, size: int | None = None) -> tuple[int, int, int]:
    """(cell px, heat-map side px, total width px) of the kernel view."""
    n = int(expl.kernel.shape[0])
    side = size or default_panel_size(n, 224)
    cell = max(side // n, 1)
    return cell, cell * n, cell * n + 8 + 90


def render_kernel(
    expl: Explanation,
    size: int | None = None,
    palette: str = KERNEL_PALETTE,
    vrange: tuple[float, float] = (-1.0, 1.0),
) -> np.ndarray:
    """Raster heat map of the relation kernel (anchor x anchor cosines) with a vertical colour bar.

    Row ``a``, column ``b`` is the cosine between sketch anchor ``a`` and photo anchor ``b``. The
    anchors are global mixtures of the token map, so the kernel is not a patch-to-patch matrix.

    Args:
        expl: the explanation (not modified).
        size: heat-map side in px (None = at least 224, a multiple of the anchor count).
        palette: matplotlib colour map (diverging by default).
        vrange: values at the two ends of the colour map.

    Returns:
        [H, W, 3] uint8 RGB; the heat map occupies ``[8, 8 + side)`` on both axes.
    """
    check_palette(palette)
    lo, hi = vrange
    if hi <= lo:
        raise ConfigError(f"vrange must be increasing, got {vrange}")
    k = np.asarray(expl.kernel, dtype=np.float64)
    n = int(k.shape[0])
    cell, side, width = kernel_layout(expl, size)
    lut = colormap_lut(palette)
    idx = np.round(np.clip((k - lo) / (hi - lo), 0.0, 1.0) * 255).astype(np.intp)
    heat = np.repeat(np.repeat(lut[idx], cell, axis=0), cell, axis=1)
    out = _draw.canvas(side + 16 + 28, width + 8)
    out[8 : 8 + side, 8 : 8 + side] = heat
    _draw.box(out, (8, 8, 8 + side, 8 + side), _draw.INK, 1)
    # Vertical colour bar: hi at the top.
    bx, bw = 8 + side + 12, 12
    ramp = lut[np.round(np.linspace(255, 0, side)).astype(np.intp)]
    out[8 : 8 + side, bx : bx + bw] = ramp[:, None, :]
    _draw.box(out, (bx, 8, bx + bw, 8 + side), _draw.INK, 1)
    _draw.text(out, f"{hi:.2g}", (bx + bw + 4, 8 + 10))
    _draw.text(out, f"{(lo + hi) / 2:.2g}", (bx + bw + 4, 8 + side / 2 + 4))
    _draw.text(out, f"{lo:.2g}", (bx + bw + 4, 8 + side))
    caption = f"relation kernel ({n}x{n} anchors, cosine)"
    _draw.text(out, caption, (8, 8 + side + 20))
    return out
