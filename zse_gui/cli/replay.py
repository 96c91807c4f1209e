"""``zse-replay``: replay a drawing stroke by stroke and follow one photo's (or class's) rank."""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zse_gui.cli.common import (
    EXIT_OK,
    Formatter,
    add_gallery_args,
    add_model_args,
    build_engine,
    check_gallery_folder,
    load_sketch,
    open_gallery,
    path_kind,
    progress,
    run_main,
)
from zse_gui.cli.text import json_safe
from zse_gui.data.imageio import read_image_or_placeholder
from zse_gui.errors import InvalidSketchError, UsageError
from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import Replay
from zse_gui.viz.export import save_figure
from zse_gui.viz.strokes import replay_figure, replay_frames, save_gif, save_mp4, strokes_needed_text

if TYPE_CHECKING:
    from zse_gui.engine.replay import ReplayTarget

__all__ = ["build_parser", "main", "replay_to_json"]

EPILOG = """\
examples:
  zse-replay resources/sketches/fish.json --target-class fish --out replay_fish
  zse-replay cats.ndjson --drawing 3 --target-rank 1 --out replay_cat     # the final top result
  zse-replay my.json --gallery ~/photos --target-photo ~/photos/cat/cat_03.jpg --out replay

Writes into --out: replay_curve.png/.svg/.pdf (the target's rank after each stroke), replay_curve.json
(the numbers behind the curve), strokes.json (one row per stroke) and replay.gif or .mp4 (--animation;
the drawing and the top results, stroke by stroke). --target-rank counts like the results grid:
1 is the top result.
Exit codes: 0 ok, 1 other error, 2 bad arguments, 3 missing/unreadable file,
4 empty or invalid sketch (or no strokes: a raster image cannot be replayed), 5 unreadable gallery or
cache, 6 unknown model or bad weights, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zse-replay",
        description="Replay a drawing stroke by stroke: a chosen photo's or class's rank after each stroke.",
        epilog=EPILOG,
        formatter_class=Formatter,
    )
    p.add_argument(
        "sketch", type=Path, metavar="SKETCH", help="the app's stroke .json or a Quick, Draw! .ndjson"
    )
    p.add_argument("--drawing", type=int, default=0, help="which drawing of an .ndjson file, 0-based")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--target-rank", type=int, help="follow the photo at this rank of the whole drawing (1 = top)"
    )
    target.add_argument("--target-photo", type=Path, help="follow this gallery photo")
    target.add_argument("--target-class", help="follow the best-ranked photo of this class")
    p.add_argument("--out", type=Path, required=True, help="output folder (created if needed)")
    p.add_argument("--mode", choices=("rerank", "ret", "rn"), default="rerank", help="ranking mode")
    p.add_argument("--rerank-depth", type=int, default=50, help="stage-1 candidates re-scored (default: 50)")
    p.add_argument("--top", type=int, default=5, help="results shown per frame of the animation (default: 5)")
    p.add_argument(
        "--frame-ms", type=int, default=600, help="milliseconds per animation frame (default: 600)"
    )
    p.add_argument(
        "--animation",
        choices=("gif", "mp4", "both"),
        default="gif",
        help="the replay animation as replay.gif, replay.mp4 or both (default: gif)",
    )
    add_gallery_args(p)
    add_model_args(p)
    return p


def replay_to_json(rep: Replay, paths: Sequence[str]) -> dict[str, Any]:
    """The curve's numbers: ranks (1-based), percentiles, strokes needed for the top 1 / 5 / 10."""
    return {
        "target": json_safe(rep.target),
        "target_indices": list(rep.target_indices),
        "gallery_size": rep.gallery_size,
        "mode": rep.mode,
        "rerank_depth": rep.rerank_depth,
        "ranks": [int(r) + 1 for r in rep.ranks],
        "percentile": [round(float(v), 6) for v in np.clip(rep.percentile, 0.0, 1.0)],
        "strokes_to_top": {str(k): rep.strokes_to_reach(k) for k in (1, 5, 10)},
        "top_paths_final": [json_safe(paths[i]) for i in rep.top[-1] if i >= 0],
    }


