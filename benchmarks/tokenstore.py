"""Token-store policies: bytes per item and re-rank agreement with exact float32 tokens.

On the demo gallery with the bundled ``zse_lite`` model: every photo's SA tokens are computed
in float32 (the reference), then stored as float16, fp8 (e4m3 + a float16 scale per token) or
int8 (symmetric, a float16 scale per token), or not at all (``none``: re-encoded from the photo
when the re-rank needs it). For each query sketch the stage-1 top 50 are re-scored by the RN
with each form of the tokens and compared with the reference: overlap of the re-ranked top 10,
whether the top 1 is the same, and the largest absolute logit difference. ``none`` is also
timed: a cold re-rank of 50 (tokens and projections recomputed) against one from stored tokens.

Run: ``nice -n 10 .venv/bin/python -m benchmarks.tokenstore --threads 1``; writes the
"tokenstore" section of docs/benchmarks.md.
"""

from __future__ import annotations

from benchmarks._threads import early_threads

early_threads()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._report import machine_line, write_section  # noqa: E402
from benchmarks.demo_latency import sketches as quickdraw_sketches  # noqa: E402
from zse_gui.engine.engine import Engine  # noqa: E402
from zse_gui.engine.preprocess import prepare_photo  # noqa: E402
from zse_gui.engine.retrieval import cosine_topk, order_desc  # noqa: E402
from zse_gui.engine.tokenstore import bytes_per_item, compress, decompress  # noqa: E402
from zse_gui.sketch import StrokeSketch  # noqa: E402
from zse_gui.sketch.strokes import read_stroke_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "resources" / "demo_gallery"
SKETCHES = ROOT / "resources" / "sketches"
DEPTH = 50
TOP = 10


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--doodles", type=int, default=30, help="Quick, Draw! queries added when available")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    eng = Engine.from_name("zse_lite", weights="default", device="cpu", precision="fp32")
    cfg = eng.config
    queries: list[StrokeSketch] = [read_stroke_file(p) for p in sorted(SKETCHES.glob("*.json"))]
    n_samples = len(queries)
    doodles, source = quickdraw_sketches(args.doodles)
    if source.startswith("Quick"):
        queries += doodles
    extra = f" + {len(queries) - n_samples} Quick, Draw! doodles" if len(queries) > n_samples else ""
    with tempfile.TemporaryDirectory() as cache:
        gal = eng.index_gallery(GALLERY, cache_root=cache, ann="exact", tokens="fp16")
        n = len(gal)
        ref = np.empty((n, cfg.num_tokens, cfg.embed_dim), np.float32)
        with torch.inference_mode():
            for s in range(0, n, 32):
                batch = np.stack([prepare_photo(p, cfg).tensor for p in gal.paths[s : s + 32]])
                ref[s : s + 32] = eng.model.forward_tokens(torch.from_numpy(batch)).tokens.float().numpy()
        forms: dict[str, np.ndarray] = {"fp16": ref.astype(np.float16).astype(np.float32)}
        for kind in ("fp8", "int8"):
            forms[kind] = decompress(*compress(ref, kind), kind)
        galleries = {k: dataclasses.replace(gal, tokens=v, key=f"bench-{k}") for k, v in forms.items()}
        exact = dataclasses.replace(gal, tokens=ref, key="bench-exact")
        bare = dataclasses.replace(gal, tokens=np.zeros((n, 0, cfg.embed_dim), np.float16), key="bench-none")
        galleries["none"] = bare
        stats: dict[str, list[tuple[float, bool, float]]] = {k: [] for k in galleries}
        t_cold, t_stored = [], []
        emb = np.asarray(gal.embeddings, np.float32)
        for sk in queries:
            q = eng.encode_sketch(sk)
            cand, _ = cosine_topk(q.ret, emb, DEPTH)
            want = eng.rn_logits(q, exact, cand, use_cache=False)
            want_top = cand[order_desc(want, cand)[:TOP]]
            for k, g in galleries.items():
                got = eng.rn_logits(q, g, cand, use_cache=False)
                got_top = cand[order_desc(got, cand)[:TOP]]
                overlap = len(set(got_top) & set(want_top)) / TOP
                stats[k].append((overlap, bool(got_top[0] == want_top[0]), float(np.abs(got - want).max())))
            eng.projections.clear()
            eng._token_lru.clear()
            t0 = time.perf_counter()
            eng.rn_logits(q, bare, cand)
            t_cold.append((time.perf_counter() - t0) * 1000)
            eng.projections.clear()
            t0 = time.perf_counter()
            eng.rn_logits(q, galleries["fp16"], cand)
            t_stored.append((time.perf_counter() - t0) * 1000)
    t, c = cfg.num_tokens, cfg.embed_dim
    lines = [
        "## Token store (`benchmarks/tokenstore.py`)",
        "",
        f"Machine: {machine_line()}. Demo gallery ({n} photos), zse_lite (T = {t} tokens of C = {c}), "
        f"{len(queries)} query sketches ({n_samples} sample sketches{extra}); "
        f"RN re-rank of the stage-1 top {DEPTH}, compared with exact float32 tokens.",
        "",
        "| policy | bytes per item (zse_lite) | bytes per item (ViT-B/16, 197 x 768) | top-10 overlap "
        "(mean / min) | same top-1 | max abs logit difference |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for k, rows in stats.items():
        ov = [r[0] for r in rows]
        lines.append(
            f"| {k} | {bytes_per_item(k, t, c):,} | {bytes_per_item(k, 197, 768):,} | "
            f"{statistics.mean(ov):.3f} / {min(ov):.1f} | {sum(r[1] for r in rows)}/{len(rows)} | "
            f"{max(r[2] for r in rows):.2e} |"
        )
    lines += [
        "",
        f"Cost of `none`: re-ranking {DEPTH} photos cold (re-encode them, project, CA + RN) took "
        f"{statistics.median(t_cold):.0f} ms median against {statistics.median(t_stored):.0f} ms from "
        "stored fp16 tokens (projections not cached in either), one query at a time.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("tokenstore", body)


if __name__ == "__main__":
    main()
