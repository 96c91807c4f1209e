"""``zse-explain``: write the explanation figures (PNG/SVG/PDF) and their JSON sidecar."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zse_gui.cli.common import (
    EXIT_OK,
    SKETCH_HELP,
    Formatter,
    SketchInput,
    add_gallery_args,
    add_model_args,
    build_engine,
    check_gallery_folder,
    load_sketch,
    open_gallery,
    path_kind,
    progress,
    run_main,
)
from zse_gui.cli.text import json_safe
from zse_gui.data.imageio import read_image_rgb
from zse_gui.errors import ConfigError, InputFileError, InvalidSketchError, UsageError
from zse_gui.results import CORRESPONDENCE_READOUTS, DEFAULT_READOUT, Explanation, RetrievalResult
from zse_gui.stroke_results import StrokeContrast
from zse_gui.viz import (
    FORMATS,
    VIEWS,
    CorrespondenceSettings,
    ExportOptions,
    Provenance,
    ReportPage,
    export_explanation,
    write_pdf_report,
)
from zse_gui.viz.contrast import ContrastView, contrast_record
from zse_gui.viz.export import save_png, write_contrast_files
from zse_gui.viz.sidecar import read_sidecar, write_sidecar
from zse_gui.viz.strokes import render_occlusion, render_stroke_attribution, stroke_table

if TYPE_CHECKING:
    from zse_gui.engine.engine import Engine, SketchQuery
    from zse_gui.engine.gallery import GalleryIndex

__all__ = ["main", "build_parser"]

EPILOG = """\
examples:
  zse-explain my_cat.png photos/cat_03.jpg                    # explain one sketch-photo pair
  zse-explain my_cat.png --rank 1 --out figs                  # the top demo-gallery result
  zse-explain cats.ndjson --drawing 2 --rank 3 --gallery ~/photos --format svg,pdf
  zse-explain sketch.png --rank 1 --report 5                  # plus a 6-page PDF report of the top 5
  zse-explain sketch.png photo.jpg --pairs 30 --head 2 --mutual-only --highlight 97

