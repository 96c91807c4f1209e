"""Vector figures (SVG / PDF) through matplotlib's object API: ``Figure`` objects, never pyplot.

Each figure uses the raster view's pixel coordinates as data coordinates, so a pair sits on the
same spot in the PNG and in the SVG. Images are embedded; lines, boxes, grids and text stay
vector. Artists carry SVG ids (``gid``): ``pair-<k>`` for the k-th drawn line (strongest first),
``casing-<k>`` for its dark outline, ``box-sketch-<k>`` / ``box-photo-<k>`` for its cells, so a
figure can be inspected or restyled after export.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from zse_gui.results import Explanation, RankedItem, RetrievalResult
from zse_gui.viz import _draw
from zse_gui.viz.attention import attention_layout, compose_attention, ret_attention_maps
from zse_gui.viz.colors import colormap_lut, map_scores
from zse_gui.viz.correspondence import (
    CorrespondenceSettings,
    Pair,
    correspondence_layout,
    score_range,
    select_pairs,
)
from zse_gui.viz.layout import Panel, PanelLayout
from zse_gui.viz.strip import MATCH_RGB, MISS_RGB, item_score_text, strip_cells
from zse_gui.viz.synthesis import KERNEL_PALETTE, fade_sketch_over, synthesis_layout

__all__ = [
    "correspondence_figure",
    "ret_attention_figure",
    "synthesis_figure",
    "kernel_figure",
    "strip_figure",
    "report_page_figure",
    "draw_correspondences_on",
]

_DPI = 100.0


def _rgb01(c: Sequence[int] | np.ndarray) -> tuple[float, float, float]:
    r, g, b = (float(v) / 255.0 for v in np.asarray(c).reshape(3))
    return (r, g, b)


def _cmap(palette: str) -> ListedColormap:
    # The same 256-entry table as the raster, so colours match exactly.
    return ListedColormap(colormap_lut(palette).astype(np.float64) / 255.0, name=palette)


def _pixel_axes(fig: Figure, layout: PanelLayout, top: float) -> Axes:
    """Axes over the panel band of a layout (``top`` px below the figure's top edge).

    Data coordinates are the raster view's pixels.
    """
    h_fig = float(fig.bbox.height)
    band = layout.footer[0] + 8  # panels plus their margins, without the footer
    ax = fig.add_axes((0.0, 1.0 - (top + band) / h_fig, 1.0, band / h_fig))
    ax.set_xlim(0, layout.width)
    ax.set_ylim(band, 0)
    ax.set_axis_off()
    return ax


def _image(ax: Axes, img: np.ndarray, panel: Panel, nearest: bool = False) -> None:
    # Embed the image at panel size, scaled like the raster view: a PDF viewer would otherwise
    # enlarge a small model input (32 px for the test model) with its own, blocky interpolation.
    ax.imshow(
        _draw.fit(_draw.check_image(img, "image"), panel.size, nearest),
        extent=(panel.x0, panel.x0 + panel.size, panel.y0 + panel.size, panel.y0),
        interpolation="nearest" if nearest else "antialiased",
    )


def _grid(ax: Axes, panel: Panel, alpha: float = 0.45) -> None:
    segs: list[list[tuple[float, float]]] = []
    for k in range(1, panel.grid):
        e = k * panel.cell
        segs.append([(panel.x0 + e, panel.y0), (panel.x0 + e, panel.y0 + panel.size)])
        segs.append([(panel.x0, panel.y0 + e), (panel.x0 + panel.size, panel.y0 + e)])
    lc = LineCollection(segs, colors=[_rgb01(_draw.GRID)], linewidths=0.5, alpha=alpha)
    lc.set_gid(f"grid-{panel.name}")
    ax.add_collection(lc)


def _frame(ax: Axes, panel: Panel, color: tuple[int, int, int] = _draw.GRID) -> None:
    ax.add_patch(
        Rectangle(
            (panel.x0, panel.y0), panel.size, panel.size, fill=False, edgecolor=_rgb01(color), linewidth=0.8
        )
    )


def _new_figure(width_px: float, height_px: float) -> Figure:
    return Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI)


def draw_correspondences_on(
    ax: Axes,
    expl: Explanation,
    settings: CorrespondenceSettings,
    highlight: int | None = None,
    side: str = "sketch",
) -> tuple[list[Pair], tuple[float, float], PanelLayout]:
    """Draw the correspondence view into ``ax`` (pixel data coordinates); returns pairs, range, layout.

    The axes limits are set to the panel band of ``correspondence_layout``.
    """
    pairs = select_pairs(expl, settings, highlight, side)
    lo, hi = score_range(expl, settings, highlight, side)
    lay = correspondence_layout(expl, settings)
    sp, pp = lay.panel("sketch"), lay.panel("photo")
    _image(ax, _draw.check_image(expl.sketch_image, "sketch_image"), sp)
    _image(ax, _draw.check_image(expl.photo_image, "photo_image"), pp)
    if settings.show_grid:
        _grid(ax, sp)
        _grid(ax, pp)
    colors = map_scores(np.asarray([p.score for p in pairs], np.float64), lo, hi, settings.palette)
    lw = settings.line_width * 72.0 / _DPI  # rendered px -> points
    # ``pair-<k>`` numbers follow ``pairs`` (strongest first); the z-order follows the score so the
    # strongest line ends up on top, as in the raster.
    for k, (p, col) in enumerate(zip(pairs, colors, strict=True)):
        z = 3.0 + p.score / max(hi, 1e-12)
        c = _rgb01(col)
        for side_name, b in (("sketch", p.sketch_box), ("photo", p.photo_box)):
            rect = Rectangle(
                (b[0], b[1]),
                b[2] - b[0],
                b[3] - b[1],
                facecolor=(*c, 0.35),
                edgecolor=c,
                linewidth=1.5,
                zorder=z,
            )
            rect.set_gid(f"box-{side_name}-{k}")
            ax.add_patch(rect)
        xs, ys = (p.sketch_xy[0], p.photo_xy[0]), (p.sketch_xy[1], p.photo_xy[1])
        (casing,) = ax.plot(xs, ys, color=_rgb01(_draw.INK), linewidth=lw + 2 * 72 / _DPI, zorder=z + 0.1)
        casing.set_gid(f"casing-{k}")
        casing.set_solid_capstyle("round")
        (ln,) = ax.plot(xs, ys, color=c, linewidth=lw, zorder=z + 0.2)
        ln.set_gid(f"pair-{k}")
        ln.set_solid_capstyle("round")
        ends = ax.scatter(
            xs, ys, s=(lw + 2) ** 2, c=[c, c], edgecolors=[_rgb01(_draw.INK)] * 2, zorder=z + 0.3
        )
        ends.set_gid(f"ends-{k}")
    if highlight is not None:
        b = lay.panel(side).cell_box(highlight)
        hl = Rectangle(
            (b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, edgecolor="white", linewidth=2.5, zorder=9
        )
        hl.set_gid("highlight")
        ax.add_patch(hl)
    band = lay.footer[0] + 8
    ax.set_xlim(0, lay.width)
    ax.set_ylim(band, 0)
    ax.set_axis_off()
    return pairs, (lo, hi), lay


def correspondence_figure(
    expl: Explanation,
    settings: CorrespondenceSettings | None = None,
    highlight: int | None = None,
    side: str = "sketch",
    title: str | None = None,
) -> Figure:
    """Vector correspondence figure: the raster view's content with lines as paths and a colour bar.

    Args:
        expl: the explanation (not modified).
        settings: what to draw (same meaning as for ``render_correspondences``).
        highlight: a patch id on ``side`` whose matches to show.
        side: ``"sketch"`` or ``"photo"``.
        title: optional line above the panels.

    Returns:
        A matplotlib ``Figure`` (no pyplot); save with ``save_figure``.
    """
    settings = settings or CorrespondenceSettings()
    lay = correspondence_layout(expl, settings)
    top = 24.0 if title else 0.0
    fig = _new_figure(lay.width, lay.height + top)
    ax = _pixel_axes(fig, lay, top)
    pairs, (lo, hi), _ = draw_correspondences_on(ax, expl, settings, highlight, side)
    h_fig = float(fig.bbox.height)
    if title:
        fig.suptitle(title, fontsize=9, y=1.0 - 4.0 / h_fig, va="top")
    if settings.show_colorbar:
        # Same place as the raster's bar: 16 px into the footer, 10 px high, at most 360 px wide.
        bar_w = min(lay.width - 40, 360)
        bar_top = top + lay.footer[0] + 16
        cax = fig.add_axes(
            ((lay.width - bar_w) / 2 / lay.width, 1.0 - (bar_top + 10) / h_fig, bar_w / lay.width, 10 / h_fig)
        )
        sm = ScalarMappable(norm=Normalize(lo, hi), cmap=_cmap(settings.palette))
        cb = fig.colorbar(sm, cax=cax, orientation="horizontal")
        head = "head mean" if settings.head is None else f"head {settings.head}"
        label = f"attention ({head}); {len(pairs)} pairs"
        if settings.threshold > 0:
            label += f"; threshold {settings.threshold:.3g}"
        cb.set_label(label, fontsize=7, labelpad=1)
        cb.ax.tick_params(labelsize=6, length=2, pad=1)
        cb.ax.xaxis.set_label_position("top")
        if lo < settings.threshold <= hi:
            cax.axvline(settings.threshold, color="black", linewidth=2).set_gid("threshold")
    return fig


def ret_attention_figure(
    expl: Explanation,
    heads: Sequence[int] | None = None,
    side: str = "both",
    keep_mass: float = 0.6,
    background: str = "dim",
    show_grid: bool = False,
    title: str | None = None,
) -> Figure:
    """Vector [Ret] attention figure: per-head colour overlays with a matplotlib legend."""
    chosen = list(heads) if heads is not None else list(range(int(expl.ret_attn_sketch.shape[0])))
    lay = attention_layout(expl, side, None, chosen)
    top = 24.0 if title else 0.0
    fig = _new_figure(lay.width, lay.height + top)
    ax = _pixel_axes(fig, lay, top)
    attn = {"sketch": expl.ret_attn_sketch, "photo": expl.ret_attn_photo}
    images = {"sketch": expl.sketch_image, "photo": expl.photo_image}
    maps = None
    for panel in lay.panels:
        maps = ret_attention_maps(attn[panel.name], heads, keep_mass)
        _image(ax, compose_attention(images[panel.name], maps, panel.size, background), panel, nearest=True)
        if show_grid:
            _grid(ax, panel, 0.3)
        _frame(ax, panel)
    assert maps is not None
    handles = [
        Patch(facecolor=_rgb01(c), edgecolor="black", label=f"head {h}")
        for h, c in zip(maps.heads, maps.colors, strict=True)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9, va="top", y=0.99)
    return fig


def synthesis_figure(
    expl: Explanation, show_grid: bool = False, sketch_overlay_alpha: float = 0.0, title: str | None = None
) -> Figure:
    """Vector synthesis figure: sketch | patch mosaic | photo, captions as text."""
    lay = synthesis_layout(expl)
    top = 24.0 if title else 0.0
    fig = _new_figure(lay.width, lay.height + top)
    ax = _pixel_axes(fig, lay, top)
    sp, mp, pp = lay.panel("sketch"), lay.panel("synthesis"), lay.panel("photo")
    _image(ax, expl.sketch_image, sp)
    mosaic = expl.synthesis.image
    if sketch_overlay_alpha > 0:
        mosaic = fade_sketch_over(mosaic, expl.sketch_image, sketch_overlay_alpha)
    _image(ax, mosaic, mp, nearest=True)
    _image(ax, expl.photo_image, pp)
    for p in lay.panels:
        if show_grid:
            _grid(ax, p, 0.35)
        _frame(ax, p)
    h = fig.bbox.height
    for p, caption in zip(lay.panels, ("sketch", "patch replacement", "photo"), strict=True):
        fig.text((p.x0 + p.size / 2) / lay.width, 6.0 / h, caption, ha="center", va="bottom", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9, va="top", y=0.99)
    return fig


def _kernel_on(ax: Axes, expl: Explanation, palette: str, vrange: tuple[float, float]) -> object:
    n = int(expl.kernel.shape[0])
    im = ax.imshow(
        np.asarray(expl.kernel, dtype=np.float64),
        cmap=_cmap(palette),
        vmin=vrange[0],
        vmax=vrange[1],
        interpolation="nearest",
    )
    ax.set_xlabel("photo anchor", fontsize=7)
    ax.set_ylabel("sketch anchor", fontsize=7)
    ticks = list(range(0, n, max(n // 7, 1)))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.tick_params(labelsize=6)
    return im


def kernel_figure(
    expl: Explanation,
    palette: str = KERNEL_PALETTE,
    vrange: tuple[float, float] = (-1.0, 1.0),
    title: str | None = None,
) -> Figure:
    """Vector relation-kernel heat map with a colour bar (anchor x anchor cosines)."""
    fig = Figure(figsize=(3.6, 3.2), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    im = _kernel_on(ax, expl, palette, vrange)
    cb = fig.colorbar(im, ax=ax, shrink=0.85)  # type: ignore[arg-type]
    cb.ax.tick_params(labelsize=6)
    n = int(expl.kernel.shape[0])
    ax.set_title(title or f"relation kernel ({n}x{n} anchors, cosine)", fontsize=8)
    return fig


def strip_figure(
    query_image: np.ndarray,
    result: RetrievalResult,
    thumbnails: Sequence[np.ndarray],
    k: int | None = None,
    query_label: str | None = None,
    thumb_size: int = 128,
) -> Figure:
    """Vector retrieval strip: embedded thumbnails, vector frames and text."""
    n = min(k if k is not None else len(result.items), len(result.items))
    cells, width, height = strip_cells(result, n, thumb_size, query_label)
    fig = _new_figure(width, height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_axis_off()
    tiles: list[tuple[np.ndarray, RankedItem | None]] = [(query_image, None)]
    tiles += list(zip(thumbnails[:n], result.items[:n], strict=True))
    for cell, (img, item) in zip(cells, tiles, strict=True):
        h, w = img.shape[:2]
        s = cell.size / max(h, w)
        x, y = cell.x0 + (cell.size - w * s) / 2, cell.y0 + (cell.size - h * s) / 2
        ax.imshow(img, extent=(x, x + w * s, y + h * s, y))
        frame = _draw.INK if item is None else _draw.GRID
        if cell.match is not None:
            frame = MATCH_RGB if cell.match else MISS_RGB
        ax.add_patch(
            Rectangle(
                (cell.x0 - 2, cell.y0 - 2),
                cell.size + 4,
                cell.size + 4,
                fill=False,
                edgecolor=_rgb01(frame),
                linewidth=2.2,
            )
        )
        ty = cell.y0 + cell.size + 5
        if item is None:
            ax.text(cell.x0, ty, "query", fontsize=7, va="top")
            if query_label:
                ax.text(cell.x0, ty + 14, query_label, fontsize=7, va="top")
            continue
        head = f"#{cell.rank + 1} {item_score_text(item)}" + (f" {item.moved:+d}" if item.moved else "")
        mark = "" if cell.match is None else ("\u25cf " if cell.match else "\u25cb ")
        ax.text(cell.x0, ty, head, fontsize=7, va="top")
        ax.text(cell.x0, ty + 14, mark + (item.label or ""), fontsize=7, va="top", color=_rgb01(frame))
    return fig


def report_page_figure(
    expl: Explanation,
    item: RankedItem | None,
    settings: CorrespondenceSettings,
    heads: Sequence[int] | None = None,
    header: str = "",
) -> tuple[Figure, list[Pair]]:
    """One A4-landscape page of a top-k report: correspondences, [Ret] attention, synthesis, kernel.

    Returns:
        The figure and the drawn correspondence pairs (for the report's sidecar).
    """
    fig = Figure(figsize=(11.69, 8.27), dpi=_DPI)
    lines = [header] if header else []
    if item is not None:
        lines.append(
            f"rank {item.final_rank + 1} (stage 1: {item.stage1_rank + 1})   {item.label or ''}   {item.path}"
        )
    lines.append(
        f"relation score {expl.relation_score:.3f} (logit {expl.relation_logit:.2f})"
        f"   ret cosine {expl.ret_score:.3f}"
    )
    fig.text(0.02, 0.98, "\n".join(lines), fontsize=9, va="top", family="monospace")
    ax_c = fig.add_axes((0.02, 0.45, 0.56, 0.45))
    pairs, (lo, hi), _ = draw_correspondences_on(ax_c, expl, settings)
    ax_c.set_title(f"token correspondences ({len(pairs)} pairs)", fontsize=9)
    cax = fig.add_axes((0.12, 0.43, 0.36, 0.012))
    cb = fig.colorbar(
        ScalarMappable(Normalize(lo, hi), _cmap(settings.palette)), cax=cax, orientation="horizontal"
    )
    cb.ax.tick_params(labelsize=6)
    ax_a = fig.add_axes((0.62, 0.45, 0.36, 0.45))
    lay = attention_layout(
        expl, "both", None, heads if heads is not None else range(expl.ret_attn_sketch.shape[0])
    )
    attn = {"sketch": expl.ret_attn_sketch, "photo": expl.ret_attn_photo}
    images = {"sketch": expl.sketch_image, "photo": expl.photo_image}
    for panel in lay.panels:
        maps = ret_attention_maps(attn[panel.name], heads)
        _image(ax_a, compose_attention(images[panel.name], maps, panel.size), panel, nearest=True)
    ax_a.set_xlim(0, lay.width)
    ax_a.set_ylim(lay.footer[0] + 8, 0)
    ax_a.set_axis_off()
    ax_a.set_title("[Ret] attention (one colour per head)", fontsize=9)
    handles = [
        Patch(facecolor=_rgb01(c), edgecolor="black", label=f"head {h}")
        for h, c in zip(maps.heads, maps.colors, strict=True)
    ]
    ax_a.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(handles), 6),
        fontsize=6,
        frameon=False,
    )
    ax_s = fig.add_axes((0.02, 0.05, 0.56, 0.32))
    slay = synthesis_layout(expl)
    for panel, img in zip(
        slay.panels, (expl.sketch_image, expl.synthesis.image, expl.photo_image), strict=True
    ):
        _image(ax_s, img, panel, nearest=panel.name == "synthesis")
    ax_s.set_xlim(0, slay.width)
    ax_s.set_ylim(slay.footer[0] + 8, 0)
    ax_s.set_axis_off()
    ax_s.set_title("sketch | patch replacement | photo", fontsize=9)
    ax_k = fig.add_axes((0.66, 0.06, 0.26, 0.3))
    im = _kernel_on(ax_k, expl, KERNEL_PALETTE, (-1.0, 1.0))
    fig.colorbar(im, ax=ax_k, shrink=0.8).ax.tick_params(labelsize=6)  # type: ignore[arg-type]
    ax_k.set_title("relation kernel (cosine)", fontsize=9)
    return fig, pairs
