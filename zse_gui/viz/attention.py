"""[Ret] attention (paper Fig. 1a): where the retrieval token looks, one colour per head.

Per head, the cells that hold the top ``keep_mass`` share of the attention are kept (the
DINO-style cumulative-mass threshold), and their brightness follows the weight normalised by the
head's maximum. Where heads overlap, the head with the larger normalised weight colours the
cell. ``background="black"`` reproduces the paper's look; ``"dim"`` (default) and ``"image"``
overlay the maps on the sketch and the photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zse_gui.errors import ConfigError
from zse_gui.results import Explanation
from zse_gui.viz import _draw
from zse_gui.viz.colors import head_colors
from zse_gui.viz.layout import PanelLayout, default_panel_size, row_layout

__all__ = [
    "AttentionMaps",
    "ret_attention_maps",
    "attention_layout",
    "render_ret_attention",
    "compose_attention",
]

BACKGROUNDS = ("dim", "image", "black")


@dataclass(frozen=True)
class AttentionMaps:
    """Per-cell colouring of the [Ret] attention of one image.

    Attributes:
        heads: the head ids shown, in legend order.
        colors: [len(heads), 3] uint8 RGB colour per shown head.
        winner: [P] int64, index into ``heads`` of the head that colours each cell, -1 = none.
        strength: [P] float32 in [0, 1], normalised weight of that head there (0 = not kept).
    """

    heads: tuple[int, ...]
    colors: np.ndarray
    winner: np.ndarray
    strength: np.ndarray


def _keep_mask(w: np.ndarray, keep_mass: float) -> np.ndarray:
    order = np.argsort(-w, kind="stable")
    total = float(w.sum())
    if total <= 0:
        return np.zeros(w.shape, dtype=bool)
    cum = np.cumsum(w[order]) / total
    # Keep up to and including the cell that crosses the mass threshold.
    n_keep = int(np.searchsorted(cum, keep_mass, side="left")) + 1
    keep = np.zeros(w.shape, dtype=bool)
    keep[order[:n_keep]] = True
    return keep


def _check_heads(attn: np.ndarray, heads: Sequence[int] | None) -> tuple[int, ...]:
    n_heads = int(attn.shape[0])
    if heads is None:
        return tuple(range(n_heads))
    chosen = tuple(int(h) for h in heads)
    bad = [h for h in chosen if not 0 <= h < n_heads]
    if bad or not chosen:
        raise ConfigError(f"heads {list(chosen)} invalid: pick from 0..{n_heads - 1}")
    return chosen


def ret_attention_maps(
    attn: np.ndarray, heads: Sequence[int] | None = None, keep_mass: float = 0.6
) -> AttentionMaps:
    """Which head colours which cell, and how brightly.

    Args:
        attn: [H, P] [Ret] attention of one image (``Explanation.ret_attn_sketch`` or ``_photo``).
        heads: head ids to show (None = all), coloured in this order.
        keep_mass: share of each head's attention mass kept, in (0, 1].

    Raises:
        ConfigError: bad heads or keep_mass.
    """
    if not 0.0 < keep_mass <= 1.0:
        raise ConfigError(f"keep_mass must be in (0, 1], got {keep_mass}")
    a = np.asarray(attn, dtype=np.float64)
    chosen = _check_heads(a, heads)
    norm = np.zeros((len(chosen), a.shape[1]))
    for k, h in enumerate(chosen):
        w = np.clip(a[h], 0.0, None)
        peak = float(w.max())
        if peak > 0:
            norm[k] = np.where(_keep_mask(w, keep_mass), w / peak, 0.0)
    winner = norm.argmax(axis=0).astype(np.int64)
    strength = norm.max(axis=0).astype(np.float32)
    winner[strength <= 0] = -1
    palette = head_colors(max(int(a.shape[0]), 1))
    colors = np.stack([palette[h] for h in chosen]).astype(np.uint8)
    return AttentionMaps(chosen, colors, winner, strength)


def compose_attention(
    image: np.ndarray, maps: AttentionMaps, size: int, background: str = "dim"
) -> np.ndarray:
    """One panel: the attention cells over ``image`` scaled to ``size`` px.

    Returns:
        [size, size, 3] uint8 RGB (a new array).
    """
    if background not in BACKGROUNDS:
        raise ConfigError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    grid = int(round(np.sqrt(maps.winner.shape[0])))
    colour_cells = np.zeros((grid * grid, 3), np.float32)
    has = maps.winner >= 0
    colour_cells[has] = maps.colors[maps.winner[has]].astype(np.float32)
    alpha_cells = maps.strength.astype(np.float32)
    # Nearest upsampling keeps cells square, like the paper's 16x upsampled masks.
    idx = np.minimum((np.arange(size) * grid) // size, grid - 1)
    cell_of = idx[:, None] * grid + idx[None, :]
    colour = colour_cells[cell_of]
    alpha = alpha_cells[cell_of][:, :, None]
    if background == "black":
        black: np.ndarray = np.round(colour * alpha).astype(np.uint8)
        return black
    base = _draw.fit(_draw.check_image(image, "image"), size).astype(np.float32)
    if background == "dim":
        base = base * 0.45
    # Kept cells get at least 25 % opacity so weak-but-kept cells stay visible, and at most 75 % so
    # the image under the strongest cells still shows through.
    a = np.where(alpha > 0, 0.25 + 0.5 * alpha, 0.0)
    out: np.ndarray = np.round(base * (1.0 - a) + colour * a).astype(np.uint8)
    return out


def attention_layout(
    expl: Explanation, side: str, panel_size: int | None, heads: Sequence[int]
) -> PanelLayout:
    """Panels for ``side`` (``"sketch"``, ``"photo"`` or ``"both"``) and the legend band under them."""
    names = ("sketch", "photo") if side == "both" else (side,)
    size = panel_size or default_panel_size(int(expl.sketch_image.shape[0]))
    width = len(names) * size + (len(names) - 1) * 12
    rows = _draw.legend_rows([f"head {h}" for h in heads], width)
    return row_layout(names, size, expl.grid, 12, 8, 12 + 18 * rows)


def render_ret_attention(
    expl: Explanation,
    heads: Sequence[int] | None = None,
    side: str = "both",
    keep_mass: float = 0.6,
    background: str = "dim",
    panel_size: int | None = None,
    show_grid: bool = False,
) -> np.ndarray:
    """Raster [Ret] attention view, one colour per SA head, with a legend.

    Args:
        expl: the explanation (not modified).
        heads: SA heads to show (None = all).
        side: ``"sketch"``, ``"photo"`` or ``"both"`` (side by side).
        keep_mass: share of each head's attention mass kept (0.6 as in DINO's figures).
        background: ``"dim"`` (image at 45 %), ``"image"`` or ``"black"`` (the paper's look).
        panel_size: panel side in px (None = at least 224).
        show_grid: draw the patch grid.

    Returns:
        [H, W, 3] uint8 RGB; ``attention_layout`` gives the panel positions.

    Raises:
        ConfigError: bad side, heads, keep_mass or background.
    """
    if side not in ("sketch", "photo", "both"):
        raise ConfigError(f"side must be 'sketch', 'photo' or 'both', got {side!r}")
    attn = {"sketch": expl.ret_attn_sketch, "photo": expl.ret_attn_photo}
    images = {"sketch": expl.sketch_image, "photo": expl.photo_image}
    chosen = _check_heads(np.asarray(expl.ret_attn_sketch), heads)
    lay = attention_layout(expl, side, panel_size, chosen)
    out = _draw.canvas(lay.height, lay.width)
    maps = None
    for panel in lay.panels:
        maps = ret_attention_maps(attn[panel.name], chosen, keep_mass)
        out[panel.y0 : panel.y0 + panel.size, panel.x0 : panel.x0 + panel.size] = compose_attention(
            images[panel.name], maps, panel.size, background
        )
        if show_grid:
            _draw.grid(out, panel, alpha=0.3)
        _draw.box(out, (panel.x0, panel.y0, panel.x0 + panel.size, panel.y0 + panel.size), _draw.GRID, 1)
    assert maps is not None  # at least one panel
    items = [(_draw.as_rgb(c), f"head {h}") for h, c in zip(maps.heads, maps.colors, strict=True)]
    x0 = lay.panels[0].x0
    _draw.legend(out, x0, lay.footer[0] + 8, items, lay.width - 2 * x0)
    return out