Writes <out>/<stem>_{correspondences,attention,synthesis,kernel}.<fmt> and <out>/<stem>.json,
the sidecar with the model, weights sha256, strokes, settings and every drawn pair.
--stem is a file-name prefix (no folders); --out must be a folder (it is created if needed).
Exit codes: 0 ok, 1 other error, 2 bad arguments, 3 missing/unreadable file,
4 empty or invalid sketch, 5 unreadable gallery or cache, 6 unknown model or bad weights,
130 interrupted.
"""


def _csv(choices: Sequence[str], what: str) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(t.strip().lower() for t in text.split(",") if t.strip())
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"{what} {','.join(bad) or text!r} invalid; choose from {','.join(choices)}"
            )
        return items

    return parse


def _head(text: str) -> int | None:
    if text.lower() == "mean":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"head must be 'mean' or a number, got {text!r}") from None


def _heads(text: str) -> tuple[int, ...] | None:
    if text.lower() == "all":
        return None
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"heads must be 'all' or numbers like 0,3, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="zse-explain",
        description="Explain a sketch-photo match: token correspondences, [Ret] attention, "
        "patch-replacement synthesis and the relation kernel, as figures plus a JSON sidecar.",
        epilog=EPILOG,
        formatter_class=Formatter,
    )
    p.add_argument("sketch", type=Path, metavar="SKETCH", help=SKETCH_HELP)
    p.add_argument("photo", type=Path, nargs="?", metavar="PHOTO", help="photo to explain (or use --rank)")
    p.add_argument("--rank", type=int, help="explain the N-th (1-based) result of searching --gallery")
    p.add_argument(
        "--drawing", type=int, default=0, help="which drawing of an .ndjson file, 0-based (default: 0)"
    )
    p.add_argument("--label", help="the sketch's class (ndjson: its word)")
    p.add_argument(
        "--out", type=Path, default=Path("explanations"), help="output folder (default: explanations)"
    )
    p.add_argument("--stem", help="file-name stem (default: <sketch>__<photo> or <sketch>__rank<N>)")
    p.add_argument(
        "--format",
        type=_csv(FORMATS, "format"),
        default=FORMATS,
        help="comma list of png,svg,pdf (default: all)",
    )
    p.add_argument(
        "--views",
        type=_csv(VIEWS, "view"),
        default=VIEWS,
        help="comma list of " + ",".join(VIEWS) + " (default: all)",
    )
    p.add_argument(
        "--report", type=int, default=0, metavar="K", help="also write a PDF report of the top K results"
    )
    p.add_argument("--faithfulness", type=int, default=0, metavar="N", help="mask-test the N strongest pairs")
    p.add_argument(
        "--strokes",
        action="store_true",
        help="stroke attribution: per-stroke numbers in the sidecar and a <stem>_strokes.png figure "
        "(stroke .json / .ndjson sketches only)",
    )
    p.add_argument(
        "--occlusion",
        type=int,
        metavar="W",
        help="photo occlusion map with W x W patch windows (a <stem>_occlusion.png and an 'occlusion' "
        "sidecar entry with the area under the deletion curve)",
    )
    p.add_argument(
        "--contrast",
        type=int,
        metavar="M",
        help="with --rank N: why result N and not result M: per stroke (stroke sketches), per sketch "
        "patch, and both correspondences side by side (<stem>_contrast*.png / .svg / .pdf and a "
        "'contrast' sidecar entry)",
    )
    c = p.add_argument_group("correspondences")
    c.add_argument(
        "--pairs", type=int, default=15, help="draw the top N pairs, 0 = all that pass (default: 15)"
    )
    c.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        help="minimum strength of a drawn pair in the readout (default: 0)",
    )
    c.add_argument("--head", type=_head, default=None, help="cross-attention head, or 'mean' (default)")
    c.add_argument("--mutual-only", action="store_true", help="only mutual best matches")
    c.add_argument(
        "--readout",
        choices=CORRESPONDENCE_READOUTS,
        default=DEFAULT_READOUT,
        help="how the lines are read out of the cross-attention; 'attention' = the plain attention "
        f"argmax of earlier versions (default: {DEFAULT_READOUT}; measured in docs/explanations.md)",
    )
    c.add_argument("--all-patches", action="store_true", help="also pairs whose sketch patch has no ink")
    c.add_argument(
        "--side",
        choices=("sketch", "photo"),
        default="sketch",
        help="whose attention picks the matches (default: sketch)",
    )
    c.add_argument("--highlight", type=int, help="show the matches of this patch id (on --side)")
    c.add_argument(
        "--palette", default="viridis", help="matplotlib colour map of the line strength (default: viridis)"
    )
    c.add_argument("--no-grid", action="store_true", help="no patch grid")
    a = p.add_argument_group("attention and synthesis")
    a.add_argument(
        "--heads", type=_heads, default=None, help="[Ret] attention heads, e.g. 0,3 (default: all)"
    )
    a.add_argument(
        "--background",
        choices=("dim", "image", "black"),
        default="dim",
        help="attention background (default: dim)",
    )
    a.add_argument(
        "--keep-mass",
        type=float,
        default=0.6,
        help="share of each head's attention mass shown, in (0, 1] (default: 0.6)",
    )
    a.add_argument(
        "--overlay", type=float, default=0.35, help="faded sketch over the synthesis, 0..1 (default: 0.35)"
    )
    add_gallery_args(p)
    add_model_args(p)
    return p


def _options(args: argparse.Namespace) -> ExportOptions:
    cs = CorrespondenceSettings(
        top_k=args.pairs or None,
        threshold=args.threshold,
        head=args.head,
        mutual_only=args.mutual_only,
        ink_only=not args.all_patches,
        palette=args.palette,
        show_grid=not args.no_grid,
    )
    return ExportOptions(
        formats=tuple(args.format),
        views=tuple(args.views),
        correspondence=cs,
        highlight=args.highlight,
        side=args.side,
        heads=args.heads,
        background=args.background,
        keep_mass=args.keep_mass,
        synthesis_grid=not args.no_grid,
        sketch_overlay_alpha=args.overlay,
    )


def _provenance(
    engine: Engine, sketch: SketchInput, photo: str, label: str | None, rank: int | None
) -> Provenance:
    info = engine.weights_info
    return Provenance(
        model=engine.config.name,
        weights_sha256=info.sha256,
        weights_source=json_safe(info.source),
        sketch_source=json_safe(sketch.source),
        strokes=sketch.strokes,
        photo_path=json_safe(photo),
        photo_label=None if label is None else json_safe(label),
        query_label=None if sketch.label is None else json_safe(sketch.label),
        rank=rank,
    )


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if (args.photo is None) == (args.rank is None):
        p.error("give either PHOTO or --rank N (not both)")
    if args.rank is not None and args.rank < 1:
        p.error(f"--rank is 1-based, got {args.rank}")
    if args.occlusion is not None and args.occlusion < 1:
        p.error(f"--occlusion is a window side in patches (>= 1), got {args.occlusion}")
    if args.pairs < 0 or args.report < 0 or args.faithfulness < 0:
        p.error("--pairs, --report and --faithfulness must be >= 0")
    if args.photo is not None and path_kind(args.photo, "photo file", InputFileError) != "file":
        raise InputFileError(f"photo file {args.photo} not found")
    if path_kind(args.out, "--out", UsageError) not in ("dir", None):
        raise UsageError(f"--out {args.out} exists and is not a folder; name a folder for the figures")
    if args.stem is not None:
        _check_stem(args.stem)


def _check_stem(stem: str) -> None:
    """A stem names files inside --out: no folder part, no hidden or parent-folder names."""
    bad = (
        not stem
        or "/" in stem
        or "\\" in stem
        or "\0" in stem
        or stem.startswith(".")
        or len(stem.encode("utf-8", "surrogateescape")) > 200
    )
    if bad:
        raise UsageError(
            f"--stem {stem[:80]!r} must be a plain file-name prefix of at most 200 bytes, without '/' "
            "or a leading '.' (the figures are written inside --out)"
        )


REPORT_OCCLUSION_PAGES = 5  # the first results of a report also get a photo-occlusion page
REPORT_OCCLUSION_WINDOW = 2  # patches per side of each masked window (as in the app)


def _report_contrast(
    engine: Engine,
    sketch: SketchInput,
    query: SketchQuery,
    gallery: GalleryIndex,
    result: RetrievalResult,
    pages: Sequence[ReportPage],
) -> ContrastView | None:
    """Why result #1 and not #2, for the report's closing page (None with fewer than two results)."""
    from zse_gui.engine.contrast import contrast_patches

    if len(pages) < 2:
        return None
    a, b = result.items[0], result.items[1]
    sa, sb = pages[0].strokes, pages[1].strokes
    # the per-stroke difference needs only each result's contributions, which the two stroke pages
    # already measured (their ranks among the other results do not enter it)
    strokes = StrokeContrast(sa, sb) if sa is not None and sb is not None else None
    return ContrastView(
        contrast_patches(engine, query, gallery, a.index, b.index),
        pages[0].explanation,
        pages[1].explanation,
        json_safe(f"#1 {a.label or ''}".strip()),
        json_safe(f"#2 {b.label or ''}".strip()),
        strokes,
        sketch.strokes,
    )


