"""Benchmark: CPU cost of the ZSE-SBIR stages (``zse_vitb16``, random weights).

Measures milliseconds per image for the SA encoder (batch 1 and batch 8) and milliseconds per
sketch-photo pair for cross-attention + relation network (a batch of 32 pairs), in fp32 and in
bf16 autocast, as the median of several timed repeats after warm-up. Also times the re-rank
path where the pair-independent CA projections are cached. Writes the section
"model_forward" of docs/benchmarks.md.

Run: ``nice .venv/bin/python -m benchmarks.model_forward [--repeats 5] [--warmup 2]``
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import time
from collections.abc import Callable, Iterator

import torch

from benchmarks._report import machine_line, write_section
from zse_gui.model import ZseSbir, create_model
from zse_gui.model.layers import CrossProjections

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _precision(mode: str) -> Iterator[None]:
    if mode == "bf16":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield


def _time(fn: Callable[[], object], mode: str, warmup: int, repeats: int) -> list[float]:
    """Seconds per call of ``fn`` under ``mode``: ``warmup`` untimed calls, then ``repeats`` timed."""
    out = []
    with torch.inference_mode(), _precision(mode):
        for _ in range(warmup):
            fn()
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return out


def _row(name: str, mode: str, per: int, secs: list[float], unit: str) -> str:
    ms = [1000 * s / per for s in secs]
    return f"| {name} | {mode} | {statistics.median(ms):.1f} | {min(ms):.1f} - {max(ms):.1f} | {unit} |"


def run(warmup: int, repeats: int, pairs: int = 32) -> str:
    """Time every case and return the Markdown section body."""
    model: ZseSbir = create_model("zse_vitb16", seed=0)  # random weights: cost does not depend on them
    cfg = model.cfg
    g = torch.Generator().manual_seed(0)
    img1 = torch.rand(1, 3, cfg.img_size, cfg.img_size, generator=g) * 2 - 1
    img8 = torch.rand(8, 3, cfg.img_size, cfg.img_size, generator=g) * 2 - 1
    # CA + RN take SA tokens; their values do not change the cost, so random tokens do.
    sk = torch.randn(pairs, cfg.num_tokens, cfg.embed_dim, generator=g)
    ph = torch.randn(pairs, cfg.num_tokens, cfg.embed_dim, generator=g)

    sk_query = sk[:1].expand(pairs, -1, -1)

    def ca_rn() -> object:
        cross = model.forward_cross(sk, ph)
        return model.forward_relation(cross.sketch, cross.photo)

    def ca_rn_cached(sp: CrossProjections, pp: CrossProjections) -> Callable[[], object]:
        def fn() -> object:
            # One query sketch against the gallery batch, its projections and the photos' reused.
            cross = model.forward_cross(sk_query, ph, sp, pp)
            return model.forward_relation(cross.sketch, cross.photo)

        return fn

    load_before = os.getloadavg()[0]
    rows = []
    for mode in ("fp32", "bf16"):
        with torch.inference_mode(), _precision(mode):
            one = model.project_sketch(sk[:1])  # the query sketch, projected once
            sk_proj = CrossProjections(*(t.expand(pairs, -1, -1, -1) for t in one))
            ph_proj = model.project_photo(ph)  # per gallery photo, computed once at index time

        cached = ca_rn_cached(sk_proj, ph_proj)
        cases: list[tuple[str, int, Callable[[], object], str]] = [
            ("SA encoder, batch 1", 1, lambda: model.forward_tokens(img1), "ms / image"),
            ("SA encoder, batch 8", 8, lambda: model.forward_tokens(img8), "ms / image"),
            (f"CA + RN, batch {pairs} pairs", pairs, ca_rn, "ms / pair"),
            (f"CA + RN, {pairs} pairs, cached projections", pairs, cached, "ms / pair"),
        ]
        for name, per, fn, unit in cases:
            log.info("timing %s (%s)", name, mode)
            rows.append(_row(name, mode, per, _time(fn, mode, warmup, repeats), unit))

    lines = [
        "## model_forward",
        "",
        f"Machine: {machine_line()}",
        "",
        "`zse_vitb16` with random weights on the CPU, `torch.inference_mode`; bf16 = "
        "`torch.autocast('cpu', dtype=torch.bfloat16)` with fp32 weights. Median of "
        f"{repeats} timed runs after {warmup} warm-up runs; the range is min - max. "
        f"1-minute load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        f"({os.cpu_count()} cores).",
        "",
        "| case | precision | median | range | unit |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Notes:",
        "",
        "- **No GPU was available for this measurement**; GPU numbers are still to be taken.",
        "- The machine's cores were shared with other jobs while this ran, so the numbers are "
        "upper bounds and noisy; compare them with each other, not across machines.",
        '- "cached projections" reuses the per-item CA query/key/value projections (what the '
        "re-ranker caches per gallery image); only the pair-dependent attention, FFN, anchor "
        "conv and RN run per pair.",
        "- Reference cost (reference doc section 1.8): SA 36.98 GFLOPs per image, CA + RN 3.65 "
        "GFLOPs per pair.",
    ]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run, and write docs/benchmarks.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    body = run(args.warmup, args.repeats)
    write_section("model_forward", body)
    log.info("%s", body)


if __name__ == "__main__":
    main()
