"""Sketch-to-results latency of the bundled ``zse_lite`` model over the bundled demo gallery.

What a user of the app waits for after a stroke, on this machine's CPU (fp32):

* **stage 1**: preprocess + encode the sketch, then rank the whole demo gallery by [Ret] cosine
  over the cached gallery embeddings (``Engine.search(mode="ret")``);
* **re-ranked**: stage 1 plus the relation network on the top K = 50 (``mode="rerank"``, the app's
  default), projections of gallery photos cached as in the app (steady state after a first query).

Sketches are real Quick, Draw! doodles from ``../shared/data/quickdraw`` when present, else a
generated stroke sketch. Each number is the median over ``--repeats`` queries (after a warm-up).
Gallery indexing time is reported once. Nothing is asserted; targets are stage 1 < 100 ms and
re-ranked < 1 s.

Run: ``nice .venv/bin/python -m benchmarks.demo_latency [--repeats 20] [--threads 1]``; writes the
"demo_latency" section of docs/benchmarks.md.
"""

from __future__ import annotations

from benchmarks._threads import early_threads

early_threads()  # before numpy and torch start their thread pools

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._report import machine_line, write_section  # noqa: E402
from zse_gui.engine.engine import Engine  # noqa: E402
from zse_gui.sketch import Stroke, StrokeSketch, quickdraw_to_strokes, read_quickdraw_ndjson  # noqa: E402  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "resources" / "demo_gallery"
QUICKDRAW = ROOT.parent / "shared" / "data" / "quickdraw" / "ndjson"


def sketches(n: int) -> tuple[list[StrokeSketch], str]:
    """Up to ``n`` real doodles (one per class, in file order), or one generated sketch."""
    out: list[StrokeSketch] = []
    if QUICKDRAW.is_dir():
        for f in sorted(QUICKDRAW.glob("*.ndjson"))[::7]:
            d = read_quickdraw_ndjson(f, limit=1)[0]
            strokes = tuple(Stroke(p, w) for p, w in quickdraw_to_strokes(d, pen_width=3.0, canvas=256))
            out.append(StrokeSketch(strokes, (256, 256)))
            if len(out) == n:
                return out, "Quick, Draw! doodles"
    t = np.linspace(0, 2 * np.pi, 40)
    circle = np.stack([200 + 80 * np.cos(t), 200 + 80 * np.sin(t)], 1).astype(np.float32)
    return [StrokeSketch((Stroke(circle, 4.0),), (400, 400))], "a generated circle"


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None, help="torch/BLAS threads (default: torch's)")
    ap.add_argument("--depth", type=int, default=50, help="RN re-rank depth K")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    eng = Engine.from_name("zse_lite", weights="default", device="cpu", precision="fp32")
    queries, source = sketches(args.repeats)
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        gallery = eng.index_gallery(GALLERY, cache_root=cache, batch_size=16)
        index_s = time.perf_counter() - t0
        # Warm-up: first calls allocate, and the first re-rank fills the projection cache.
        eng.search(queries[0], gallery, top_k=20, mode="ret")
        eng.search(queries[0], gallery, top_k=20, rerank_depth=args.depth, mode="rerank")
        s1: list[float] = []
        s2: list[float] = []
        for i in range(args.repeats):
            q = queries[i % len(queries)]
            t0 = time.perf_counter()
            eng.search(q, gallery, top_k=20, mode="ret")
            s1.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            eng.search(q, gallery, top_k=20, rerank_depth=args.depth, mode="rerank")
            s2.append(time.perf_counter() - t0)
    st1, st2 = median_ms(s1), median_ms(s2)
    body = "\n".join(
        [
            "## Demo model latency (`benchmarks/demo_latency.py`)",
            "",
            f"Machine: {machine_line()}. Model `zse_lite` (bundled weights, fp32), gallery "
            f"`resources/demo_gallery` ({len(gallery)} photos, indexed in {index_s:.1f} s). "
            f"Queries: {args.repeats} x {source}; median wall time per query, sketch strokes to results.",
            "",
            "| stage | median | target |",
            "|---|---|---|",
            f"| stage 1: encode sketch + [Ret] ranking of the gallery | {st1:.0f} ms | < 100 ms: "
            f"{'met' if st1 < 100 else 'NOT met'} |",
            f"| two-stage: stage 1 + RN re-rank of the top {args.depth} | {st2:.0f} ms | < 1000 ms: "
            f"{'met' if st2 < 1000 else 'NOT met'} |",
            "",
            f"Min / max over the repeats: stage 1 {min(s1) * 1000:.0f} / {max(s1) * 1000:.0f} ms, "
            f"two-stage {min(s2) * 1000:.0f} / {max(s2) * 1000:.0f} ms. On a shared CPU the spread "
            "comes from other processes.",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("demo_latency", body)


if __name__ == "__main__":
    main()