def _write_report(
    args: argparse.Namespace,
    engine: Engine,
    sketch: SketchInput,
    query: SketchQuery,
    gallery: GalleryIndex,
    result: RetrievalResult,
    options: ExportOptions,
) -> None:
    """Explain the top ``--report`` results and write them as one multi-page PDF plus sidecar: a page
    per result, then (drawings) its stroke page, (the first five) its occlusion page, and a closing
    page on why #1 and not #2."""
    from zse_gui.engine.occlusion import occlusion_map
    from zse_gui.engine.strokes import attribute_strokes

    items = result.items[: args.report]
    strokes = sketch.strokes  # None for a raster sketch
    compared = result.reranked_indices()
    pages = []
    with progress("explaining", not args.quiet) as cb:
        for k, it in enumerate(items):
            cb(k, len(items) + 1)
            expl = engine.explain(query, gallery, index=it.index, readout=args.readout)
            attr = None
            if strokes is not None:  # a drawing: each result also gets its stroke page
                attr = attribute_strokes(engine, strokes, gallery, it.index, compared)
            occ = None
            if k < REPORT_OCCLUSION_PAGES:
                occ = occlusion_map(engine, query, gallery, it.index, window=REPORT_OCCLUSION_WINDOW)
            prov = _provenance(engine, sketch, it.path, it.label, it.final_rank)
            pages.append(ReportPage(expl, it, prov, strokes, attr, occ))
        cb(len(items), len(items) + 1)
        contrast = _report_contrast(engine, sketch, query, gallery, result, pages)
        cb(len(items) + 1, len(items) + 1)
    thumbs = [read_image_rgb(it.path) for it in items]
    header = f"{sketch.source}   model {engine.config.name} ({engine.weights_info.sha256[:12]})"
    pdf, side = write_pdf_report(
        args.out / json_safe(f"{args.sketch.stem[:100]}__report.pdf"),
        pages,
        options.correspondence,
        strip=(query.prepared.display, result, thumbs, sketch.label),
        header=header,
        contrast=contrast,
    )
    print(pdf)
    print(side)


