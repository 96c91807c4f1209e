"""Export explanations as PNG (the raster views, pixel-identical to the screen), SVG and PDF
(the vector figures), each export with one JSON sidecar; and a multi-page PDF report of a top-k.

Files of one export share a stem: ``<stem>_correspondences.png``, ``<stem>_attention.svg``, ...
and ``<stem>.json``. SVG and PDF are written without creation dates so that the same input gives
the same bytes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from PIL import Image

from zse_gui.errors import ConfigError
from zse_gui.results import Explanation, RankedItem, RetrievalResult
from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import OcclusionMap, StrokeAttribution
from zse_gui.viz.attention import BACKGROUNDS, render_ret_attention
from zse_gui.viz.contrast import (
    ContrastView,
    contrast_figure,
    contrast_record,
    render_contrast_correspondences,
    render_patch_contrast,
)
from zse_gui.viz.correspondence import (
    CorrespondenceSettings,
    colorbar_label,
    correspondence_layout,
    render_correspondences,
    score_range,
    select_pairs,
)
from zse_gui.viz.figures import (
    correspondence_figure,
    kernel_figure,
    report_page_figure,
    ret_attention_figure,
    strip_figure,
    synthesis_figure,
)
from zse_gui.viz.sidecar import Provenance, explanation_summary, pairs_to_json, write_sidecar
from zse_gui.viz.strokes import (
    occlusion_page_figure,
    render_stroke_attribution,
    stroke_page_figure,
    stroke_table,
)
from zse_gui.viz.synthesis import render_kernel, render_synthesis

__all__ = [
    "FORMATS",
    "VIEWS",
    "ExportOptions",
    "ExportResult",
    "save_png",
    "save_figure",
    "render_view",
    "view_figure",
    "export_contrast",
    "export_explanation",
    "ReportPage",
    "write_contrast_files",
    "write_pdf_report",
]

log = logging.getLogger(__name__)

FORMATS = ("png", "svg", "pdf")
VIEWS = ("correspondences", "attention", "synthesis", "kernel")
# No dates: identical input gives identical files (diffable, cacheable).
_METADATA: dict[str, dict[str, Any]] = {
    "svg": {"Date": None, "Creator": "zse-gui"},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": "zse-gui"},
}


@dataclass(frozen=True)
class ExportOptions:
    """Everything that decides how the views look (stored in the sidecar as ``settings``).

    Attributes:
        formats: any of ``"png"``, ``"svg"``, ``"pdf"``.
        views: any of ``"correspondences"``, ``"attention"``, ``"synthesis"``, ``"kernel"``.
        correspondence: settings of the correspondence view.
        highlight: a patch id on ``side`` whose matches the correspondence view shows, or None.
        side: ``"sketch"`` or ``"photo"``: which stream's attention defines the matches.
        heads: SA heads of the attention view (None = all).
        keep_mass: attention mass kept per head.
        background: attention background, ``"dim"``, ``"image"`` or ``"black"``.
        synthesis_grid: draw the cell grid on the synthesis view.
        sketch_overlay_alpha: faded sketch over the mosaic (0 = none).
    """

    formats: tuple[str, ...] = FORMATS
    views: tuple[str, ...] = VIEWS
    correspondence: CorrespondenceSettings = field(default_factory=CorrespondenceSettings)
    highlight: int | None = None
    side: str = "sketch"
    heads: tuple[int, ...] | None = None
    keep_mass: float = 0.6
    background: str = "dim"
    synthesis_grid: bool = True
    sketch_overlay_alpha: float = 0.35

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise ConfigError(f"formats {list(self.formats)} invalid: choose from {', '.join(FORMATS)}")
        bad = [v for v in self.views if v not in VIEWS]
        if bad or not self.views:
            raise ConfigError(f"views {list(self.views)} invalid: choose from {', '.join(VIEWS)}")
        if self.side not in ("sketch", "photo"):
            raise ConfigError(f"side must be 'sketch' or 'photo', got {self.side!r}")
        if self.background not in BACKGROUNDS:
            raise ConfigError(f"background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
        if not 0.0 < self.keep_mass <= 1.0:
            raise ConfigError(f"keep_mass must be in (0, 1], got {self.keep_mass}")
        if not 0.0 <= self.sketch_overlay_alpha <= 1.0:
            raise ConfigError(f"sketch_overlay_alpha must be in [0, 1], got {self.sketch_overlay_alpha}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["formats"], d["views"] = list(self.formats), list(self.views)
        d["heads"] = list(self.heads) if self.heads is not None else None
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportOptions:
        """Inverse of ``to_dict``; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in data.items() if k in known}
        if "correspondence" in d:
            d["correspondence"] = CorrespondenceSettings.from_dict(d["correspondence"])
        for key in ("formats", "views"):
            if key in d:
                d[key] = tuple(d[key])
        if d.get("heads") is not None:
            d["heads"] = tuple(int(h) for h in d["heads"])
        return cls(**d)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        files: every figure file written, in view then format order.
        sidecar: the JSON sidecar.
        pairs: number of correspondence pairs drawn (0 when that view was not exported).
    """

    files: tuple[Path, ...]
    sidecar: Path
    pairs: int


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write an [H, W, 3] uint8 RGB image as PNG."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an [H, W, 3] uint8 image, got shape {arr.shape} dtype {arr.dtype}")
    out = Path(path)
    Image.fromarray(arr).save(out, format="PNG")
    return out


def save_figure(fig: Figure, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Save a matplotlib ``Figure`` as SVG, PDF or PNG (format from ``fmt`` or the suffix), no dates."""
    out = Path(path)
    kind = (fmt or out.suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise ConfigError(f"cannot save a figure as {kind!r}; use one of {', '.join(FORMATS)}")
    # A fixed salt makes the SVG's element ids reproducible (matplotlib draws them from uuid4 otherwise).
    with matplotlib.rc_context({"svg.hashsalt": "zse-gui"}):
        fig.savefig(out, format=kind, metadata=_METADATA.get(kind), facecolor="white")
    return out


def render_view(expl: Explanation, view: str, options: ExportOptions) -> np.ndarray:
    """The raster image of one view, exactly as ``export_explanation`` writes it to PNG."""
    if view == "correspondences":
        return render_correspondences(expl, options.correspondence, options.highlight, options.side)
    if view == "attention":
        return render_ret_attention(expl, options.heads, "both", options.keep_mass, options.background)
    if view == "synthesis":
        return render_synthesis(expl, options.synthesis_grid, options.sketch_overlay_alpha)
    if view == "kernel":
        return render_kernel(expl)
    raise ConfigError(f"unknown view {view!r}; views are {', '.join(VIEWS)}")


def view_figure(expl: Explanation, view: str, options: ExportOptions, title: str | None = None) -> Figure:
    """The vector figure of one view."""
    if view == "correspondences":
        return correspondence_figure(expl, options.correspondence, options.highlight, options.side, title)
    if view == "attention":
        return ret_attention_figure(
            expl, options.heads, "both", options.keep_mass, options.background, title=title
        )
    if view == "synthesis":
        return synthesis_figure(expl, options.synthesis_grid, options.sketch_overlay_alpha, title)
    if view == "kernel":
        return kernel_figure(expl, title=title)
    raise ConfigError(f"unknown view {view!r}; views are {', '.join(VIEWS)}")


def _title(expl: Explanation, provenance: Provenance | None) -> str:
    parts = []
    if provenance is not None and provenance.rank is not None:
        parts.append(f"rank {provenance.rank + 1}")
    if provenance is not None and provenance.photo_label:
        parts.append(str(provenance.photo_label))
    parts.append(f"relation {expl.relation_score:.3f}")
    parts.append(f"ret cosine {expl.ret_score:.3f}")
    return "   ".join(parts)


def export_explanation(
    expl: Explanation,
    out_dir: str | os.PathLike[str],
    stem: str = "explanation",
    options: ExportOptions | None = None,
    provenance: Provenance | None = None,
) -> ExportResult:
    """Write the explanation views in the chosen formats plus ``<stem>.json``.

    Args:
        expl: the explanation (not modified).
        out_dir: folder to write into (created if missing).
        stem: common file-name prefix.
        options: views, formats and their settings.
        provenance: model, weights, strokes and photo, recorded in the sidecar.

    Returns:
        The files written and the sidecar path.
    """
    options = options or ExportOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = _title(expl, provenance)
    written: list[Path] = []
    views: dict[str, Any] = {}
    n_pairs = 0
    for view in options.views:
        files = []
        for fmt in options.formats:
            path = out / f"{stem}_{view}.{fmt}"
            if fmt == "png":
                save_png(path, render_view(expl, view, options))
            else:
                save_figure(view_figure(expl, view, options, title), path, fmt)
            files.append(path.name)
            written.append(path)
        record: dict[str, Any] = {"files": files}
        if view == "correspondences":
            cs = options.correspondence
            pairs = select_pairs(expl, cs, options.highlight, options.side)
            n_pairs = len(pairs)
            record.update(
                readout=expl.for_head(cs.head).readout,
                settings=cs.to_dict(),
                layout=correspondence_layout(expl, cs).to_dict(),
                score_range=list(score_range(expl, cs, options.highlight, options.side)),
                highlight=[options.side, options.highlight] if options.highlight is not None else None,
                colorbar_label=colorbar_label(
                    cs, options.highlight, options.side, expl.for_head(cs.head).readout
                ),
                pairs=pairs_to_json(expl, pairs),
            )
        views[view] = record
    sidecar = write_sidecar(
        out / f"{stem}.json",
        {
            **(provenance or Provenance()).to_dict(),
            "explanation": explanation_summary(expl),
            "settings": options.to_dict(),
            "views": views,
        },
    )
    log.info("exported %d files and %s", len(written), sidecar)
    return ExportResult(tuple(written), sidecar, n_pairs)


@dataclass(frozen=True)
class ReportPage:
    """One page of a top-k report: an explanation, its ranked item and its provenance."""

    explanation: Explanation
    item: RankedItem | None = None
    provenance: Provenance | None = None
    sketch: StrokeSketch | None = None
    strokes: StrokeAttribution | None = None  # with ``sketch``: a stroke page follows this page
    occlusion: OcclusionMap | None = None  # an occlusion page follows (after the stroke page)


def write_pdf_report(
    path: str | os.PathLike[str],
    pages: Sequence[ReportPage],
    settings: CorrespondenceSettings | None = None,
    strip: tuple[np.ndarray, RetrievalResult, Sequence[np.ndarray], str | None] | None = None,
    header: str = "",
    contrast: ContrastView | None = None,
) -> tuple[Path, Path]:
    """Write a multi-page PDF report (optional retrieval strip page, then one page per result, each
    followed by a stroke-attribution page and a photo-occlusion page where the page carries them,
    then a why-A-and-not-B page when ``contrast`` is given).

    Args:
        path: the ``.pdf`` to write; the sidecar goes next to it as ``<name>.json``.
        pages: the explanations in rank order.
        settings: correspondence settings shared by all pages.
        strip: (query image, result, thumbnails, query label) for a first overview page.
        header: a line printed at the top of every page (e.g. the sketch file and the model).
        contrast: results #1 and #2 (or any two) for a closing contrast page.

    Returns:
        (pdf path, sidecar path).
    """
    settings = settings or CorrespondenceSettings()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    with PdfPages(out, metadata=_METADATA["pdf"]) as pdf:
        if strip is not None:
            query, result, thumbs, label = strip
            pdf.savefig(strip_figure(query, result, thumbs, len(pages) or None, label))
        n_pages = int(strip is not None)
        for page in pages:
            fig, pairs = report_page_figure(page.explanation, page.item, settings, header=header)
            pdf.savefig(fig)
            n_pages += 1
            record = {
                **(page.provenance or Provenance()).to_dict(),
                "explanation": explanation_summary(page.explanation),
                "pairs": pairs_to_json(page.explanation, pairs),
            }
            if page.strokes is not None and page.sketch is not None:
                pdf.savefig(stroke_page_figure(page.sketch, page.strokes, header=header))
                n_pages += 1
                record["strokes"] = {
                    "base_logit": round(page.strokes.base_logit, 6),
                    "compared": list(page.strokes.compared),
                    "per_stroke": stroke_table(page.strokes, page.sketch),
                }
            if page.occlusion is not None:
                occ = page.occlusion
                name = f"#{page.item.final_rank + 1} {page.item.label or ''}".strip() if page.item else ""
                pdf.savefig(occlusion_page_figure(occ, name, header=header))
                n_pages += 1
                record["occlusion"] = {
                    "window_patches": occ.window,
                    "base_score": round(occ.base_score, 6),
                    "deletion_scores": [round(float(v), 6) for v in occ.deletion_scores],
                    "deletion_auc": round(occ.deletion_auc, 6),
                }
            records.append(record)
        if contrast is not None:
            pdf.savefig(contrast_figure(contrast, settings, header=header))
            n_pages += 1
    sidecar = write_sidecar(
        out.with_suffix(".json"),
        {
            "report": out.name,
            "page_count": n_pages,
            "settings": settings.to_dict(),
            "pages": records,
            **({"contrast": contrast_record(contrast, settings)} if contrast is not None else {}),
        },
    )
    log.info("wrote a %d-page report %s", n_pages, out)
    return out, sidecar


def write_contrast_files(
    view: ContrastView,
    out_dir: str | os.PathLike[str],
    stem: str,
    formats: Sequence[str] = FORMATS,
    settings: CorrespondenceSettings | None = None,
) -> list[Path]:
    """The contrast views as files: PNG ``<stem>_contrast_patches`` and ``<stem>_contrast_correspondences``
    (and ``<stem>_contrast`` per stroke when the view has strokes); SVG / PDF ``<stem>_contrast``,
    the whole page (``contrast_figure``)."""
    settings = settings or CorrespondenceSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; formats are {', '.join(FORMATS)}")
        if fmt == "png":
            if view.strokes is not None and view.sketch is not None:
                label = f"towards {view.name_a} (orange) or {view.name_b} (purple)"
                image, _ = render_stroke_attribution(view.sketch, view.strokes.difference, label=label)
                written.append(save_png(out / f"{stem}_contrast.png", image))
            written.append(
                save_png(
                    out / f"{stem}_contrast_patches.png",
                    render_patch_contrast(view.patches, name_a=view.name_a, name_b=view.name_b),
                )
            )
            corr = render_contrast_correspondences(
                view.explanation_a, view.explanation_b, settings, view.name_a, view.name_b
            )
            written.append(save_png(out / f"{stem}_contrast_correspondences.png", corr))
        else:
            written.append(save_figure(contrast_figure(view, settings), out / f"{stem}_contrast.{fmt}", fmt))
    return written


def export_contrast(
    view: ContrastView,
    out_dir: str | os.PathLike[str],
    stem: str = "contrast",
    formats: Sequence[str] = FORMATS,
    settings: CorrespondenceSettings | None = None,
    provenance: Provenance | None = None,
) -> ExportResult:
    """Write the contrast views (``write_contrast_files``) and ``<stem>.json``: provenance and the
    numbers behind them (``contrast_record``)."""
    settings = settings or CorrespondenceSettings()
    files = write_contrast_files(view, out_dir, stem, formats, settings)
    record = contrast_record(view, settings)
    sidecar = write_sidecar(
        Path(out_dir) / f"{stem}.json",
        {
            **(provenance or Provenance()).to_dict(),
            "contrast": {**record, "files": [f.name for f in files]},
        },
    )
    pairs = len(record["correspondences"]["a"]) + len(record["correspondences"]["b"])
    return ExportResult(tuple(files), sidecar, pairs)
