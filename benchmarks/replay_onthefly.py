"""On-the-fly retrieval (as in "Sketch Less for More", CVPR 2020) for the demo model's unseen classes.

Each doodle of the 25 unseen classes of ``zse_lite`` (Quick, Draw!, ``../shared/data/quickdraw``; the script
exits when absent) is replayed stroke by stroke with ``replay_sketch`` over the demo gallery; the target is
the doodle's class (its best-ranked photo). After each 10 % of the strokes (prefix length
``ceil(p * S)``) we take the rank percentile ``1 - rank / (N - 1)`` (1 = first) and the reciprocal rank
``1 / (rank + 1)``; the table gives their means over the doodles at each point and the areas under the
two curves (the mean over the ten points; the paper's m@A and m@B use the same two quantities).

Run: ``nice .venv/bin/python -m benchmarks.replay_onthefly [--per-class 4] [--threads 1]``; writes the
"onthefly" section of docs/explanations.md.
"""

from __future__ import annotations

from benchmarks._threads import early_threads

early_threads()

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._explanations import write_section  # noqa: E402
from zse_gui.data.splits import canonical_class  # noqa: E402
from zse_gui.engine.engine import Engine  # noqa: E402
from zse_gui.engine.replay import replay_sketch, target_class  # noqa: E402
from zse_gui.model.lite import ZSE_LITE_UNSEEN  # noqa: E402
from zse_gui.sketch import quickdraw_sketch, read_quickdraw_ndjson  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "resources" / "demo_gallery"
QUICKDRAW = ROOT.parent / "shared" / "data" / "quickdraw" / "ndjson"
POINTS = np.round(np.arange(1, 11) / 10, 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=4, help="doodles per unseen class (default: 4)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if not QUICKDRAW.is_dir():
        print(f"skipped: {QUICKDRAW} not found")
        sys.exit(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    eng = Engine.from_name("zse_lite", weights="default", device="cpu", precision="fp32")
    files = {canonical_class(f.stem): f for f in QUICKDRAW.glob("*.ndjson")}
    t0 = time.perf_counter()
    rows: dict[str, list[np.ndarray]] = {"rerank": [], "ret": []}
    recip: dict[str, list[np.ndarray]] = {"rerank": [], "ret": []}
    strokes_seen = []
    with tempfile.TemporaryDirectory() as cache:
        gallery = eng.index_gallery(GALLERY, cache_root=cache)
        n = len(gallery)
        for c in ZSE_LITE_UNSEEN:
            target = target_class(gallery, c)
            for d in read_quickdraw_ndjson(files[canonical_class(c)], limit=args.per_class):
                sk = quickdraw_sketch(d)
                s = len(sk.strokes)
                strokes_seen.append(s)
                at = [max(1, math.ceil(p * s - 1e-9)) - 1 for p in POINTS]
                for mode in ("rerank", "ret"):
                    rep = replay_sketch(eng, sk, gallery, target, mode=mode, rerank_depth=50)
                    r = np.minimum(rep.ranks[at], n - 1).astype(np.float64)
                    rows[mode].append(1.0 - r / (n - 1))
                    recip[mode].append(1.0 / (r + 1.0))
            print(c, flush=True)
    q = len(rows["rerank"])
    lines = [
        "### On-the-fly retrieval over the unseen classes (`benchmarks/replay_onthefly.py`)",
        "",
        f"{q} doodles ({args.per_class} per unseen class, {len(ZSE_LITE_UNSEEN)} classes; "
        f"{np.mean(strokes_seen):.1f} strokes on average), demo gallery ({n} photos), target = the doodle's "
        "class (its best-ranked photo). Rank percentile `1 - rank / (N - 1)` (1 = first) and reciprocal rank "
        "`1 / rank` (1-based) after each 10 % of the strokes; area = the mean over the ten points.",
        "",
        "| search | " + " | ".join(f"{int(p * 100)} %" for p in POINTS) + " | area |",
        "|---|" + "---|" * (len(POINTS) + 1),
    ]
    for mode, name in (("rerank", "two-stage (K = 50), percentile"), ("ret", "[Ret] only, percentile")):
        m = np.mean(rows[mode], axis=0)
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in m) + f" | **{m.mean():.3f}** |")
    for mode, name in (("rerank", "two-stage (K = 50), 1/rank"), ("ret", "[Ret] only, 1/rank")):
        m = np.mean(recip[mode], axis=0)
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in m) + f" | **{m.mean():.3f}** |")
    lines += ["", f"Wall time {time.perf_counter() - t0:.0f} s on the shared CPU."]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("onthefly", body)


if __name__ == "__main__":
    main()