def stroke_rows(rep: Replay, paths: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {
            "stroke": k,
            "points": int(rep.stroke_points[k]),
            "rank_after": int(rep.ranks[k]) + 1 if rep.ranks[k] < rep.gallery_size else None,
            "top": [
                {"path": json_safe(paths[i]), "rn_score": None if np.isnan(s) else round(float(s), 6)}
                for i, s in zip(rep.top[k], rep.top_scores[k], strict=True)
                if i >= 0
            ],
        }
        for k in range(len(rep.ranks))
    ]


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.rerank_depth < 0 or args.top < 1 or args.frame_ms < 10:
        raise UsageError("--rerank-depth must be >= 0, --top >= 1 and --frame-ms >= 10")
    if path_kind(args.out, "--out", UsageError) not in ("dir", None):
        raise UsageError(f"--out {args.out} exists and is not a folder; name a folder for the replay")
    sketch = load_sketch(args.sketch, args.drawing)
    if not isinstance(sketch.strokes, StrokeSketch):
        raise InvalidSketchError(f"{args.sketch} is an image: a replay needs strokes (.json or .ndjson)")
    strokes = sketch.strokes
    check_gallery_folder(args.gallery)
    # torch loads only now, after every input has been checked (a bad sketch fails at once)
    from zse_gui.engine.replay import replay_sketch, target_class, target_photo, target_rank

    engine = build_engine(args)
    gallery = open_gallery(engine, args.gallery, args.cache_dir, args.quiet, args.follow_symlinks)
    target: ReplayTarget
    if args.target_photo is not None:
        target = target_photo(gallery, args.target_photo)
    elif args.target_class is not None:
        target = target_class(gallery, args.target_class)
    else:
        if not 1 <= args.target_rank <= len(gallery):
            raise UsageError(f"--target-rank {args.target_rank} is outside the gallery (1 .. {len(gallery)})")
        target = target_rank(
            engine, strokes, gallery, args.target_rank - 1, rerank_depth=args.rerank_depth, mode=args.mode
        )
    with progress("replaying", not args.quiet) as cb:
        rep = replay_sketch(
            engine,
            strokes,
            gallery,
            target,
            mode=args.mode,
            rerank_depth=args.rerank_depth,
            top=args.top,
            progress=cb,
        )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "sketch": json_safe(sketch.source),
        "model": engine.config.name,
        "weights_sha256": engine.weights_info.sha256,
        "gallery": json_safe(str(gallery.root)),
    }
    fig = replay_figure(rep)
    for fmt in ("png", "svg", "pdf"):
        save_figure(fig, out / f"replay_curve.{fmt}")
    (out / "replay_curve.json").write_text(
        json.dumps({**meta, **replay_to_json(rep, gallery.paths)}, indent=1)
    )
    (out / "strokes.json").write_text(
        json.dumps({**meta, "strokes": stroke_rows(rep, gallery.paths)}, indent=1)
    )
    photo = functools.cache(lambda i: read_image_or_placeholder(gallery.paths[i]))
    frames = replay_frames(strokes, rep, photo)
    animations = []
    if args.animation in ("gif", "both"):
        animations.append(save_gif(out / "replay.gif", frames, args.frame_ms).name)
    if args.animation in ("mp4", "both"):
        animations.append(save_mp4(out / "replay.mp4", frames, args.frame_ms).name)
    reach = ", ".join(f"top {k} {strokes_needed_text(rep.strokes_to_reach(k))}" for k in (1, 5, 10))
    final = int(rep.ranks[-1]) + 1
    print(f"{rep.target}: rank {final} of {rep.gallery_size} after {len(rep.ranks)} strokes ({reach})")
    print(f"wrote {out}/replay_curve.png|svg|pdf|json, strokes.json, {', '.join(animations)}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zse-replay``; returns the exit code."""
    return run_main("zse-replay", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
