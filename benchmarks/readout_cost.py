"""Cost of one explanation per correspondence readout on this machine (the app explains on demand).

Times ``Engine.explain`` of the bundled ``zse_lite`` (CPU, fp32) for the sample fish sketch
(``resources/sketches/fish.json``) against one demo-gallery fish photo, once per readout, with the
app's default masking test (``faithfulness_top=5``) and without it; median of ``--reps`` runs after
one warm-up. Also prints where the 15 strongest lines of each readout go, as (sketch patch -> photo
patch) in (column, row), for a look at the sample by hand.

Run: ``nice .venv/bin/python -m benchmarks.readout_cost [--threads 1] [--write-doc]``; with
``--write-doc`` the ``readout_cost`` section of ``docs/explanations.md`` is replaced.
"""

from __future__ import annotations

from benchmarks._threads import early_threads

early_threads()  # before numpy and torch start their thread pools

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from benchmarks._explanations import write_section  # noqa: E402
from benchmarks._report import machine_line  # noqa: E402
from zse_gui.engine import Engine  # noqa: E402
from zse_gui.engine.explain import READOUTS, top_pairs  # noqa: E402
from zse_gui.sketch.strokes import read_stroke_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SKETCH = ROOT / "resources" / "sketches" / "fish.json"
PHOTO = ROOT / "resources" / "demo_gallery" / "fish" / "clownfish.jpg"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (also set before import)")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    engine = Engine.from_name("zse_lite", weights="default", device="cpu", precision="fp32")
    sketch = read_stroke_file(SKETCH)
    query = engine.encode_sketch(sketch)
    rows = []
    for _ in range(3):  # warm the allocator and kernels before the first timed readout
        engine.explain(query, photo=str(PHOTO), faithfulness_top=5)
    for readout in READOUTS:
        times: dict[int, list[float]] = {0: [], 5: []}
        for faith in (0, 5):
            engine.explain(query, photo=str(PHOTO), readout=readout, faithfulness_top=faith)  # warm-up
            for _ in range(args.reps):
                t0 = time.perf_counter()
                expl = engine.explain(query, photo=str(PHOTO), readout=readout, faithfulness_top=faith)
                times[faith].append(time.perf_counter() - t0)
        c = expl.correspondences[0]
        g = expl.grid
        lines = [
            (divmod(int(i), g)[::-1], divmod(int(c.sketch_to_photo[i]), g)[::-1]) for i in top_pairs(c, 15)
        ]
        print(readout, "top-15 (col, row) sketch -> photo:", lines, flush=True)
        rows.append((readout, statistics.median(times[0]) * 1000, statistics.median(times[5]) * 1000))
    body = [
        "### Cost of one explanation per readout (`benchmarks/readout_cost.py`)",
        "",
        f"Bundled `zse_lite`, CPU fp32, sample fish sketch against `fish/clownfish.jpg` (the sketch encoded "
        f"once, as the app does); median of {args.reps} runs; {machine_line()}.",
        "",
        "| readout | explain, ms | explain + masking test of 5 pairs (app default), ms |",
        "|---|---|---|",
        *(f"| {r} | {a:.0f} | {b:.0f} |" for r, a, b in rows),
    ]
    text = "\n".join(body)
    print(text)
    if args.write_doc:
        write_section("readout_cost", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
