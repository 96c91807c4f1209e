"""Cost of stroke attribution and stroke replay with the bundled ``zse_lite`` model on this CPU.

* **attribution**: ``attribute_strokes`` for the top result of a 20-stroke sketch: 41 variant
  sketches (whole, each stroke removed, each stroke alone) preprocessed, encoded in one batch and
  scored against the result's cached photo side; once ranking against the target alone, once
  against the top 10 current results (each compared photo adds 41 CA + RN pairs).
* **replay**: ``replay_sketch`` of the same sketch (20 prefixes), two-stage search with K = 50.
* **before / after** for the ranks: the attribution with ranks and the CA + RN of the 41 x 10 pairs,
  once with today's ``pair_logits`` (all compared photos per CA forward, ``forward_cross_all``) and
  once with the previous one (one photo per forward, its tokens and projections broadcast to the 41
  variants; kept below as ``pair_logits_per_photo``), interleaved in the same run so that both
  see the same load. Wall time and process CPU time are both reported (the CPU time is less
  disturbed by other processes on the shared cores); the ranks and logits of both are compared.

The sketch is the first Quick, Draw! doodle with at least 20 strokes from ``../shared/data/quickdraw``
(cut to its first 20 strokes), else 20 generated strokes. Median of ``--repeats`` runs after a
warm-up; the split (preprocess / SA encode / CA + RN) is timed on separate calls of the same parts.

Run: ``nice .venv/bin/python -m benchmarks.strokes [--threads 1] [--repeats 5]``; writes the
"strokes" section of docs/benchmarks.md (one table row per thread setting: run it twice).
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
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import zse_gui.engine.strokes as strokes_mod  # noqa: E402
from benchmarks._report import machine_line, merge_rows, write_section  # noqa: E402
from zse_gui.engine.engine import Engine  # noqa: E402
from zse_gui.engine.preprocess import prepare_sketch  # noqa: E402
from zse_gui.engine.replay import replay_sketch, target_rank  # noqa: E402
from zse_gui.engine.strokes import (  # noqa: E402
    attribute_strokes,
    encode_prepared,
    pair_logits,
    stroke_variants,
)
from zse_gui.model.layers import CrossProjections  # noqa: E402
from zse_gui.sketch import Stroke, StrokeSketch, quickdraw_sketch, read_quickdraw_ndjson  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "resources" / "demo_gallery"
QUICKDRAW = ROOT.parent / "shared" / "data" / "quickdraw" / "ndjson"
STROKES = 20
RESULTS_FILE = ROOT / "docs" / "strokes_benchmark.json"


def sketch_with_strokes(n: int) -> tuple[StrokeSketch, str]:
    if QUICKDRAW.is_dir():
        for f in sorted(QUICKDRAW.glob("*.ndjson")):
            for d in read_quickdraw_ndjson(f):
                sk = quickdraw_sketch(d)
                if len(sk.strokes) >= n:
                    return StrokeSketch(sk.strokes[:n], sk.canvas_size), f"Quick, Draw! '{d.word}' doodle"
    rng = np.random.default_rng(0)
    strokes = tuple(
        Stroke(np.cumsum(rng.normal(0, 12, (8, 2)), 0).astype(np.float32) + rng.uniform(80, 430, 2), 3.0)
        for _ in range(n)
    )
    return StrokeSketch(strokes, (512, 512)), "generated random walks"


def pair_logits_per_photo(
    engine: Engine,
    sk_tokens: torch.Tensor,
    sk_proj: CrossProjections,
    ph_tokens: torch.Tensor,
    ph_proj: CrossProjections,
    cancel: object = None,
    progress: object = None,
    column_done: object = None,
) -> np.ndarray:
    """The previous ``pair_logits`` (the "before" of this benchmark): one CA + RN forward per photo,
    batched over the sketches, the photo's tokens and projections broadcast to them."""
    v, k = sk_tokens.shape[0], ph_tokens.shape[0]
    out = np.empty((v, k), np.float32)
    m = engine.model
    chunk = max(1, engine.rn_batch * 4)
    for j in range(k):
        for s in range(0, v, chunk):
            b = min(chunk, v - s)
            ph = ph_tokens[j : j + 1].expand(b, -1, -1)
            pp = CrossProjections(*(t[j : j + 1].expand(b, -1, -1, -1) for t in ph_proj))
            sp = CrossProjections(*(t[s : s + b] for t in sk_proj))
            cross = m.forward_cross(sk_tokens[s : s + b], ph, sk_proj=sp, ph_proj=pp)
            logit, _ = engine.relation(cross.sketch, cross.photo)
            out[s : s + b, j] = logit.float().cpu().numpy()
        if callable(column_done):
            column_done(j, out)
        if callable(progress):
            progress(j + 1, k)
    return out


