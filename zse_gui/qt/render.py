"""Turns an explanation and the tabs' options into what the views show, through ``zse_gui.viz``.

The images come from the same renderers the exports use; this module only adds the words
(info lines with scores and faithfulness) and the geometry of pointed cells. No Qt here.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from zse_gui.results import Explanation, RankedItem
from zse_gui.viz.attention import attention_layout
from zse_gui.viz.correspondence import CorrespondenceSettings, Pair, correspondence_layout, select_pairs
from zse_gui.viz.export import ExportOptions, render_view
from zse_gui.viz.layout import PanelLayout
from zse_gui.viz.synthesis import synthesis_layout

__all__ = [
    "ViewState",
    "RenderedView",
    "render_correspondence_view",
    "render_attention_view",
    "render_synthesis_view",
    "render_kernel_view",
    "synthesis_pointer",
    "explanation_header",
]

HIGHLIGHT = "#e8590c"
SYNTHESIS_HINT = (
    "Each sketch cell replaced by its best-matching photo cell. Point at a cell to see where it came from."
)
SOURCE = "#1c7ed6"


@dataclass(frozen=True)
class ViewState:
    """What the explanation tabs are set to: one value that gives both the screen and the export.

    Attributes:
        correspondence: correspondence filters and head.
        highlight: (side, patch) clicked in the correspondence view, or None.
        attention_head: SA head shown, None = all.
        background: attention background (``dim``, ``image``, ``black``).
        keep_mass: attention mass kept per head.
        synthesis_grid: cell grid on the synthesis view.
        sketch_overlay: faded sketch over the mosaic (0 = none).
    """

    correspondence: CorrespondenceSettings = CorrespondenceSettings()
    highlight: tuple[str, int] | None = None
    attention_head: int | None = None
    background: str = "dim"
    keep_mass: float = 0.6
    synthesis_grid: bool = True
    sketch_overlay: float = 0.35

    def export_options(self, formats: tuple[str, ...] = ("png", "svg", "pdf")) -> ExportOptions:
        """The viz export options that draw exactly what the tabs show."""
        side, patch = self.highlight if self.highlight is not None else ("sketch", None)
        return ExportOptions(
            formats=formats,
            correspondence=self.correspondence,
            highlight=patch,
            side=side,
            heads=None if self.attention_head is None else (self.attention_head,),
            keep_mass=self.keep_mass,
            background=self.background,
            synthesis_grid=self.synthesis_grid,
            sketch_overlay_alpha=self.sketch_overlay,
        )


@dataclass(frozen=True)
class RenderedView:
    """A rendered tab: image, the panel layout for hit tests, and an HTML info line."""

    image: np.ndarray
    layout: PanelLayout | None
    info: str


def _cell(patch: int, grid: int) -> str:
    r, c = divmod(int(patch), grid)
    return f"{patch} (row {r}, col {c})"


def _faith_for(expl: Explanation, sketch_patch: int, photo_patch: int) -> float | None:
    """The faithfulness drop of a pair, when the masking test covered it."""
    f = expl.faithfulness
    if f is None:
        return None
    for s, p, d in zip(f.sketch_patch, f.photo_patch, f.drop, strict=True):
        if int(s) == sketch_patch and int(p) == photo_patch:
            return float(d)
    return None


def _pair_line(expl: Explanation, p: Pair) -> str:
    text = (
        f"sketch {_cell(p.sketch_patch, expl.grid)} ↔ photo {_cell(p.photo_patch, expl.grid)}: {p.score:.4f}"
    )
    if p.mutual:
        text += " (mutual)"
    drop = _faith_for(expl, p.sketch_patch, p.photo_patch)
    if drop is not None:
        # Faithfulness.drop = base - masked: positive means the photo patch supported the match
        if abs(drop) < 5e-5:
            text += "; masking the photo patch barely changes the relation score"
        elif drop > 0:
            text += f"; masking the photo patch lowers the relation score by {drop:.4f}"
        else:
            text += f"; masking the photo patch raises the relation score by {-drop:.4f}"
    return html.escape(text)


def render_correspondence_view(expl: Explanation, state: ViewState) -> RenderedView:
    """The correspondence tab; with a highlight, its matches are drawn and listed with scores."""
    settings, highlight = state.correspondence, state.highlight
    side, patch = highlight if highlight is not None else ("sketch", None)
    image = render_view(expl, "correspondences", state.export_options())
    pairs = select_pairs(expl, settings, highlight=patch, side=side)
    uniform = 1.0 / (expl.grid * expl.grid)
    if highlight is None:
        head = "mean of heads" if settings.head is None else f"head {settings.head}"
        readout = expl.for_head(settings.head).readout.replace("_", " ")
        info = (
            f"{len(pairs)} strongest pairs ({head}, {readout} readout); "
            f"uniform strength would be {uniform:.4f}. "
            "Click a patch on either image to see its matches."
        )
        if pairs:
            info += "<br>" + "<br>".join(_pair_line(expl, p) for p in pairs[:3])
    else:
        head = "mean of heads" if settings.head is None else f"head {settings.head}"
        info = f"<b>{side} patch {_cell(patch or 0, expl.grid)}</b>, {head}: {len(pairs)} matches<br>"
        info += "<br>".join(_pair_line(expl, p) for p in pairs[:6]) or "no match above the threshold"
    if expl.faithfulness is None:
        info += "<br><i>faithfulness not computed (set the number of tested pairs above 0)</i>"
    return RenderedView(image, correspondence_layout(expl, settings), info)


def render_attention_view(expl: Explanation, state: ViewState) -> RenderedView:
    """The [Ret] attention tab: one colour per SA head over the sketch and the photo."""
    head, keep_mass = state.attention_head, state.keep_mass
    image = render_view(expl, "attention", state.export_options())
    shown = list(range(expl.ret_attn_sketch.shape[0])) if head is None else [head]
    info = (
        f"Where the retrieval token [Ret] looks in the last self-attention block: cells holding "
        f"{keep_mass:.0%} of each head's attention, brighter = stronger ({len(shown)} of "
        f"{expl.ret_attn_sketch.shape[0]} heads shown)."
    )
    return RenderedView(image, attention_layout(expl, "both", None, shown), info)


def render_synthesis_view(expl: Explanation, state: ViewState) -> RenderedView:
    """The synthesis tab: sketch | mosaic of best-matching photo cells | photo."""
    image = render_view(expl, "synthesis", state.export_options())
    return RenderedView(image, synthesis_layout(expl), SYNTHESIS_HINT)


def render_kernel_view(expl: Explanation) -> RenderedView:
    """The relation-kernel tab: anchor x anchor cosines, and the scores it leads to."""
    image = render_view(expl, "kernel", ViewState().export_options())
    n = expl.kernel.shape[0]
    info = (
        f"Relation kernel: cosine between each of the {n} sketch anchors (rows) and {n} photo anchors "
        f"(columns). Relation score {expl.relation_score:.4f} (logit {expl.relation_logit:.3f}), "
        f"[Ret] cosine {expl.ret_score:.4f}. Anchors mix the whole token map: this is not a "
        "patch-to-patch matrix."
    )
    return RenderedView(image, None, info)


def synthesis_pointer(
    expl: Explanation, layout: PanelLayout, panel: str, patch: int
) -> tuple[list[tuple[tuple[float, float, float, float], str]], str]:
    """Boxes and text for a pointed synthesis cell: the cell, and the photo cell it came from.

    Pointing at the sketch or the mosaic shows the source photo cell; pointing at the photo
    shows every mosaic cell that copied it.
    """
    if panel not in ("sketch", "synthesis", "photo") or patch < 0:
        return [], SYNTHESIS_HINT
    src = np.asarray(expl.synthesis.source_cell, dtype=np.int64)
    score = np.asarray(expl.synthesis.score, dtype=np.float32)
    if panel == "photo":
        users = np.flatnonzero(src == patch)
        boxes = [(layout.panel("photo").cell_box(patch), SOURCE)]
        boxes += [(layout.panel("synthesis").cell_box(int(u)), HIGHLIGHT) for u in users]
        text = f"photo cell {_cell(patch, expl.grid)} was copied into {len(users)} mosaic cell(s)" + (
            ": " + ", ".join(str(int(u)) for u in users[:12]) if len(users) else ""
        )
        return boxes, html.escape(text)
    j = int(src[patch])
    boxes = [
        (layout.panel("sketch").cell_box(patch), HIGHLIGHT),
        (layout.panel("synthesis").cell_box(patch), HIGHLIGHT),
        (layout.panel("photo").cell_box(j), SOURCE),
    ]
    text = f"mosaic cell {_cell(patch, expl.grid)} ← photo cell {_cell(j, expl.grid)}"
    text += f", match score {score[patch]:.4f}"
    return boxes, html.escape(text)


def explanation_header(item: RankedItem, expl: Explanation) -> str:
    """One line above the tabs: which result, and its scores."""
    name = html.escape(item.label or "")
    path = html.escape(item.path)
    return (
        f"<b>#{item.final_rank + 1} {name}</b> <span style='color:gray'>{path}</span> — relation score "
        f"{expl.relation_score:.3f}, [Ret] cosine {expl.ret_score:.3f}"
    )