def _add_to_sidecar(sidecar: Path, key: str, entry: dict[str, Any]) -> None:
    """Add one entry (``strokes``, ``contrast``, ``occlusion``) to the explanation's JSON sidecar."""
    doc = read_sidecar(sidecar)
    doc[key] = entry
    doc.pop("schema", None)  # write_sidecar sets them again
    doc.pop("version", None)
    write_sidecar(sidecar, doc)


def _write_strokes(
    args: argparse.Namespace,
    engine: Engine,
    sketch: SketchInput,
    gallery: GalleryIndex | None,
    result: RetrievalResult | None,
    sidecar: Path,
    stem: str,
) -> None:
    """Stroke attribution of the explained result: a figure, and one sidecar entry per input stroke."""
    from zse_gui.engine.strokes import attribute_strokes

    assert sketch.strokes is not None
    if args.rank is not None:
        assert gallery is not None and result is not None
        compared = result.reranked_indices()
        target = result.items[args.rank - 1].index
        attr = attribute_strokes(engine, sketch.strokes, gallery, target, compared)
        ranked_among: list[str] | None = [json_safe(gallery.paths[i]) for i in attr.compared]
    else:
        attr = attribute_strokes(engine, sketch.strokes, None, None, photo=str(args.photo))
        ranked_among = None
    image, _ = render_stroke_attribution(sketch.strokes, attr.contribution)
    png = save_png(args.out / f"{stem}_strokes.png", image)
    entry: dict[str, Any] = {
        "what": "relation logit of this sketch-photo pair with each stroke removed / alone; "
        "contribution_logit = whole-sketch logit minus the logit without the stroke",
        "base_logit": round(attr.base_logit, 6),
        "base_score": round(attr.base_score, 6),
        "ranked_among": ranked_among,
        "per_stroke": stroke_table(attr, sketch.strokes),
        "figure": json_safe(png.name),
    }
    if args.rank is None:
        for row in entry["per_stroke"]:
            row["removed_rank"] = row["alone_rank"] = None  # one photo: nothing to rank among
    _add_to_sidecar(sidecar, "strokes", entry)
    print(f"{png}  (stroke attribution, {len(sketch.strokes.strokes)} strokes)")


def _write_contrast(
    args: argparse.Namespace,
    engine: Engine,
    sketch: SketchInput,
    query: SketchQuery,
    gallery: GalleryIndex | None,
    result: RetrievalResult | None,
    expl_a: Explanation,
    options: ExportOptions,
    sidecar: Path,
    stem: str,
) -> None:
    """Why result --rank and not result --contrast: per-stroke (stroke sketches) and per-patch
    contribution differences, and both results' correspondences side by side."""
    from zse_gui.engine.contrast import contrast_patches
    from zse_gui.engine.strokes import contrast_strokes

    assert gallery is not None and result is not None
    if args.contrast > len(result.items):
        raise UsageError(f"--contrast {args.contrast} but the gallery has only {len(result.items)} results")
    a, b = result.items[args.rank - 1], result.items[args.contrast - 1]
    strokes = None
    if sketch.strokes is not None:
        strokes = contrast_strokes(engine, sketch.strokes, gallery, a.index, b.index)
    patches = contrast_patches(engine, query, gallery, a.index, b.index)
    view = ContrastView(
        patches,
        expl_a,
        engine.explain(query, gallery, index=b.index, readout=args.readout),
        json_safe(f"#{args.rank} {a.label or ''}".strip()),
        json_safe(f"#{args.contrast} {b.label or ''}".strip()),
        strokes,
        sketch.strokes,
    )
    files = write_contrast_files(view, args.out, stem, options.formats, options.correspondence)
    entry = contrast_record(view, options.correspondence)
    entry["a"].update(rank=args.rank, path=json_safe(a.path))
    entry["b"].update(rank=args.contrast, path=json_safe(b.path))
    entry["figures"] = [json_safe(f.name) for f in files]
    _add_to_sidecar(sidecar, "contrast", entry)
    for f in files:
        print(f)
    print(f"  (why #{args.rank} and not #{args.contrast}: {patches.windows} sketch patches masked)")