def timed(fn: object) -> tuple[float, float]:
    """(wall ms, process CPU ms) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - w0) * 1000.0, (time.process_time() - c0) * 1000.0


def before_after(before: object, after: object, repeats: int) -> dict[str, float]:
    """Median wall and CPU ms of two callables, run alternately (same load for both)."""
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    for _ in range(repeats):
        runs["before"].append(timed(before))
        runs["after"].append(timed(after))
    out = {}
    for name, r in runs.items():
        out[f"{name}_ms"] = round(statistics.median(w for w, _ in r), 1)
        out[f"{name}_cpu_ms"] = round(statistics.median(c for _, c in r), 1)
    return out


def median_ms(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch/BLAS threads (default: torch's)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs alone")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = round(os.getloadavg()[0], 2)
    eng = Engine.from_name("zse_lite", weights="default", device="cpu", precision="fp32")
    sketch, source = sketch_with_strokes(STROKES)
    with tempfile.TemporaryDirectory() as cache:
        gallery = eng.index_gallery(GALLERY, cache_root=cache, batch_size=16)
        result = eng.search(sketch, gallery, top_k=10, rerank_depth=50)
        top = [it.index for it in result.items]
        attribute_strokes(eng, sketch, gallery, top[0], top)  # warm-up (fills the projection LRU)
        t_alone = median_ms(lambda: attribute_strokes(eng, sketch, gallery, top[0]), args.repeats)
        t_top10 = median_ms(lambda: attribute_strokes(eng, sketch, gallery, top[0], top), args.repeats)
        removed, alone = stroke_variants(sketch)
        variants = [sketch, *removed, *alone]

        def prep() -> list:
            return [prepare_sketch(s, eng.config) for s in variants if s is not None]

        prepared = prep()
        t_prep = median_ms(prep, args.repeats)
        with torch.inference_mode():
            t_enc = median_ms(lambda: encode_prepared(eng, prepared), args.repeats)
            sk_t, sk_p = encode_prepared(eng, prepared)
            ph_t, ph_p = eng.photo_side(gallery, top[:1])
            t_rn1 = median_ms(lambda: pair_logits(eng, sk_t, sk_p, ph_t, ph_p), args.repeats)
            ph10_t, ph10_p = eng.photo_side(gallery, top)
            old_logits = pair_logits_per_photo(eng, sk_t, sk_p, ph10_t, ph10_p)
            new_logits = pair_logits(eng, sk_t, sk_p, ph10_t, ph10_p)
            pairs = before_after(
                lambda: pair_logits_per_photo(eng, sk_t, sk_p, ph10_t, ph10_p),
                lambda: pair_logits(eng, sk_t, sk_p, ph10_t, ph10_p),
                args.repeats,
            )

        def attribution_with(impl: object) -> object:
            saved = strokes_mod.pair_logits
            strokes_mod.pair_logits = impl  # type: ignore[assignment]
            try:
                return attribute_strokes(eng, sketch, gallery, top[0], top)
            finally:
                strokes_mod.pair_logits = saved

        a_old, a_new = attribution_with(pair_logits_per_photo), attribution_with(pair_logits)
        ranked = before_after(
            lambda: attribution_with(pair_logits_per_photo),
            lambda: attribution_with(pair_logits),
            args.repeats,
        )
        same_ranks = all(
            np.array_equal(getattr(a_old, f), getattr(a_new, f))
            for f in ("removed_rank", "alone_rank", "base_rank")
        )
        max_diff = float(np.abs(old_logits - new_logits).max())
        target = target_rank(eng, sketch, gallery, 0)
        replay_sketch(eng, sketch, gallery, target)  # warm-up
        t_replay = median_ms(lambda: replay_sketch(eng, sketch, gallery, target), max(1, args.repeats // 2))
    threads = torch.get_num_threads()
    row = {
        "threads": threads,
        "attribution_target_only_ms": round(t_alone, 1),
        "attribution_rank_top10_ms": round(t_top10, 1),
        "preprocess_41_ms": round(t_prep, 1),
        "encode_41_ms": round(t_enc, 1),
        "ca_rn_41_pairs_ms": round(t_rn1, 1),
        "replay_20_prefixes_ms": round(t_replay, 1),
        "rank_top10_before_ms": ranked["before_ms"],
        "rank_top10_after_ms": ranked["after_ms"],
        "rank_top10_before_cpu_ms": ranked["before_cpu_ms"],
        "rank_top10_after_cpu_ms": ranked["after_cpu_ms"],
        "ca_rn_410_pairs_before_ms": pairs["before_ms"],
        "ca_rn_410_pairs_after_ms": pairs["after_ms"],
        "ca_rn_410_pairs_before_cpu_ms": pairs["before_cpu_ms"],
        "ca_rn_410_pairs_after_cpu_ms": pairs["after_cpu_ms"],
        "ranks_equal_before_after": same_ranks,
        "max_logit_difference_before_after": max_diff,
        "load_average_1min_before": load_before,
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "sketch": source,
        "machine": machine_line(),
    }
    print(json.dumps(row, indent=2))
    if args.no_write:
        return
    rows = merge_rows(RESULTS_FILE, row)
    lines = [
        "## Stroke attribution and replay (`benchmarks/strokes.py`)",
        "",
        f"Model `zse_lite` (bundled weights, fp32), gallery `resources/demo_gallery`, a {STROKES}-stroke "
        f"sketch ({source}). Median of {args.repeats} runs after a warm-up. Machine: {machine_line()}.",
        "",
        "| torch threads | attribution, score only | attribution + rank among top 10 | of which: "
        "preprocess 41 variants | SA encode 41 | CA + RN 41 pairs (1 photo) | replay, 20 prefixes, "
        "K = 50 | load avg (1 min, after) | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "met" if r["attribution_target_only_ms"] < 1000 else "NOT met"
        met_ranked = "met" if r["attribution_rank_top10_ms"] < 1000 else "NOT met"
        cells = [
            f"{r['threads']}",
            f"{r['attribution_target_only_ms']:.0f} ms",
            f"{r['attribution_rank_top10_ms']:.0f} ms",
            f"{r['preprocess_41_ms']:.0f} ms",
            f"{r['encode_41_ms']:.0f} ms",
            f"{r['ca_rn_41_pairs_ms']:.0f} ms",
            f"{r['replay_20_prefixes_ms']:.0f} ms",
            f"{r.get('load_average_1min_after', float('nan')):.1f}",
            f"< 1 s: score only {met}, with ranks {met_ranked}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Each compared photo adds one CA + RN pass over the 41 variants; the app ranks among the "
        "top 10 results and shows a progress bar while it works. Without ranks the SA encoder over "
        "the 41 variant sketches is the larger part; with them the CA + RN of the 410 pairs is. "
        "The machine is shared: the load average says how many other processes competed for its "
        "2 cores.",
        "",
        "### The ranks before and after: all compared photos per CA forward",
        "",
        "Before: one CA + RN forward per compared photo, its tokens and projections broadcast to the "
        "41 variants. After (`pair_logits` with `ZseSbir.forward_cross_all`): the target photo first "
        "(its scores reach the app early), then each forward takes a few variants against all 9 "
        "other photos: per head one product of every variant's queries with every photo's keys, the "
        f"photo side never copied per pair, up to {strokes_mod.PAIR_BATCH} pairs per forward, and "
        "the relation network scores those pairs in one batch. Both measured alternately in the "
        "same run (median of the repeats); CPU = the process's CPU time, less disturbed by other "
        "processes than the wall time.",
        "",
        "| torch threads | attribution + rank, before | after | CPU before | CPU after "
        "| CA + RN 410 pairs, before | after | CPU before | CPU after | same ranks | max logit "
        "difference | load avg (1 min) before / after the run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "rank_top10_before_ms" not in r:
            continue
        cells = [
            f"{r['threads']}",
            f"{r['rank_top10_before_ms']:.0f} ms",
            f"{r['rank_top10_after_ms']:.0f} ms",
            f"{r['rank_top10_before_cpu_ms']:.0f} ms",
            f"{r['rank_top10_after_cpu_ms']:.0f} ms",
            f"{r['ca_rn_410_pairs_before_ms']:.0f} ms",
            f"{r['ca_rn_410_pairs_after_ms']:.0f} ms",
            f"{r['ca_rn_410_pairs_before_cpu_ms']:.0f} ms",
            f"{r['ca_rn_410_pairs_after_cpu_ms']:.0f} ms",
            "yes" if r["ranks_equal_before_after"] else "NO",
            f"{r['max_logit_difference_before_after']:.1e}",
            f"{r['load_average_1min_before']:.1f} / {r['load_average_1min_after']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    write_section("strokes", "\n".join(lines))


if __name__ == "__main__":
    main()
