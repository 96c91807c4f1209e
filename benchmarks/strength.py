"""How often the match strength says "no clear match", for doodles whose class is and is not in the gallery.

Real Quick, Draw! doodles (``../shared/data/quickdraw``; the script exits when absent), the bundled
``zse_lite`` model, the demo gallery, the app's search (top 24 of a K = 50 re-ranking). For each doodle
the top result's strength (``zse_gui.engine.strength``) is a robust z-score of its relation logit against
the other re-ranked results.

* **fit** (threshold chosen here): held-out doodles of seen classes (in the gallery; doodles 20-21) and
  doodles of every second Quick, Draw! class that the gallery lacks; the threshold maximises the mean of
  "clear match" on the first and "no clear match" on the second.
* **report** (not used for the fit): doodles 0-3 of the 25 unseen classes (in the gallery, never trained
  on) and doodles of the other half of the classes the gallery lacks.

Run: ``nice .venv/bin/python -m benchmarks.strength [--threads 1]``; writes the "strength" section of
docs/explanations.md.
"""

from __future__ import annotations

from benchmarks._threads import early_threads

early_threads()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._explanations import write_section  # noqa: E402
from zse_gui.data.splits import canonical_class  # noqa: E402
from zse_gui.engine.engine import Engine  # noqa: E402
from zse_gui.engine.strength import NO_CLEAR_MATCH_Z, result_strength  # noqa: E402
from zse_gui.model.lite import ZSE_LITE_SEEN, ZSE_LITE_UNSEEN  # noqa: E402
from zse_gui.sketch import quickdraw_sketch, read_quickdraw_ndjson  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "resources" / "demo_gallery"
QUICKDRAW = ROOT.parent / "shared" / "data" / "quickdraw" / "ndjson"
TOP_K, DEPTH = 24, 50  # the app's defaults


def doodles(cls_file: Path, which: range) -> list:
    ds = read_quickdraw_ndjson(cls_file, limit=max(which) + 1)
    return [quickdraw_sketch(ds[i]) for i in which if i < len(ds)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    with tempfile.TemporaryDirectory() as cache:
        gallery = eng.index_gallery(GALLERY, cache_root=cache)
        in_gallery = {canonical_class(lab) for lab in gallery.labels if lab}
        absent = sorted(c for c in files if c not in in_gallery)
        groups = {
            "fit: seen class, in gallery": [(c, range(20, 22)) for c in ZSE_LITE_SEEN],
            "fit: class not in gallery": [(c, range(0, 1)) for c in absent[0::2]],
            "report: unseen class, in gallery": [(c, range(0, 4)) for c in ZSE_LITE_UNSEEN],
            "report: class not in gallery": [(c, range(0, 1)) for c in absent[1::2]],
        }
        zs: dict[str, list[float]] = {}
        hits: dict[str, list[bool]] = {}
        for name, items in groups.items():
            vals: list[float] = []
            hit: list[bool] = []
            for c, which in items:
                for sk in doodles(files[canonical_class(c)], which):
                    res = eng.search(sk, gallery, top_k=TOP_K, rerank_depth=DEPTH)
                    vals.append(result_strength(res, 0).z)
                    top = res.items[0].label
                    hit.append(top is not None and canonical_class(top) == canonical_class(c))
            zs[name] = vals
            hits[name] = hit
            print(name, len(vals), f"median z {np.median(vals):.2f}", flush=True)
    # Split the in-gallery rows by whether the top result is of the doodle's class: "no clear match"
    # over a wrong top result is right, over a right one it is a miss.
    for name in [n for n in zs if "in gallery" in n and "not in" not in n]:
        v, h = np.asarray(zs[name]), np.asarray(hits[name])
        zs[name + ", top result right"] = list(v[h])
        zs[name + ", top result wrong"] = list(v[~h])
    grid = np.round(np.arange(0.0, 12.01, 0.1), 2)
    pos = np.asarray(zs["fit: seen class, in gallery, top result right"])
    neg = np.asarray(zs["fit: class not in gallery"])
    bal = [((pos >= t).mean() + (neg < t).mean()) / 2 for t in grid]
    fitted = float(grid[int(np.argmax(bal))])

    def rate(name: str, t: float) -> str:
        v = np.asarray(zs[name])
        return f"{(v < t).mean():.0%} ({int((v < t).sum())} of {len(v)})"

    lines = [
        '### Match strength: how often "no clear match" is shown (`benchmarks/strength.py`)',
        "",
        f"Top result of each doodle, app search (top {TOP_K} of a K = {DEPTH} re-ranking), demo gallery "
        f"({len(gallery)} photos). Strength = robust z of the top relation logit against the other re-ranked "
        f"results. Fitted threshold (best balanced accuracy between the fit rows 'top result right' and "
        f"'class not in gallery'): z = {fitted:.1f}; the app "
        f"uses `NO_CLEAR_MATCH_Z = {NO_CLEAR_MATCH_Z:g}`.",
        "",
        f'| doodles | n | median z | "no clear match" at z < {NO_CLEAR_MATCH_Z:g} (app) '
        f"| at z < {fitted:.1f} (fitted) |",
        "|---|---|---|---|---|",
    ]
    for name, v in sorted(zs.items()):
        if not v:
            continue
        lines.append(
            f"| {name} | {len(v)} | {np.median(v):.2f} | {rate(name, NO_CLEAR_MATCH_Z)} "
            f"| {rate(name, fitted)} |"
        )
    lines += [
        "",
        'Reading it: "no clear match" over a right top result is a miss (lower is better); over a '
        "wrong top result, or for a class the gallery lacks, it is the honest answer (higher is better). "
        "Some absent Quick, Draw! classes have look-alikes among the gallery's photo-only classes, so a "
        f'"clear match" there is not always wrong. Wall time {time.perf_counter() - t0:.0f} s.',
    ]
    body = "\n".join(lines)
    print(body)
    (ROOT / "docs" / "strength_z.json").write_text(
        json.dumps({k: [round(x, 3) for x in v] for k, v in zs.items()})
    )
    if not args.no_write:
        write_section("strength", body)


if __name__ == "__main__":
    main()
