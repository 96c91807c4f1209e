"""Export jobs: the shown explanation as PNG/SVG/PDF + sidecar, and a PDF report of the top-k.

Both run on the worker thread (matplotlib's vector output takes a moment) and draw with the same
``zse_gui.viz`` calls and the same ``ViewState`` as the screen, so a file matches what is shown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from zse_gui.qt.jobs import EngineState, need_engine, need_gallery
from zse_gui.qt.protocols import Query
from zse_gui.qt.render import ViewState
from zse_gui.qt.state import ExplainPayload
from zse_gui.qt.worker import Job, JobContext
from zse_gui.results import DEFAULT_READOUT, RetrievalResult
from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import OcclusionMap, StrokeAttribution, StrokeContrast
from zse_gui.viz.contrast import ContrastView
from zse_gui.viz.correspondence import CorrespondenceSettings
from zse_gui.viz.export import ReportPage, export_contrast, export_explanation, write_pdf_report
from zse_gui.viz.sidecar import Provenance

__all__ = ["Provenance", "contrast_export_job", "export_job", "report_job", "split_export_path"]

log = logging.getLogger(__name__)

_KNOWN_SUFFIXES = {".png", ".svg", ".pdf", ".json"}


def split_export_path(path: str | Path) -> tuple[Path, str]:
    """A chosen file name -> (folder, stem); a typed format suffix is dropped (every format is written)."""
    p = Path(path)
    stem = p.stem if p.suffix.lower() in _KNOWN_SUFFIXES else p.name
    return p.parent, stem or "explanation"


def export_job(
    payload: ExplainPayload, path: str, state: ViewState, formats: Sequence[str], provenance: Provenance
) -> Job:
    """Write the four explanation views in ``formats`` plus one JSON sidecar next to ``path``."""
    out_dir, stem = split_export_path(path)
    options = state.export_options(tuple(formats))

    def run(_state: EngineState, ctx: JobContext) -> list[str]:
        res = export_explanation(payload.explanation, out_dir, stem, options, provenance)
        return [str(f) for f in res.files] + [str(res.sidecar)]

    return Job("export", run, key=None, label=f"export {path}")


def contrast_export_job(
    view: ContrastView,
    path: str,
    formats: Sequence[str],
    settings: CorrespondenceSettings,
    provenance: Provenance,
) -> Job:
    """Write the Strokes tab's contrast (why A and not B) in ``formats`` plus a JSON sidecar."""
    out_dir, stem = split_export_path(path)

    def run(_state: EngineState, ctx: JobContext) -> list[str]:
        res = export_contrast(view, out_dir, stem, tuple(formats), settings, provenance)
        return [str(f) for f in res.files] + [str(res.sidecar)]

    return Job("export", run, key=None, label=f"export contrast {path}")


REPORT_STROKE_PAGES = 5  # drawn sketches: the first results also get a stroke-attribution page
REPORT_OCCLUSION_PAGES = 5  # ... and every sketch's first results a photo-occlusion page
REPORT_OCCLUSION_WINDOW = 2  # patches per side of each masked photo window (as in the Strokes tab)


def report_job(
    query: Query,
    result: RetrievalResult,
    path: str,
    state: ViewState,
    faithfulness_top: int,
    provenances: Sequence[Provenance],
    readout: str = DEFAULT_READOUT,
    measured: Mapping[int, tuple[StrokeAttribution | None, OcclusionMap | None]] | None = None,
) -> Job:
    """Explain every shown result and write a multi-page PDF (overview strip, then a page each; the
    first ``REPORT_STROKE_PAGES`` results of a drawn sketch are each followed by a stroke page, the
    first ``REPORT_OCCLUSION_PAGES`` by a photo-occlusion page; a closing page contrasts #1 and #2).

    ``measured`` holds what the Strokes tab already measured for this drawing and ``result``, by
    gallery index: (stroke attribution, occlusion map); those are used as they are, not measured
    again (the same calls, so the same numbers)."""
    items = tuple(result.items)
    provs = tuple(provenances)
    compared = result.reranked_indices()
    known = dict(measured or {})

    def run(st: EngineState, ctx: JobContext) -> list[str]:
        engine = need_engine(st)
        gallery = need_gallery(st)
        pages = []
        steps = len(items) + 1
        for n, (item, prov) in enumerate(zip(items, provs, strict=True)):
            ctx.progress(n, steps)
            ctx.check()
            expl = engine.explain(
                query,
                gallery,
                index=item.index,
                faithfulness_top=faithfulness_top,
                cancel=ctx.cancelled,
                readout=readout,
            )
            drawn = query if isinstance(query, StrokeSketch) and n < REPORT_STROKE_PAGES else None
            kept_attr, kept_occ = known.get(item.index, (None, None))
            attr = kept_attr if drawn is not None else None
            if drawn is not None and attr is None:
                attr = engine.attribute_strokes(
                    drawn,
                    gallery,
                    item.index,
                    compared,
                    cancel=ctx.cancelled,
                )
            occ = kept_occ if n < REPORT_OCCLUSION_PAGES else None
            if n < REPORT_OCCLUSION_PAGES and occ is None:
                occ = engine.occlusion_map(
                    query,
                    gallery,
                    item.index,
                    window=REPORT_OCCLUSION_WINDOW,
                    cancel=ctx.cancelled,
                )
            pages.append(ReportPage(expl, item, prov, drawn, attr, occ))
        ctx.progress(len(items), steps)
        contrast = None
        if len(pages) >= 2:
            a, b = items[0], items[1]
            strokes = None
            sa, sb = pages[0].strokes, pages[1].strokes
            if sa is not None and sb is not None:
                # the per-stroke difference needs only each result's contributions (their ranks
                # among the other results do not enter it): the pages' own attributions
                strokes = StrokeContrast(sa, sb)
            patches = engine.contrast_patches(query, gallery, a.index, b.index, cancel=ctx.cancelled)
            contrast = ContrastView(
                patches,
                pages[0].explanation,
                pages[1].explanation,
                f"#1 {a.label or ''}".strip(),
                f"#2 {b.label or ''}".strip(),
                strokes,
                query if isinstance(query, StrokeSketch) else None,
            )
        ctx.progress(steps, steps)
        strip = None
        if pages:
            # the model-input images: the same pixels the explanations were computed on
            strip = (
                pages[0].explanation.sketch_image,
                result,
                [p.explanation.photo_image for p in pages],
                None,
            )
        header = f"zse-gui report · model {provs[0].model if provs else ''}"
        pdf, sidecar = write_pdf_report(
            path, pages, settings=state.correspondence, strip=strip, header=header, contrast=contrast
        )
        return [str(pdf), str(sidecar)]

    return Job("export", run, key=None, label=f"report {path}")
