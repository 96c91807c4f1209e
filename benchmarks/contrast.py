"""Cost of "why A and not B" and of the report's new pages, with the bundled ``zse_lite`` on this CPU.

* **per-patch contrast**: ``contrast_patches`` of results #1 and #2 of the sample fish drawing,
  each inked sketch patch masked alone (``window=1``) and in 2 x 2 windows (``window=2``);
* **per-stroke contrast**: ``contrast_strokes`` of the same two results, for comparison;
* **report**: the app's top-5 report (``write_pdf_report``) for the same drawing, timed end to end
  once without and once with the occlusion pages (2 x 2 photo windows, one per result) and the
  closing contrast page: explanations, stroke attributions, occlusion maps, contrast and PDF.

Median of ``--repeats`` runs after a warm-up (the report: ``--report-repeats`` runs, default 1).

Run: ``nice .venv/bin/python -m benchmarks.contrast [--threads 1] [--repeats 3]``; writes the
"contrast" section of docs/benchmarks.md (one table row per thread setting).
"""

from __future__ import annotations

from benchmarks._threads import early_threads

early_threads()  # before numpy and torch start their thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from benchmarks._report import machine_line, merge_rows, write_section  # noqa: E402
from zse_gui.engine.contrast import contrast_patches  # noqa: E402
from zse_gui.engine.engine import Engine  # noqa: E402
from zse_gui.engine.gallery import GalleryIndex  # noqa: E402
from zse_gui.engine.strokes import contrast_strokes  # noqa: E402
from zse_gui.sketch import StrokeSketch, read_stroke_file  # noqa: E402
from zse_gui.stroke_results import StrokeContrast  # noqa: E402
from zse_gui.viz import ReportPage, write_pdf_report  # noqa: E402
from zse_gui.viz.contrast import ContrastView  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "resources" / "demo_gallery"
SKETCH = ROOT / "resources" / "sketches" / "fish.json"
RESULTS_FILE = ROOT / "docs" / "contrast_benchmark.json"
REPORT_RESULTS = 5


def median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(eng: Engine, sketch: StrokeSketch, gallery: GalleryIndex, out: Path, new_pages: bool) -> int:
    """The app's report of the top five results; returns the page count."""
    result = eng.search(sketch, gallery, top_k=REPORT_RESULTS, rerank_depth=50)
    compared = result.reranked_indices()
    pages = []
    for it in result.items:
        expl = eng.explain(sketch, gallery, index=it.index)
        attr = eng.attribute_strokes(sketch, gallery, it.index, compared)
        occ = eng.occlusion_map(sketch, gallery, it.index, window=2) if new_pages else None
        pages.append(ReportPage(expl, it, None, sketch, attr, occ))
    contrast = None
    if new_pages:
        a, b = result.items[0], result.items[1]
        sa, sb = pages[0].strokes, pages[1].strokes
        assert sa is not None and sb is not None
        patches = eng.contrast_patches(sketch, gallery, a.index, b.index)
        contrast = ContrastView(
            patches, pages[0].explanation, pages[1].explanation, "#1", "#2", StrokeContrast(sa, sb), sketch
        )
    _, side = write_pdf_report(out, pages, contrast=contrast)
    return int(json.loads(side.read_text())["page_count"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--report-repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch/BLAS threads (default: torch's)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs alone")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    eng = Engine.from_name("zse_lite", weights="default", device="cpu", precision="fp32")
    sketch = read_stroke_file(SKETCH)
    with tempfile.TemporaryDirectory() as tmp:
        gallery = eng.index_gallery(GALLERY, cache_root=Path(tmp) / "cache", batch_size=16)
        res = eng.search(sketch, gallery, top_k=10, rerank_depth=50)
        a, b = res.items[0].index, res.items[1].index
        inked = contrast_patches(eng, sketch, gallery, a, b).windows  # also the warm-up
        t_w1 = median_s(lambda: contrast_patches(eng, sketch, gallery, a, b), args.repeats)
        windows2 = contrast_patches(eng, sketch, gallery, a, b, window=2).windows
        t_w2 = median_s(lambda: contrast_patches(eng, sketch, gallery, a, b, window=2), args.repeats)
        t_st = median_s(lambda: contrast_strokes(eng, sketch, gallery, a, b), args.repeats)
        pages = {}

        def run(new: bool) -> None:
            pages[new] = report(eng, sketch, gallery, Path(tmp) / f"r{int(new)}.pdf", new)

        t_old = median_s(lambda: run(False), args.report_repeats)
        t_new = median_s(lambda: run(True), args.report_repeats)
    threads = torch.get_num_threads()
    row = {
        "threads": threads,
        "inked_patches": inked,
        "patch_contrast_window1_s": round(t_w1, 2),
        "inked_windows_2x2": windows2,
        "patch_contrast_window2_s": round(t_w2, 2),
        "stroke_contrast_s": round(t_st, 2),
        "strokes": len(sketch.strokes),
        "report_top5_before_s": round(t_old, 1),
        "report_top5_before_pages": pages[False],
        "report_top5_after_s": round(t_new, 1),
        "report_top5_after_pages": pages[True],
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "machine": machine_line(),
    }
    print(json.dumps(row, indent=2))
    if args.no_write:
        return
    rows = merge_rows(RESULTS_FILE, row)
    lines = [
        "## Why A and not B, and the report's occlusion and contrast pages (`benchmarks/contrast.py`)",
        "",
        "Model `zse_lite` (bundled weights, fp32), gallery `resources/demo_gallery`, the sample drawing "
        f"`resources/sketches/fish.json`, results #1 and #2. Median of {args.repeats} runs after a "
        f"warm-up (reports: {args.report_repeats} run each). Machine: {machine_line()}.",
        "",
        "| torch threads | per patch, each inked patch | per patch, 2 x 2 windows | per stroke "
        "| top-5 report before | top-5 report after (+ occlusion pages, contrast page) "
        "| load avg (1 min, after) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{r['threads']}",
            f"{r['patch_contrast_window1_s']:.2f} s ({r['inked_patches']} patches)",
            f"{r['patch_contrast_window2_s']:.2f} s ({r['inked_windows_2x2']} windows)",
            f"{r['stroke_contrast_s']:.2f} s ({r['strokes']} strokes)",
            f"{r['report_top5_before_s']:.1f} s ({r['report_top5_before_pages']} pages)",
            f"{r['report_top5_after_s']:.1f} s ({r['report_top5_after_pages']} pages)",
            f"{r['load_average_1min_after']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "The per-patch contrast encodes one masked sketch per inked patch (the frozen EfficientNet-Lite0 "
        "backbone dominates) and scores each with both photos; the app shows the per-stroke colours "
        "first and a progress bar until the patches are in. Most of the report's added time is the "
        "five occlusion maps (61 photo encodes each). The machine is shared: the load average says how "
        "many other processes competed for its 2 cores.",
    ]
    write_section("contrast", "\n".join(lines))


if __name__ == "__main__":
    main()
