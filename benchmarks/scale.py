"""Stage 1 at scale: recall@50 against the exact scan, query time, build time and bytes per item.

Three data sets, every number timed or counted in this run:

* **synthetic, N items** (default 1M): L2-normalised 768-d vectors from a two-level Gaussian
  mixture (``clustered_chunk``): 100 super-centres, 10 cluster centres around each (1000
  clusters, Zipf-like sizes), every item = its cluster centre + isotropic noise of per-cluster
  norm 0.8-1.4, normalised. Queries come from the same mixture with 20 % more noise (a sketch is
  further from its class than a photo). Real embeddings are clustered like this; uniform random
  vectors would be the worst case for any partitioning index and say little about galleries.
* **HNSW** on the first ``--hnsw-n`` synthetic items (it builds too slowly on this CPU for 1M).
* **the demo gallery** (``resources/demo_gallery``) encoded by the bundled ``zse_lite`` model;
  queries: the six sample sketches plus every photo as a query against the gallery.

Query time = wall time of one ``search(q, 50)`` call of the engine's stage-1 index (FAISS
shortlist + exact re-scoring from the float32 embeddings in RAM), one query at a time, like the
app. ``--n 10000000`` generates, trains on a sample and adds in chunks; the exact ground truth
is then computed chunk by chunk for the queries.

Run: ``nice -n 10 .venv/bin/python -m benchmarks.scale --threads 1``; writes the "scale"
section of docs/benchmarks.md.
"""

from __future__ import annotations

from benchmarks._threads import early_threads

early_threads()  # before numpy, torch and faiss start their thread pools

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._report import machine_line, write_section  # noqa: E402
from benchmarks.rowread import drop_page_cache  # noqa: E402
from zse_gui.engine.ann import DEFAULT_SHORTLIST, FaissStage1, build_faiss, ivfpq_params  # noqa: E402
from zse_gui.engine.engine import Engine  # noqa: E402
from zse_gui.engine.retrieval import cosine_topk  # noqa: E402
from zse_gui.sketch.strokes import read_stroke_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "resources" / "demo_gallery"
SKETCHES = ROOT / "resources" / "sketches"
D = 768
K = 50
CHUNK = 100_000
_TMP: str | None = None  # where serialized_bytes writes (the --on-disk folder when given)


class Mixture:
    """The synthetic generator: a fixed two-level Gaussian mixture, sampled chunk by chunk."""

    def __init__(self, d: int = D, supers: int = 100, per_super: int = 10, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        sup = rng.standard_normal((supers, d)).astype(np.float32)
        sup /= np.linalg.norm(sup, axis=1, keepdims=True)
        sub = np.repeat(sup, per_super, 0) + 0.9 * rng.standard_normal((supers * per_super, d)).astype(
            np.float32
        ) / np.sqrt(d)
        self.centres = sub / np.linalg.norm(sub, axis=1, keepdims=True)  # [1000, d]
        w = 1.0 / np.arange(1, len(sub) + 1) ** 0.5
        self.p = rng.permutation(w / w.sum())
        self.sigma = rng.uniform(0.8, 1.4, len(sub)).astype(np.float32)
        self.d = d

    def sample(self, n: int, seed: int, noise_scale: float = 1.0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        c = rng.choice(len(self.centres), n, p=self.p)
        x = rng.standard_normal((n, self.d), dtype=np.float32)
        x *= (noise_scale * self.sigma[c] / np.sqrt(self.d))[:, None]
        x += self.centres[c]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


def exact_topk_chunked(queries: np.ndarray, chunks: list[np.ndarray] | np.ndarray, k: int) -> np.ndarray:
    """[Q, k] exact top-k rows over a list of row chunks (running merge)."""
    best_i = np.zeros((len(queries), 0), np.int64)
    best_s = np.zeros((len(queries), 0), np.float32)
    start = 0
    for block in chunks:
        i, s = cosine_topk(queries, block, k)
        cand_i = np.concatenate([best_i, i + start], 1)
        cand_s = np.concatenate([best_s, s], 1)
        keep = np.argsort(-cand_s, 1, kind="stable")[:, :k]
        best_i, best_s = np.take_along_axis(cand_i, keep, 1), np.take_along_axis(cand_s, keep, 1)
        start += len(block)
    return best_i


def recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want, strict=True)]))


