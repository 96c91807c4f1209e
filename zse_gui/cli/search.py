"""``zse-search``: rank a gallery for one sketch (image file or QuickDraw ndjson drawing)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zse_gui.cli.common import (
    EXIT_OK,
    SKETCH_HELP,
    Formatter,
    add_gallery_args,
    add_model_args,
    build_engine,
    check_gallery_folder,
    load_sketch,
    open_gallery,
    run_main,
)
from zse_gui.cli.text import json_safe, one_line
from zse_gui.errors import UsageError
from zse_gui.results import RetrievalResult

__all__ = ["main", "build_parser", "result_to_json", "format_table"]

EPILOG = """\
examples:
  zse-search my_cat.png                               # demo gallery, bundled zse_lite model
  zse-search cats.ndjson --drawing 3 --top-k 5        # the 4th drawing of a QuickDraw file
  zse-search sketch.png --gallery ~/photos --mode ret --json > ranking.json
  zse-search sketch.png --gallery ~/photos --model zse_vitb16 --weights best_checkpoint.pth

Modes: rerank = [Ret] cosine shortlist re-scored by the relation network (default),
ret = [Ret] cosine only (fast), rn = relation network over the whole gallery (slow, as in the paper).
Exit codes: 0 ok, 1 other error, 2 bad arguments, 3 missing/unreadable file,
4 empty or invalid sketch, 5 unreadable gallery or cache, 6 unknown model or bad weights,
130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="zse-search",
        description="Rank the photos of a gallery for a sketch; prints a table or JSON.",
        epilog=EPILOG,
        formatter_class=Formatter,
    )
    p.add_argument("sketch", type=Path, metavar="SKETCH", help=SKETCH_HELP)
    p.add_argument(
        "--drawing", type=int, default=0, help="which drawing of an .ndjson file, 0-based (default: 0)"
    )
    p.add_argument("--label", help="the sketch's class, to mark true-class results (ndjson: its word)")
    p.add_argument("--top-k", type=int, default=10, help="results to list (default: 10)")
    p.add_argument(
        "--mode", choices=("rerank", "ret", "rn"), default="rerank", help="ranking mode (default: rerank)"
    )
    p.add_argument(
        "--rerank-depth",
        type=int,
        default=50,
        help="stage-1 candidates re-scored in rerank mode (default: 50)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_gallery_args(p)
    add_model_args(p)
    return p


def result_to_json(result: RetrievalResult, label: str | None) -> list[dict[str, Any]]:
    """Ranked items as JSON-ready dicts (1-based ``rank``)."""
    return [
        {
            "rank": it.final_rank + 1,
            "stage1_rank": it.stage1_rank + 1,
            "index": it.index,
            "path": json_safe(it.path),
            "label": None if it.label is None else json_safe(it.label),
            "ret_score": round(float(it.ret_score), 6),
            "rn_score": None if it.rn_score is None else round(float(it.rn_score), 6),
            "rn_logit": None if it.rn_logit is None else round(float(it.rn_logit), 6),
            "match": None if label is None or it.label is None else it.label == label,
        }
        for it in result.items
    ]


def format_table(result: RetrievalResult, label: str | None) -> str:
    """A fixed-width table: rank, relation score, [Ret] cosine, stage-1 rank, label, path.

    Control characters and undecodable bytes in names are escaped, so every item is one line.
    """
    rows = [f"{'rank':>4}  {'rn':>7}  {'ret':>7}  {'s1':>4}  {'':1}  {'label':<16}  path"]
    for it in result.items:
        rn = "-" if it.rn_score is None else f"{it.rn_score:.4f}"
        mark = "" if label is None or it.label is None else ("*" if it.label == label else "")
        rows.append(
            f"{it.final_rank + 1:>4}  {rn:>7}  {it.ret_score:>7.4f}  {it.stage1_rank + 1:>4}  {mark:1}  "
            f"{one_line(it.label or '-')[:16]:<16}  {one_line(it.path)}"
        )
    return "\n".join(rows)


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {args.top_k}")
    if args.rerank_depth < 0:
        raise UsageError(f"--rerank-depth must be >= 0, got {args.rerank_depth}")
    sketch = load_sketch(args.sketch, args.drawing, args.label)  # inputs first: fail before the model loads
    check_gallery_folder(args.gallery)
    engine = build_engine(args)
    gallery = open_gallery(engine, args.gallery, args.cache_dir, args.quiet, args.follow_symlinks)
    result = engine.search(
        sketch.query, gallery, top_k=args.top_k, rerank_depth=args.rerank_depth, mode=args.mode
    )
    if args.json:
        doc = {
            "sketch": json_safe(sketch.source),
            "label": None if sketch.label is None else json_safe(sketch.label),
            "model": engine.config.name,
            "weights_sha256": engine.weights_info.sha256,
            "gallery": json_safe(str(gallery.root)),
            "gallery_size": result.gallery_size,
            "mode": result.mode,
            "rerank_depth": result.rerank_depth,
            "timings_ms": {k: round(v, 3) for k, v in result.timings_ms.items()},
            "items": result_to_json(result, sketch.label),
        }
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    else:
        print(format_table(result, sketch.label))
        hits = "" if sketch.label is None else f", * = class {sketch.label!r}"
        print(f"({result.mode}, {result.gallery_size} photos, model {engine.config.name}{hits})")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zse-search``; returns the exit code."""
    return run_main("zse-search", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
