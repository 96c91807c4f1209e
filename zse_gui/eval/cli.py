"""``zse-eval``: score a model on a zero-shot test set by Ret, two-stage re-rank and exhaustive RN.

Examples::

    zse-eval --weights best_checkpoint.pth --layout sketchy --root data/Sketchy --split sketchy25
    zse-eval --model zse_test --weights runs/toy/final.safetensors --layout folders \\
        --sketches toy/sketches --photos toy/photos --split my_split.txt --modes ret,rn

Writes the table to stdout (and ``--table FILE``) and everything, per-class AP included, to
``--json FILE``. ``--quick`` evaluates the release's subsampled validation sets.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from zse_gui.data.layouts import LAYOUTS, open_dataset
from zse_gui.data.splits import resolve_split
from zse_gui.engine.engine import Engine
from zse_gui.errors import UsageError, ZseError, report_error
from zse_gui.eval.runner import evaluate_model, format_per_class, format_table
from zse_gui.eval.scoring import MODES
from zse_gui.model.factory import create_model

__all__ = ["build_parser", "main", "QUICK_STRIDES"]

log = logging.getLogger(__name__)

# The release's default (non ``--testall``) subsampling: every n-th sketch, every m-th photo.
QUICK_STRIDES = {"sketchy": (20, 10), "tuberlin": (3, 20), "quickdraw": (120, 30)}


def build_parser() -> argparse.ArgumentParser:
    """The ``zse-eval`` argument parser."""
    p = argparse.ArgumentParser(prog="zse-eval", description="Evaluate ZSE-SBIR retrieval (mAP, Prec@K).")
    g = p.add_argument_group("data")
    g.add_argument("--layout", choices=[*LAYOUTS, "folders"], required=True)
    g.add_argument("--root", help="dataset folder of an Extended layout (e.g. .../Sketchy)")
    g.add_argument(
        "--sketches", help="folders layout: one sub-folder (or .ndjson file) of sketches per class"
    )
    g.add_argument("--photos", help="folders layout: one sub-folder of photos per class")
    g.add_argument("--split", help="built-in split name or a split file (unseen classes are tested)")
    g.add_argument("--part", choices=["test", "train", "all"], default="test", help="classes to evaluate")
    g.add_argument("--limit-per-class", type=int, help="folders layout: at most N sketches/photos per class")
    g.add_argument("--quick", action="store_true", help="the release's subsampled validation set")
    g.add_argument("--subsample", type=int, nargs=2, metavar=("SKETCH_STRIDE", "PHOTO_STRIDE"))
    m = p.add_argument_group("model")
    m.add_argument("--model", default="zse_vitb16")
    m.add_argument("--weights", help="official .pth or our .safetensors ('default' = bundled file); required")
    m.add_argument(
        "--random-weights",
        action="store_true",
        help="evaluate a seeded random initialisation instead (a baseline; the table says so)",
    )
    m.add_argument("--trust", action="store_true", help="allow unpickling a trusted .pth that needs it")
    m.add_argument("--device", default="auto")
    m.add_argument("--precision", default="auto", help="auto (fp16 on GPU), fp32, bf16, fp16")
    m.add_argument("--batch-size", type=int, default=32)
    r = p.add_argument_group("ranking")
    r.add_argument("--modes", default="ret,rerank,rn", help=f"comma-separated subset of {','.join(MODES)}")
    r.add_argument("--rerank-depth", type=int, default=100, help="K of the two-stage mode")
    o = p.add_argument_group("output")
    o.add_argument("--json", help="write all results here")
    o.add_argument("--table", help="write the table here too")
    o.add_argument("--per-class", action="store_true", help="also print per-class mAP@all")
    o.add_argument("--no-progress", action="store_true")
    o.add_argument("-v", "--verbose", action="store_true")
    return p


def run(a: argparse.Namespace) -> int:
    """Run a parsed ``zse-eval`` command; returns the exit code."""
    if (a.weights is None) == (not a.random_weights):
        raise UsageError(
            "pass --weights FILE (the checkpoint to evaluate), or --random-weights to score an "
            "untrained model on purpose; not both"
            if a.weights is not None
            else "no --weights given: pass the checkpoint to evaluate (e.g. --weights best_checkpoint.pth), "
            "or --random-weights to score an untrained model on purpose"
        )
    modes = tuple(m.strip() for m in a.modes.split(",") if m.strip())
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise UsageError(f"--modes {a.modes!r}: use a comma-separated subset of {', '.join(MODES)}")
    split = resolve_split(a.split) if a.split else None
    data = open_dataset(
        a.layout, a.part, a.root, a.sketches, a.photos, split=split, limit_per_class=a.limit_per_class
    )
    if a.quick:
        if a.layout not in QUICK_STRIDES:
            raise UsageError("--quick needs an Extended layout; use --subsample for class folders")
        data = data.subsample(*QUICK_STRIDES[a.layout])
    elif a.subsample:
        data = data.subsample(*a.subsample)
    print(data.summary())
    engine = Engine(
        create_model(
            a.model, weights=a.weights, device="cpu", trust=a.trust, seed=0 if a.random_weights else None
        ),
        device=a.device,
        precision=a.precision,
    )
    result = evaluate_model(engine, data, modes, a.rerank_depth, a.batch_size, progress=not a.no_progress)
    table = format_table(result)
    if a.per_class:
        table += "\n\n" + format_per_class(result)
    print(table)
    if a.table:
        Path(a.table).parent.mkdir(parents=True, exist_ok=True)
        Path(a.table).write_text(table + "\n", encoding="utf-8")
    if a.json:
        out = result.as_dict()
        out["command"] = {k: v for k, v in vars(a).items()}
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zse-eval``."""
    a = build_parser().parse_args(argv)
    level = logging.INFO if a.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(a)
    except (KeyboardInterrupt, ZseError) as e:  # typed exit codes, as every zse-* tool
        return report_error("zse-eval", e)


if __name__ == "__main__":
    sys.exit(main())
