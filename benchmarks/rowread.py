"""Scattered row reads from a file larger than the page cache: memmap indexing vs ``read_rows``.

Stage 1 at scale re-scores a few hundred candidate rows of the cache's embeddings per query.
This writes a float16 ``[N, 768]`` file (default 3M rows, 4.4 GiB), then for R random rows
times, side by side and with the file's pages dropped from the page cache before every try:
``np.asarray(memmap[rows])`` (one page fault and read-ahead window per row) and
``zse_gui.engine.rowread.read_rows`` with ``parallel=True`` (parallel ``pread`` of exactly the
rows' bytes; by default it reads this way only files larger than half the machine's memory).

Run: ``nice -n 10 .venv/bin/python -m benchmarks.rowread --dir /some/disk``; writes the
"rowread" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks._report import machine_line, write_section
from zse_gui.engine.rowread import READERS, read_rows

D = 768


def drop_page_cache(path: Path) -> None:
    """Ask the kernel to drop the file's cached pages (clean pages go; nothing is lost)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, required=True, help="where the test file is written (then removed)")
    ap.add_argument("--n", type=int, default=3_000_000)
    ap.add_argument("--rows", type=int, nargs="+", default=[50, 200, 1000])
    ap.add_argument("--tries", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    path = args.dir / "rowread-bench.npy"
    emb = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(args.n, D))
    for s in range(0, args.n, 100_000):
        m = min(100_000, args.n - s)
        emb[s : s + m] = np.random.default_rng(s).standard_normal((m, D)).astype(np.float16)
    emb.flush()
    del emb
    emb = np.load(path, mmap_mode="r")
    rng = np.random.default_rng(1)
    lines = [
        "## Scattered row reads (`benchmarks/rowread.py`)",
        "",
        f"Machine: {machine_line()}; load average {os.getloadavg()[0]:.1f} at the start. File: "
        f"{args.n:,} x {D} float16 ({path.stat().st_size / 2**30:.1f} GiB); random sorted rows; "
        f"median of {args.tries} tries. Cold: the file's pages dropped before every try; warm: the "
        f"whole file read once before, so every page is cached. `read_rows` uses {READERS} threads.",
        "",
        "| pages | rows | memmap indexing | read_rows (parallel pread) | memmap / read_rows |",
        "| --- | --- | --- | --- | --- |",
    ]
    try:
        for cold in (True, False):
            for r in args.rows:
                t_mm: list[float] = []
                t_rr: list[float] = []
                if not cold:
                    with path.open("rb") as fh:
                        while fh.read(1 << 26):
                            pass
                for _ in range(args.tries):
                    rows = np.sort(rng.choice(args.n, r, replace=False))
                    for how, into in (("mm", t_mm), ("rr", t_rr)):
                        if cold:
                            drop_page_cache(path)
                        t0 = time.perf_counter()
                        got = np.asarray(emb[rows]) if how == "mm" else read_rows(emb, rows, parallel=True)
                        into.append((time.perf_counter() - t0) * 1e3)
                        assert got.shape == (r, D)
                mm, rr = statistics.median(t_mm), statistics.median(t_rr)
                lines.append(
                    f"| {'cold' if cold else 'warm'} | {r} | {mm:.1f} ms | {rr:.1f} ms | {mm / rr:.2f} |"
                )
                print(lines[-1], flush=True)
    finally:
        del emb
        path.unlink()
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("rowread", body)


if __name__ == "__main__":
    main()
