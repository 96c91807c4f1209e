"""Indexing throughput: single process vs ``zse-index --ray`` with 1 and 2 local workers.

Photos per second of a full (cold-cache) index build, each run into a fresh cache folder:

* the demo gallery (``resources/demo_gallery``) with the bundled ``zse_lite`` model;
* ``--vit N``: N generated photos with ``zse_vitb16`` (random weights: the same compute as the
  real model; 0 skips it).

Ray start-up (``ray.init`` of a local instance) is timed separately and not included; each
worker loads its model when the pool starts, which is included (it is part of every run). One
torch thread per worker. No GPU on this machine: GPU throughput is not measured here.

Run: ``nice -n 10 .venv/bin/python -m benchmarks.ray_index``; writes the "ray-index" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks._report import machine_line, write_section  # noqa: E402
from zse_gui.engine.distributed import EngineSpec, build_index_ray  # noqa: E402
from zse_gui.engine.gallery import build_index  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "resources" / "demo_gallery"


def make_photos(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        p = root / f"c{i % 5}" / f"{i}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(p, quality=90)
    return root


def run(spec: EngineSpec, folder: Path, workers: int | None, batch: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        if workers is None:
            idx = build_index(spec.build(), folder, cache, batch_size=batch, workers=1)
        else:
            idx = build_index_ray(spec, folder, cache, num_workers=workers, batch_size=batch)
        return len(idx), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vit", type=int, default=32, help="generated photos for the ViT-B/16 runs (0 = skip)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    start_s = time.perf_counter() - t0
    cases = [("zse_lite (bundled weights), demo gallery", EngineSpec("zse_lite", "default"), GALLERY)]
    tmp = tempfile.TemporaryDirectory()
    if args.vit:
        photos = make_photos(Path(tmp.name) / "photos", args.vit)
        cases.append((f"zse_vitb16 (random weights), {args.vit} generated photos",
                      EngineSpec("zse_vitb16", None, seed=0), photos))  # fmt: skip
    lines = [
        "## Indexing on Ray (`benchmarks/ray_index.py`)",
        "",
        f"Machine: {machine_line()}; Ray {ray.__version__}, local instance with 2 CPUs (started in "
        f"{start_s:.1f} s, not counted below), one torch thread per worker, batch size {args.batch}, "
        "fp32. Cold cache each run; times include model loading in every worker and the merge. "
        "No GPU here: GPU throughput was not measured.",
        "",
        "| model, gallery | single process | Ray, 1 worker | Ray, 2 workers |",
        "| --- | --- | --- | --- |",
    ]
    for name, spec, folder in cases:
        cells = []
        for workers in (None, 1, 2):
            n, secs = run(spec, folder, workers, args.batch)
            cells.append(f"{n / secs:.1f} photos/s ({secs:.0f} s)")
            print(name, workers, cells[-1], flush=True)
        lines.append(f"| {name} | {' | '.join(cells)} |")
    ray.shutdown()
    tmp.cleanup()
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("ray-index", body)


if __name__ == "__main__":
    main()