def _write_occlusion(
    args: argparse.Namespace,
    engine: Engine,
    query: SketchQuery,
    gallery: GalleryIndex | None,
    result: RetrievalResult | None,
    sidecar: Path,
    stem: str,
) -> None:
    """The photo occlusion map of the explained pair and its deletion-curve area."""
    from zse_gui.engine.occlusion import occlusion_map

    try:
        if args.rank is not None:
            assert result is not None
            index = result.items[args.rank - 1].index
            occ = occlusion_map(engine, query, gallery, index, window=args.occlusion)
        else:
            occ = occlusion_map(engine, query, photo=str(args.photo), window=args.occlusion)
    except ConfigError as e:  # a window larger than the patch grid
        raise UsageError(str(e)) from None
    png = save_png(args.out / f"{stem}_occlusion.png", render_occlusion(occ))
    entry: dict[str, Any] = {
        "what": "relation-score drop when each window of the photo is painted white; the deletion "
        "curve masks the most important windows together (0 %, 10 %, ..., 100 %)",
        "window_patches": occ.window,
        "base_score": round(occ.base_score, 6),
        "drop": [[round(float(v), 6) for v in row] for row in occ.drop],
        "deletion_scores": [round(float(v), 6) for v in occ.deletion_scores],
        "deletion_auc": round(occ.deletion_auc, 6),
        "figure": json_safe(png.name),
    }
    _add_to_sidecar(sidecar, "occlusion", entry)
    print(f"{png}  (occlusion, area under deletion {occ.deletion_auc:.3f})")


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    try:
        options = _options(args)
    except ConfigError as e:  # a bad palette or threshold is a usage error, not a model error
        raise UsageError(str(e)) from None
    sketch = load_sketch(args.sketch, args.drawing, args.label)  # inputs first: fail before the model loads
    if args.contrast is not None and (args.rank is None or args.contrast < 1 or args.contrast == args.rank):
        raise UsageError("--contrast M needs --rank N and another 1-based rank M")
    if args.strokes and sketch.strokes is None:
        raise InvalidSketchError(
            f"--strokes needs a drawing with strokes (.json or .ndjson), not {args.sketch}"
        )
    if args.rank is not None or args.report:
        check_gallery_folder(args.gallery)
    engine = build_engine(args)
    query = engine.encode_sketch(sketch.query)
    n_heads = engine.config.ca_heads
    if args.head is not None and not 0 <= args.head < n_heads:
        raise UsageError(f"--head {args.head} out of range: {engine.config.name} has {n_heads} CA heads")
    n_patches = engine.config.num_patches
    if args.highlight is not None and not 0 <= args.highlight < n_patches:
        raise UsageError(f"--highlight {args.highlight} out of range 0..{n_patches - 1}")
    gallery = result = None
    if args.rank is not None or args.report:
        gallery = open_gallery(engine, args.gallery, args.cache_dir, args.quiet, args.follow_symlinks)
        result = engine.search(
            query,
            gallery,
            top_k=max(args.rank or 1, args.report, 10 if args.strokes else 1, args.contrast or 1),
        )
    if args.rank is not None:
        assert gallery is not None and result is not None
        if args.rank > len(result.items):
            raise UsageError(f"--rank {args.rank} but the gallery has only {len(result.items)} results")
        item = result.items[args.rank - 1]
        expl = engine.explain(
            query, gallery, index=item.index, faithfulness_top=args.faithfulness, readout=args.readout
        )
        prov = _provenance(engine, sketch, item.path, item.label, item.final_rank)
        photo_name = f"rank{args.rank}"
    else:
        expl = engine.explain(
            query, photo=str(args.photo), faithfulness_top=args.faithfulness, readout=args.readout
        )
        prov = _provenance(engine, sketch, str(args.photo), None, None)
        photo_name = args.photo.stem
    # Undecodable bytes of the names would be lone surrogates in the sidecar's file list.
    stem = json_safe(args.stem or f"{args.sketch.stem[:100]}__{photo_name[:100]}")
    written = export_explanation(expl, args.out, stem, options, prov)
    for f in written.files:
        print(f)
    print(f"{written.sidecar}  ({written.pairs} pairs, relation {expl.relation_score:.3f})")
    if args.strokes:
        _write_strokes(args, engine, sketch, gallery, result, written.sidecar, stem)
    if args.contrast is not None:
        _write_contrast(args, engine, sketch, query, gallery, result, expl, options, written.sidecar, stem)
    if args.occlusion is not None:
        _write_occlusion(args, engine, query, gallery, result, written.sidecar, stem)
    if args.report:
        assert gallery is not None and result is not None
        _write_report(args, engine, sketch, query, gallery, result, options)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zse-explain``; returns the exit code."""
    return run_main("zse-explain", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