def per_query(search: object, queries: np.ndarray, k: int = K) -> tuple[np.ndarray, float, float]:
    """Run single-query searches; (results [Q, k], median ms, p95 ms)."""
    fn = search  # type: ignore[assignment]
    fn(queries[0], k)  # type: ignore[operator]  # warm-up
    out, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        idx, _ = fn(q, k)  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000.0)
        out.append(idx)
    return np.stack(out), statistics.median(times), float(np.percentile(times, 95))


def serialized_bytes(index: object) -> int:
    """Size of the index as FAISS writes it, streamed to a temporary file (serialising a 10M-item
    refined index into memory would need several copies of its 8.7 GB)."""
    with tempfile.TemporaryDirectory(dir=_TMP) as tmp:
        path = Path(tmp) / "index.faiss"
        faiss.write_index(index, str(path))
        return path.stat().st_size


def synthetic(n: int, nq: int, nprobes: list[int], shortlists: list[int], lines: list[str]) -> np.ndarray:
    mix = Mixture()
    t0 = time.perf_counter()
    chunks = [mix.sample(min(CHUNK, n - s), seed=1000 + s // CHUNK) for s in range(0, n, CHUNK)]
    emb = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    del chunks
    gen_s = time.perf_counter() - t0
    queries = mix.sample(nq, seed=7, noise_scale=1.2)
    t0 = time.perf_counter()
    truth = exact_topk_chunked(queries, [emb[s : s + CHUNK] for s in range(0, n, CHUNK)], K)
    gt_s = time.perf_counter() - t0
    _, exact_med, exact_p95 = per_query(lambda q, k: cosine_topk(q, emb, k), queries[:10])
    params = ivfpq_params(n, D)
    t0 = time.perf_counter()
    index, params = build_faiss("ivfpq", emb)
    build_s = time.perf_counter() - t0
    bpi = serialized_bytes(index) / n
    lines += [
        f"### Synthetic: {n:,} clustered normalised {D}-d embeddings, {nq} queries",
        "",
        f"Generated in {gen_s:.0f} s; exact ground truth (top-{K} of every query, chunked scan) in "
        f"{gt_s:.0f} s. Exact scan (today's stage 1), one query: median {exact_med:.0f} ms, "
        f"p95 {exact_p95:.0f} ms (10 queries).",
        "",
        f"IVF-PQ `{params.factory}`: built in {build_s:.0f} s (training on {min(n, 64 * _nlist(params))} "
        f"sampled items + adding all), {bpi:.1f} bytes per item in the index file (the float32 "
        f"embeddings used for re-scoring are the cache's own, {4 * D} bytes per item).",
        "",
        "| nprobe | shortlist re-scored | recall@50 | query median | query p95 |",
        "| --- | --- | --- | --- | --- |",
    ]
    ivf = faiss.extract_index_ivf(index)
    for nprobe in nprobes:
        for sl in shortlists:
            s1 = FaissStage1(index, params, emb, shortlist=sl)
            s1.params = type(params)(params.kind, params.factory, nprobe=nprobe, trained_n=params.trained_n)
            ivf.nprobe = nprobe
            got, med, p95 = per_query(s1.search, queries)
            used = ivf.nprobe
            lines.append(f"| {used} | {sl} | {recall(got, truth):.3f} | {med:.1f} ms | {p95:.1f} ms |")
            print(lines[-1], flush=True)
    raw = index.search(queries, K)[1]
    lines += ["", f"Without exact re-scoring (FAISS top-{K} alone, nprobe {ivf.nprobe}): recall@50 "
              f"{recall(raw, truth):.3f}.", ""]  # fmt: skip
    return emb


def synthetic_on_disk(
    n: int,
    nq: int,
    store: Path,
    nprobes: list[int],
    refines: list[int],
    rescores: list[int],
    lines: list[str],
    refine_from: int | None = None,
    reuse: bool = False,
) -> None:
    """The same generator for galleries that do not fit in RAM (10M x 768 float32 = 31 GB).

    Chunks of 100 000 are generated one at a time (the first 1M are the items of the in-memory
    run), folded into the exact top-50 of every query, and stored as a float16 ``.npy`` memmap
    (15 GB at 10M) that re-scoring reads. IVF-PQ trains on a sample of the first chunks (items are
    drawn independently, so they are a random sample) and gets the rest added chunk by chunk.
    """
    mix = Mixture()
    queries = mix.sample(nq, seed=7, noise_scale=1.2)
    path = store / f"synthetic-{n}.npy"
    reused = reuse and path.is_file()
    if reused:  # a file left by an interrupted run: the ground truth is re-computed from it
        emb = np.load(path, mmap_mode="r")
        if emb.shape != (n, D) or emb.dtype != np.float16:
            raise SystemExit(f"{path} holds {emb.shape} {emb.dtype}, not ({n}, {D}) float16")
    else:
        emb = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, D))
    best_i = np.zeros((nq, 0), np.int64)
    best_s = np.zeros((nq, 0), np.float32)
    t0 = time.perf_counter()
    for s in range(0, n, CHUNK):
        if reused:
            block = np.asarray(emb[s : s + CHUNK], np.float32)
            i, sc = cosine_topk(queries, block, K)
            cand_i, cand_s = np.concatenate([best_i, i + s], 1), np.concatenate([best_s, sc], 1)
            keep = np.argsort(-cand_s, 1, kind="stable")[:, :K]
            best_i, best_s = np.take_along_axis(cand_i, keep, 1), np.take_along_axis(cand_s, keep, 1)
            continue
        block16 = mix.sample(min(CHUNK, n - s), seed=1000 + s // CHUNK).astype(np.float16)
        block = block16.astype(np.float32)  # the truth is of the stored (float16) vectors
        i, sc = cosine_topk(queries, block, K)
        cand_i, cand_s = np.concatenate([best_i, i + s], 1), np.concatenate([best_s, sc], 1)
        keep = np.argsort(-cand_s, 1, kind="stable")[:, :K]
        best_i, best_s = np.take_along_axis(cand_i, keep, 1), np.take_along_axis(cand_s, keep, 1)
        emb[s : s + len(block)] = block16
    if not reused:
        emb.flush()
    gen_s = time.perf_counter() - t0
    truth = best_i
    params = ivfpq_params(n, D, refine_from)
    nlist = _nlist(params)
    t0 = time.perf_counter()
    index = faiss.index_factory(D, params.factory)
    index.train(np.asarray(emb[: 64 * nlist], np.float32))
    train_s = time.perf_counter() - t0
    for s in range(0, n, CHUNK):
        index.add(np.asarray(emb[s : s + CHUNK], np.float32))
    build_s = time.perf_counter() - t0
    bpi = serialized_bytes(index) / n
    lines += [
        f"### Synthetic: {n:,} items, stored as float16 on disk, {nq} queries",
        "",
        (
            f"The {path.stat().st_size / 2**30:.1f} GiB float16 file of an interrupted run was reused; "
            f"the exact top-{K} of every query was computed from the stored float16 vectors in "
            f"{gen_s:.0f} s. "
            if reused
            else f"Generated chunk by chunk, stored as a {path.stat().st_size / 2**30:.1f} GiB float16 "
            f"memmap, with the exact top-{K} of every query over the stored float16 vectors folded in, "
            f"in {gen_s:.0f} s. "
        )
        + f"IVF-PQ `{params.factory}`: trained in {train_s:.0f} s on {64 * nlist} items, built (trained + "
        f"added) in {build_s:.0f} s, {bpi:.1f} bytes per item, held in RAM. The embeddings stay in "
        f"the float16 file ({path.stat().st_size / 2**30:.1f} GiB; {_available_gib():.1f} GiB of "
        "memory was available for the page cache when the queries started), read only by the "
        "re-scored rows, with parallel `pread` calls (`zse_gui.engine.rowread`). Before every row of "
        "the table the file's pages are dropped from the page cache (`posix_fadvise(DONTNEED)`), so "
        "the timings include reading the re-scored rows from the disk.",
        "",
        "| nprobe | candidates | 8-bit best re-scored exactly | recall@50 | query median | query p95 "
        "| max score error |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    ivf = faiss.extract_index_ivf(index)
    if params.refine:
        settings = [(p, c, r) for p in nprobes for c in refines for r in rescores]
    else:
        settings = [(p, DEFAULT_SHORTLIST, 0) for p in nprobes]
    for nprobe, cands, rescore in settings:
        s1 = FaissStage1(
            index, params, emb, shortlist=DEFAULT_SHORTLIST, exact=bool(rescore), rescore=rescore or None
        )
        s1.params = replace(params, nprobe=nprobe, refine=cands if params.refine else 0)
        drop_page_cache(path)
        got, med, p95 = per_query(s1.search, queries)
        err = _score_error(s1, emb, queries[:20])
        how = (str(rescore) if rescore else "none (8-bit scores)") if params.refine else f"all {cands}"
        used = s1.last_nprobe if params.refine else ivf.nprobe
        lines.append(f"| {used} | {cands} | {how} | {recall(got, truth):.3f} | {med:.1f} ms "
                     f"| {p95:.1f} ms | {err:.4f} |")  # fmt: skip
        print(lines[-1], flush=True)
    lines.append("")
    del emb
    path.unlink()


def _score_error(s1: FaissStage1, emb: np.ndarray, queries: np.ndarray) -> float:
    """Largest |returned score - exact cosine| over the top-K of some queries (not timed)."""
    worst = 0.0
    for q in queries:
        idx, sc = s1.search(q, K)
        order = np.argsort(idx)
        exact = np.asarray(emb[idx[order]], np.float32) @ q
        worst = max(worst, float(np.max(np.abs(sc[order] - exact))))
    return worst


def _available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _nlist(params: object) -> int:
    return int(params.factory.split(",")[0][3:])  # type: ignore[attr-defined]


def hnsw(emb: np.ndarray, n: int, nq: int, lines: list[str]) -> None:
    sub = emb[:n]
    queries = Mixture().sample(nq, seed=7, noise_scale=1.2)
    truth = exact_topk_chunked(queries, [sub], K)
    t0 = time.perf_counter()
    index, params = build_faiss("hnsw", sub)
    build_s = time.perf_counter() - t0
    lines += [
        f"### HNSW `{params.factory}` on the first {n:,} synthetic items",
        "",
        f"Built in {build_s:.0f} s, {serialized_bytes(index) / n:.0f} bytes per item (a full float32 "
        "copy plus the graph).",
        "",
        "| shortlist (= efSearch) | recall@50 | query median | query p95 |",
        "| --- | --- | --- | --- |",
    ]
    for sl in (100, 300, 1000):
        s1 = FaissStage1(index, params, sub, shortlist=sl)
        got, med, p95 = per_query(s1.search, queries)
        lines.append(f"| {sl} | {recall(got, truth):.3f} | {med:.1f} ms | {p95:.1f} ms |")
        print(lines[-1], flush=True)
    lines.append("")


def demo(lines: list[str]) -> None:
    eng = Engine.from_name("zse_lite", weights="default", device="cpu", precision="fp32")
    with tempfile.TemporaryDirectory() as cache:
        gal = eng.index_gallery(GALLERY, cache_root=cache, ann="exact")
        emb = np.asarray(gal.embeddings, np.float32)
    sk = [eng.encode_sketch(read_stroke_file(p)).ret for p in sorted(SKETCHES.glob("*.json"))]
    queries = np.concatenate([np.stack(sk), emb]) if sk else emb
    truth = cosine_topk(queries, emb, K)[0]
    n = len(emb)
    lines += [
        f"### Real embeddings: demo gallery ({n} photos, zse_lite [Ret], {emb.shape[1]}-d)",
        "",
        f"Queries: {len(sk)} sample sketches + the {n} photos themselves. With the default shortlist "
        f"({DEFAULT_SHORTLIST}) longer than the gallery every index returns the exact ranking, so the "
        f"table also shows shorter shortlists, where the quantiser's quality shows.",
        "",
        "| index | shortlist | recall@50 | query median | bytes per item |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind in ("ivfpq", "hnsw"):
        t0 = time.perf_counter()
        index, params = build_faiss(kind, emb)
        build_ms = (time.perf_counter() - t0) * 1000
        for sl in (K, 100, DEFAULT_SHORTLIST):
            s1 = FaissStage1(index, params, emb, shortlist=sl)
            got, med, _ = per_query(s1.search, queries)
            lines.append(
                f"| {kind} `{params.factory}` (built in {build_ms:.0f} ms) | {sl} | {recall(got, truth):.3f} "
                f"| {med:.2f} ms | {serialized_bytes(index) / n:.0f} |"
            )
            print(lines[-1], flush=True)
    lines.append("")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="synthetic gallery size")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--hnsw-n", type=int, default=100_000, help="HNSW subset size (0 = skip)")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--shortlist", type=int, nargs="+", default=[500, 1000])
    ap.add_argument(
        "--refine", type=int, nargs="+", default=[3000, 10000], help="candidates re-ranked by the 8-bit codes"
    )
    ap.add_argument(
        "--rescore",
        type=int,
        nargs="+",
        default=[0, 100, 200, 400],
        help="--on-disk: 8-bit best candidates re-scored exactly from the file (0 = none)",
    )
    ap.add_argument("--reuse", action="store_true", help="--on-disk: reuse the float16 file if it is there")
    ap.add_argument("--refine-from", type=int, default=None, help="size from which IVF-PQ is refined")
    ap.add_argument("--threads", type=int, default=None, help="torch/BLAS/FAISS threads")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    ap.add_argument(
        "--on-disk",
        type=Path,
        metavar="DIR",
        help="only the out-of-RAM run (e.g. --n 10000000): store float16 vectors in DIR; writes the "
        "'scale-disk' section",
    )
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    lines: list[str] = []
    if args.on_disk is not None:
        global _TMP
        _TMP = str(args.on_disk)
        synthetic_on_disk(
            args.n,
            args.queries,
            args.on_disk,
            args.nprobe,
            args.refine,
            args.rescore,
            lines,
            args.refine_from,
            args.reuse,
        )
        body = "\n".join([f"Machine: {machine_line()}; FAISS {faiss.__version__} with "
                          f"{faiss.omp_get_max_threads()} thread(s).", "", *lines])  # fmt: skip
        print(body)
        if not args.no_write:
            write_section("scale-disk", body)
        return
    demo(lines)
    emb = synthetic(args.n, args.queries, args.nprobe, args.shortlist, lines)
    if args.hnsw_n:
        hnsw(emb, min(args.hnsw_n, len(emb)), args.queries, lines)
    body = "\n".join(
        [
            "## Stage 1 at scale (`benchmarks/scale.py`)",
            "",
            f"Machine: {machine_line()}; FAISS {faiss.__version__} with {faiss.omp_get_max_threads()} "
            "thread(s). Recall@50 is measured against the exact scan of the same vectors.",
            "",
            *lines,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("scale", body)


if __name__ == "__main__":
    main()
