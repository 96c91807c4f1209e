"""Renderers: engine results in, uint8 RGB numpy images out; vector figures via matplotlib's object API.

No torch, no Qt, no pyplot. The Qt views call the same raster renderers that the exports write,
so a saved PNG always matches the screen.

Raster (fast, cv2/numpy): ``render_correspondences``, ``render_ret_attention``,
``render_synthesis``, ``render_kernel``, ``render_retrieval_strip``.
Vector (``matplotlib.figure.Figure``): ``correspondence_figure``, ``ret_attention_figure``,
``synthesis_figure``, ``kernel_figure``, ``strip_figure``.
Export: ``export_explanation`` (PNG/SVG/PDF + JSON sidecar), ``write_pdf_report`` (top-k PDF).
"""

from zse_gui.viz.attention import AttentionMaps, attention_layout, render_ret_attention, ret_attention_maps
from zse_gui.viz.colors import OKABE_ITO, colormap_lut, head_colors, map_scores
from zse_gui.viz.correspondence import (
    CorrespondenceSettings,
    Pair,
    correspondence_layout,
    draw_pairs,
    hit_correspondences,
    render_correspondences,
    score_range,
    select_pairs,
)
from zse_gui.viz.export import (
    FORMATS,
    VIEWS,
    ExportOptions,
    ExportResult,
    ReportPage,
    export_explanation,
    render_view,
    save_figure,
    save_png,
    view_figure,
    write_pdf_report,
)
from zse_gui.viz.figures import (
    correspondence_figure,
    kernel_figure,
    report_page_figure,
    ret_attention_figure,
    strip_figure,
    synthesis_figure,
)
from zse_gui.viz.layout import Panel, PanelLayout, default_panel_size, hit_test, row_layout
from zse_gui.viz.sidecar import Provenance, read_sidecar, redraw_correspondences, write_sidecar
from zse_gui.viz.strip import render_retrieval_strip, strip_cells
from zse_gui.viz.synthesis import render_kernel, render_synthesis, synthesis_layout

__all__ = [
    "FORMATS",
    "OKABE_ITO",
    "VIEWS",
    "AttentionMaps",
    "CorrespondenceSettings",
    "ExportOptions",
    "ExportResult",
    "Pair",
    "Panel",
    "PanelLayout",
    "Provenance",
    "ReportPage",
    "attention_layout",
    "colormap_lut",
    "correspondence_figure",
    "correspondence_layout",
    "default_panel_size",
    "draw_pairs",
    "export_explanation",
    "head_colors",
    "hit_correspondences",
    "hit_test",
    "kernel_figure",
    "map_scores",
    "read_sidecar",
    "redraw_correspondences",
    "render_correspondences",
    "render_kernel",
    "render_ret_attention",
    "render_retrieval_strip",
    "render_synthesis",
    "render_view",
    "report_page_figure",
    "ret_attention_figure",
    "ret_attention_maps",
    "row_layout",
    "save_figure",
    "save_png",
    "score_range",
    "select_pairs",
    "strip_cells",
    "strip_figure",
    "synthesis_figure",
    "synthesis_layout",
    "view_figure",
    "write_pdf_report",
    "write_sidecar",
]
