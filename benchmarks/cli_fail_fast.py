"""How long a command-line tool takes to refuse a blank sketch (it should not load the model first).

Runs ``zse-search BLANK.png --gallery DIR`` as a user would (a fresh process, bundled model, a
small generated gallery) for this checkout, and for another checkout given with ``--other`` (for
example the commit before a change), side by side, and writes the table to docs/benchmarks.md.

    python benchmarks/cli_fail_fast.py [--other /path/to/older/checkout] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import machine_line, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _time(checkout: Path, blank: Path, gallery: Path, cache: Path) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "ZSE_CACHE_DIR": str(cache)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "zse_gui.cli.search", str(blank), "-q", "--gallery", str(gallery)],
        env=env,
        cwd=checkout,
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - t0, proc.returncode


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--other", type=Path, help="another checkout to time the same way (e.g. before a change)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        blank = t / "blank.png"
        Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(blank)
        rng = np.random.default_rng(0)
        for c in ("a", "b"):
            (t / "gallery" / c).mkdir(parents=True)
            for i in range(3):
                pixels = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(t / "gallery" / c / f"{i}.png")
        rows = []
        for label, checkout in (("this checkout", ROOT), ("--other", args.other)):
            if checkout is None:
                continue
            times, codes = [], set()
            for r in range(args.repeats):
                secs, code = _time(checkout.resolve(), blank, t / "gallery", t / f"cache-{label}-{r}")
                times.append(secs)
                codes.add(code)
            rows.append(f"| {label} | {statistics.median(times):.2f} | {min(times):.2f} | {sorted(codes)} |")
    lines = [
        "A blank sketch given to `zse-search` (fresh process, bundled `zse_lite`, 6-photo gallery with an",
        "empty cache): seconds until the tool exits with its error. Exit code 4 = empty sketch.",
        "",
        machine_line(),
        "",
        "| code | median s | min s | exit codes |",
        "|---|---|---|---|",
        *rows,
    ]
    write_section("cli-fail-fast", "## CLI: refusing a blank sketch\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
