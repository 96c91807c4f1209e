"""Why A and not B: the per-patch contrast map, both results' correspondences side by side, a page
figure (for the report, SVG and PDF) and the JSON record of the numbers.

The contrast map colours each inked sketch patch by ``PatchContrast.difference`` with the same
diverging, colour-blind-safe map as the stroke views (orange = the patch pulls towards A, purple =
towards B, pale = neither), symmetric about zero, and multiplies the sketch over it so the ink
stays visible. The correspondences are the standard correspondence renderer, once per result.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from zse_gui.results import Explanation
from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import PatchContrast, StrokeContrast
from zse_gui.viz import _draw
from zse_gui.viz.colors import map_scores
from zse_gui.viz.correspondence import CorrespondenceSettings, render_correspondences, select_pairs
from zse_gui.viz.figures import draw_correspondences_on
from zse_gui.viz.layout import Panel
from zse_gui.viz.sidecar import pairs_to_json
from zse_gui.viz.strokes import CONTRIBUTION_PALETTE, contribution_range, render_stroke_attribution

__all__ = [
    "ContrastView",
    "contrast_figure",
    "contrast_lines",
    "contrast_record",
    "patch_contrast_at",
    "patch_contrast_texts",
    "render_contrast_correspondences",
    "render_patch_contrast",
]

_LEGEND_H = 44
_TITLE_H = 22
_GAP = 24


@dataclass(frozen=True)
class ContrastView:
    """What the contrast views draw for results A and B of one sketch.

    Attributes:
        patches: the per-patch contrast.
        explanation_a, explanation_b: each result's explanation (for its correspondences).
        name_a, name_b: short names, e.g. ``"#1 fish"`` and ``"#3 shark"``.
        strokes: the per-stroke contrast, with ``sketch`` (None for a sketch without strokes).
    """

    patches: PatchContrast
    explanation_a: Explanation
    explanation_b: Explanation
    name_a: str
    name_b: str
    strokes: StrokeContrast | None = None
    sketch: StrokeSketch | None = None


def _ascii(s: str) -> str:
    """Raster text is drawn with Hershey fonts, which have ASCII only."""
    return s.encode("ascii", "replace").decode("ascii")


def render_patch_contrast(
    con: PatchContrast,
    size: int = 384,
    name_a: str = "A",
    name_b: str = "B",
    palette: str = CONTRIBUTION_PALETTE,
) -> np.ndarray:
    """The model-input sketch with each inked patch coloured by its pull towards A or B, and a bar.

    Args:
        con: the per-patch contrast.
        size: side of the sketch panel (the image is ``size + 44`` tall).
        name_a, name_b: what the colour bar calls the two results.

    Returns:
        [size + 44, size, 3] uint8 RGB.
    """
    sketch = _draw.fit(_draw.check_image(con.sketch_image, "sketch_image"), size)
    g = int(con.grid)
    diff = np.asarray(con.difference, np.float64).reshape(g, g)
    r = contribution_range(diff)
    colors = map_scores(np.nan_to_num(diff, nan=0.0).reshape(-1), -r, r, palette).reshape(g, g, 3)
    cell = size / g
    layer = np.full((size, size, 3), 255.0, np.float32)
    for i in range(g):
        for j in range(g):
            if np.isfinite(diff[i, j]):
                y0, y1, x0, x1 = (round(v * cell) for v in (i, i + 1, j, j + 1))
                layer[y0:y1, x0:x1] = colors[i, j]
    # multiply: the cell colour shows on the paper, the ink stays dark on top of it
    mixed = layer * (sketch.astype(np.float32) / 255.0)
    out = _draw.canvas(size + _LEGEND_H, size)
    out[:size] = np.round(mixed).astype(np.uint8)
    _draw.grid(out, Panel("contrast", 0, 0, size, g), alpha=0.25)
    label = _ascii(f"logit: towards {name_b} (-) .. towards {name_a} (+)")
    _draw.colorbar(out, 16, size + 14, size - 32, 10, palette, -r, r, label)
    return out


def patch_contrast_at(con: PatchContrast, size: int, x: float, y: float) -> int | None:
    """The patch id (row-major) under pixel (x, y) of ``render_patch_contrast(con, size)``, or None
    outside the sketch panel."""
    if not (0 <= x < size and 0 <= y < size):
        return None
    g = int(con.grid)
    return min(int(y * g / size), g - 1) * g + min(int(x * g / size), g - 1)


def patch_contrast_texts(con: PatchContrast, name_a: str = "A", name_b: str = "B") -> list[str]:
    """One hover line per patch (row-major): its pull and what masking it does to each result."""
    g = int(con.grid)
    diff, ma, mb = con.difference, con.masked_logit_a, con.masked_logit_b
    out = []
    for p in range(g * g):
        r, c = divmod(p, g)
        where = f"Patch row {r + 1}, col {c + 1}"
        if not np.isfinite(diff[r, c]):
            out.append(f"{where}: no ink (not scored)")
            continue
        towards = name_a if diff[r, c] > 0 else name_b if diff[r, c] < 0 else "neither"
        out.append(
            f"{where}: towards {towards} by {abs(float(diff[r, c])):.2f} logit "
            f"(masked, {name_a} changes {float(ma[r, c]) - con.base_logit_a:+.2f}, "
            f"{name_b} {float(mb[r, c]) - con.base_logit_b:+.2f})"
        )
    return out


def render_contrast_correspondences(
    expl_a: Explanation,
    expl_b: Explanation,
    settings: CorrespondenceSettings | None = None,
    name_a: str = "A",
    name_b: str = "B",
    stacked: bool = False,
) -> np.ndarray:
    """Both results' correspondence views, titled: sketch | photo A, then sketch | photo B, side by
    side, or A above B with ``stacked`` (about square: what fits the Strokes tab's pane, where two
    side by side were drawn at a quarter of its height).

    Each part is exactly ``render_correspondences`` of that result with the same settings.

    Returns:
        [H, W, 3] uint8 RGB.
    """
    settings = settings or CorrespondenceSettings()
    parts = [render_correspondences(e, settings) for e in (expl_a, expl_b)]
    names = (f"A: {name_a}", f"B: {name_b}")
    if stacked:
        h = sum(x.shape[0] + _TITLE_H for x in parts) + _GAP
        w = max(x.shape[1] for x in parts)
    else:
        h = max(x.shape[0] for x in parts) + _TITLE_H
        w = sum(x.shape[1] for x in parts) + _GAP
    out = _draw.canvas(h, w)
    x0 = y0 = 0
    for img, name in zip(parts, names, strict=True):
        out[y0 + _TITLE_H : y0 + _TITLE_H + img.shape[0], x0 : x0 + img.shape[1]] = img
        _draw.text(out, _ascii(name), (x0 + 8, y0 + 16), 0.5)
        if stacked:
            y0 += _TITLE_H + img.shape[0] + _GAP
        else:
            x0 += img.shape[1] + _GAP
    return out


def _cells(con: PatchContrast, sign: float, top: int) -> list[tuple[int, float]]:
    """Up to ``top`` windows pulling towards A (sign 1) or B (sign -1): (patch id, difference)."""
    g, w = int(con.grid), int(con.window)
    diff = con.difference
    found = [
        (r * g + c, float(diff[r, c]))
        for r in range(0, g, w)
        for c in range(0, g, w)
        if np.isfinite(diff[r, c]) and sign * diff[r, c] > 0
    ]
    found.sort(key=lambda t: (-sign * t[1], t[0]))
    return found[:top]


def contrast_lines(view: ContrastView, top: int = 3) -> list[str]:
    """Plain sentences: the two logits, and which patches (and strokes) pull most towards each."""
    con, na, nb = view.patches, view.name_a, view.name_b
    g = int(con.grid)
    lines = [
        f"Why {na} and not {nb}: relation logits {con.base_logit_a:.2f} vs {con.base_logit_b:.2f} "
        f"({con.windows} inked patch windows masked one at a time)."
    ]
    for name, sign in ((na, 1.0), (nb, -1.0)):
        cells = _cells(con, sign, top)
        where = ", ".join(f"row {p // g + 1} col {p % g + 1} ({d:+.2f})" for p, d in cells)
        lines.append(f"Patches pulling most towards {name}: {where or 'none'}.")
    if view.strokes is not None:
        diff = view.strokes.difference
        for name, sign in ((na, 1.0), (nb, -1.0)):
            ks = [k for k in range(len(diff)) if np.isfinite(diff[k]) and sign * diff[k] > 0]
            ks.sort(key=lambda k: (-sign * diff[k], k))
            where = ", ".join(f"{k + 1} ({diff[k]:+.2f})" for k in ks[:top])
            lines.append(f"Strokes pulling most towards {name}: {where or 'none'}.")
    return lines


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)


def _grid_json(a: np.ndarray) -> list[list[float | None]]:
    return [[_num(v) for v in row] for row in np.asarray(a, np.float64)]


def contrast_record(view: ContrastView, settings: CorrespondenceSettings | None = None) -> dict[str, Any]:
    """The numbers behind the contrast views, JSON-ready (None where a patch has no ink)."""
    settings = settings or CorrespondenceSettings()
    con = view.patches
    rec: dict[str, Any] = {
        "what": "per sketch patch (row-major g x g, model-input grid): relation logit each result "
        "loses when the patch window is painted white; difference = A's loss minus B's, positive = "
        "the patch pulls towards A",
        "grid": int(con.grid),
        "window_patches": int(con.window),
        "a": {
            "name": view.name_a,
            "index": con.index_a,
            "path": con.path_a,
            "base_logit": _num(con.base_logit_a),
        },
        "b": {
            "name": view.name_b,
            "index": con.index_b,
            "path": con.path_b,
            "base_logit": _num(con.base_logit_b),
        },
        "difference_logit": _grid_json(con.difference),
        "contribution_a_logit": _grid_json(con.contribution_a),
        "contribution_b_logit": _grid_json(con.contribution_b),
        "correspondences": {
            "settings": settings.to_dict(),
            "a": pairs_to_json(view.explanation_a, select_pairs(view.explanation_a, settings)),
            "b": pairs_to_json(view.explanation_b, select_pairs(view.explanation_b, settings)),
        },
    }
    if view.strokes is not None:
        s = view.strokes
        rec["per_stroke"] = [
            {
                "stroke": k,
                "difference_logit": _num(s.difference[k]),
                "contribution_a_logit": _num(s.a.contribution[k]),
                "contribution_b_logit": _num(s.b.contribution[k]),
            }
            for k in range(s.a.stroke_count)
        ]
    return rec


def contrast_figure(
    view: ContrastView, settings: CorrespondenceSettings | None = None, header: str = ""
) -> Figure:
    """One A4-landscape page: the per-stroke and per-patch contrast above, both results'
    correspondences below (drawn as vectors), and the leading patches and strokes in words."""
    settings = settings or CorrespondenceSettings()
    fig = Figure(figsize=(11.69, 8.27), dpi=100)
    lines = [header] if header else []
    a, b = Path(view.patches.path_a).name, Path(view.patches.path_b).name
    lines.append(f"A = {view.name_a}: {a}    B = {view.name_b}: {b}")
    fig.text(0.02, 0.98, "\n".join(lines), fontsize=9, va="top", family="monospace")
    has_strokes = view.strokes is not None and view.sketch is not None
    ax_p = fig.add_axes((0.27 if has_strokes else 0.02, 0.47, 0.23, 0.43))
    ax_p.imshow(
        render_patch_contrast(view.patches, 480, view.name_a, view.name_b), interpolation="antialiased"
    )
    ax_p.set_axis_off()
    ax_p.set_title("per patch (masked in the model input)", fontsize=8)
    if has_strokes:
        assert view.strokes is not None and view.sketch is not None
        label = _ascii(f"towards {view.name_a} (orange) or {view.name_b} (purple)")
        img, _ = render_stroke_attribution(view.sketch, view.strokes.difference, size=480, label=label)
        ax_s = fig.add_axes((0.02, 0.47, 0.23, 0.43))
        ax_s.imshow(img, interpolation="antialiased")
        ax_s.set_axis_off()
        ax_s.set_title("per stroke (each stroke removed)", fontsize=8)
    fig.text(
        0.53,
        0.88,
        "\n".join(textwrap.fill(t, 72, subsequent_indent="  ") for t in contrast_lines(view)),
        fontsize=7.5,
        va="top",
        family="monospace",
    )
    for k, (expl, name) in enumerate(
        ((view.explanation_a, f"A: {view.name_a}"), (view.explanation_b, f"B: {view.name_b}"))
    ):
        ax = fig.add_axes((0.02 + 0.49 * k, 0.03, 0.47, 0.4))
        pairs, _, _ = draw_correspondences_on(ax, expl, settings)
        ax.set_title(
            f"{name}: correspondences ({len(pairs)} pairs), relation {expl.relation_score:.3f}", fontsize=8
        )
    return fig
