"""Where the time of the stroke ranks goes: the CA + RN of the 41 variants x 10 compared photos.

Profiles (``torch.profiler``, CPU) one scoring of the 410 sketch-photo pairs of a 20-stroke sketch
(the ranks of ``attribute_strokes`` among the top 10) with the bundled ``zse_lite``, once with the
previous per-photo loop and once with today's ``pair_logits``, and groups the operators' own CPU
time into what they compute. Also prints the arithmetic per pair, counted from the config.

Run: ``nice .venv/bin/python -m benchmarks.strokes_profile [--threads 1]``; writes the
"strokes-profile" section of docs/benchmarks.md.
"""

from __future__ import annotations

from benchmarks._threads import early_threads

early_threads()  # before numpy and torch start their thread pools

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from benchmarks._report import machine_line, write_section  # noqa: E402
from benchmarks.strokes import GALLERY, STROKES, pair_logits_per_photo, sketch_with_strokes  # noqa: E402
from zse_gui.engine.engine import Engine  # noqa: E402
from zse_gui.engine.preprocess import prepare_sketch  # noqa: E402
from zse_gui.engine.strokes import encode_prepared, pair_logits, stroke_variants  # noqa: E402
from zse_gui.model.config import ZseConfig  # noqa: E402

# operator -> what it computes in the CA + RN of a pair
GROUPS = {
    "aten::addmm": "linears (CA output projection, FFN, RN MLP)",
    "aten::bmm": "attention products (QK^T, AV) and the cosine kernel",
    "aten::mm": "attention products (QK^T, AV) and the cosine kernel",
    "aten::_softmax": "softmax",
    "aten::mkldnn_convolution": "anchor convolution",
    "aten::div": "divisions (1/sqrt(d), layer norm, cosine)",
    "aten::div_": "divisions (1/sqrt(d), layer norm, cosine)",
    "aten::copy_": "copies (reshapes of tiled or permuted tensors)",
}
OTHER = "layer norm passes, ReLU, residual adds and the rest"


def flops_per_pair(cfg: ZseConfig) -> dict[str, float]:
    """Multiply-adds x 2 of one sketch-photo pair's CA (both streams) and anchor convolutions."""
    g = cfg.img_size // cfg.patch_size  # patch grid
    t = g * g + 1  # tokens, with [Ret]
    c, f, k, a = cfg.embed_dim, cfg.ca_ffn, cfg.anchor_kernel, cfg.anchor_dim
    return {
        "attention products": 2 * (2 * t * t * c) * 2,
        "output projection": 2 * (2 * t * c * c),
        "FFN": 2 * (2 * 2 * t * c * f),
        "anchor convolutions": 2 * (2 * (g // k) ** 2 * a * c * k * k),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    eng = Engine.from_name("zse_lite", weights="default", device="cpu", precision="fp32")
    sketch, source = sketch_with_strokes(STROKES)
    with tempfile.TemporaryDirectory() as cache:
        gallery = eng.index_gallery(GALLERY, cache_root=cache, batch_size=16)
        top = [it.index for it in eng.search(sketch, gallery, top_k=10, rerank_depth=50).items]
        removed, alone = stroke_variants(sketch)
        prepared = [prepare_sketch(s, eng.config) for s in (sketch, *removed, *alone) if s is not None]
        shares: dict[str, dict[str, float]] = {}
        totals: dict[str, float] = {}
        with torch.inference_mode():
            sk_t, sk_p = encode_prepared(eng, prepared)
            ph_t, ph_p = eng.photo_side(gallery, top)
            for name, fn in (("before", pair_logits_per_photo), ("after", pair_logits)):
                fn(eng, sk_t, sk_p, ph_t, ph_p)  # warm-up
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    fn(eng, sk_t, sk_p, ph_t, ph_p)
                by: dict[str, float] = defaultdict(float)
                for ev in prof.key_averages():
                    by[GROUPS.get(ev.key, OTHER)] += ev.self_cpu_time_total / 1000.0  # ms
                shares[name] = dict(by)
                totals[name] = sum(by.values())
    pairs = len(prepared) * len(top)
    fl = flops_per_pair(eng.config)
    per_pair = sum(fl.values())
    lines = [
        "## Where the time of the stroke ranks goes (`benchmarks/strokes_profile.py`)",
        "",
        f"The CA + RN of {len(prepared)} variants x {len(top)} photos = {pairs} pairs ({source}, "
        f"`zse_lite`), profiled with `torch.profiler` (operators' own CPU time, so the profiler's "
        f"overhead is in it). Machine: {machine_line()}; load average (1 min) {load_before:.1f} "
        f"before, {os.getloadavg()[0]:.1f} after.",
        "",
        "| operators | before (one photo per forward) | after (all photos per forward) |",
        "|---|---|---|",
    ]
    groups = sorted(set(shares["before"]) | set(shares["after"]), key=lambda k: -shares["before"].get(k, 0.0))
    for grp in groups:
        b, a = shares["before"].get(grp, 0.0), shares["after"].get(grp, 0.0)
        lines.append(
            f"| {grp} | {b:.0f} ms ({100 * b / totals['before']:.0f} %) | "
            f"{a:.0f} ms ({100 * a / totals['after']:.0f} %) |"
        )
    lines.append(f"| total | {totals['before']:.0f} ms | {totals['after']:.0f} ms |")
    gflop = per_pair * pairs / 1e9
    lines += [
        "",
        "The arithmetic is fixed by the model: per pair "
        + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in fl.items())
        + f" MFLOP, {per_pair / 1e6:.0f} MFLOP in all, every part of it depending on both the "
        f"sketch and the photo (only the Q/K/V projections do not, and they are computed once). "
        f"{pairs} pairs are {gflop:.0f} GFLOP: at the profiled speed "
        f"{gflop / (totals['after'] / 1000):.0f} GFLOP/s per process. Batching the pairs "
        "differently removes copies and a division pass, but cannot remove arithmetic; the ranks "
        "would become much cheaper only by scoring fewer pairs or at lower precision, which would "
        "change them.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("strokes-profile", text)


if __name__ == "__main__":
    main()
