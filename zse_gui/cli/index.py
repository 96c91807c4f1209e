"""``zse-index``: build or update the embedding cache of a photo gallery."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from zse_gui.cli.common import (
    EXIT_OK,
    Formatter,
    add_model_args,
    build_engine,
    check_gallery_folder,
    progress,
    run_main,
)
from zse_gui.cli.text import json_safe, one_line
from zse_gui.engine.tokenstore import TOKEN_POLICIES
from zse_gui.errors import UsageError

__all__ = ["main", "build_parser"]

EPILOG = """\
examples:
  zse-index resources/demo_gallery                  # bundled zse_lite model
  zse-index ~/photos --model zse_vitb16 --weights best_checkpoint.pth --device cuda
  zse-index ~/photos --cache-dir /tmp/zse-cache --json
  zse-index ~/photos --ann hnsw --export ~/photos-vectors
  RAY_ADDRESS=head-node:6379 zse-index /shared/photos --cache-dir /shared/zse-cache --ray --workers 8

Re-running only encodes new or changed files; removed files leave the cache. Progress is
committed after every batch: after a kill or Ctrl+C, running the same command again continues
(losing at most one batch). A second zse-index on the same gallery waits for the first.
Exit codes: 0 ok, 1 other error, 2 bad arguments, 5 unreadable gallery or cache,
6 unknown model or bad weights, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs)."""
    p = argparse.ArgumentParser(
        prog="zse-index",
        description="Build or update the cached [Ret] embeddings and SA tokens of a gallery folder.",
        epilog=EPILOG,
        formatter_class=Formatter,
    )
    p.add_argument("gallery", type=Path, metavar="GALLERY_DIR", help="photo folder (sub-folders = classes)")
    p.add_argument("--cache-dir", type=Path, help="cache root (default: $ZSE_CACHE_DIR or ~/.cache/zse-gui)")
    p.add_argument("--batch-size", type=int, default=16, help="photos per forward pass (default: 16)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="index symbolic links that lead out of the gallery folder (default: list them as skipped)",
    )
    p.add_argument(
        "--ann",
        choices=("auto", "exact", "ivfpq", "hnsw"),
        help="stage-1 index, kept with the cache for later runs (default: the kept choice, else auto = "
        "exact scan below 100000 photos, FAISS IVF-PQ with exact re-scoring above)",
    )
    p.add_argument(
        "--tokens",
        choices=TOKEN_POLICIES,
        help="patch tokens kept for re-ranking: fp16 (2*T*C bytes per photo), int8 or fp8 (T*(C+2) bytes: "
        "8-bit codes and a float16 scale per token) or none (recomputed from the photos when "
        "re-ranking); default: the cache's current policy, else by gallery size: fp16 while the "
        "tokens fit in 8 GiB, int8 while those fit, none beyond",
    )
    p.add_argument(
        "--export",
        type=Path,
        metavar="DIR",
        help="also write embeddings.npy (float32), metadata.parquet (path, class, model sha256) and "
        "index.faiss into DIR, for a vector database or another tool (needs pyarrow)",
    )
    p.add_argument(
        "--ray",
        action="store_true",
        help="encode with a pool of Ray workers (needs the 'scale' extra); joins the cluster in "
        "$RAY_ADDRESS, else starts a local Ray; the cache folder must be shared by all nodes",
    )
    p.add_argument("--workers", type=int, default=2, help="Ray workers with --ray (default: 2)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_model_args(p)
    return p


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    check_gallery_folder(args.gallery)  # before the model loads
    if args.export is not None and args.export.exists() and not args.export.is_dir():
        raise UsageError(f"--export {args.export}: exists and is not a folder; name a folder to write into")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    engine = build_engine(args)
    with progress(f"indexing {args.gallery.name}", not args.quiet) as cb:
        if args.ray:
            from zse_gui.engine.distributed import EngineSpec, build_index_ray

            info = engine.weights_info
            spec = EngineSpec(
                name=engine.config.name,
                weights=None if args.seed is not None else info.source,
                seed=args.seed,
                device=args.device,
                precision=args.precision,
                trust=args.trust,
            )
            index = build_index_ray(
                spec,
                args.gallery,
                cache_root=args.cache_dir,
                num_workers=args.workers,
                batch_size=args.batch_size,
                follow_symlinks=args.follow_symlinks,
                progress=cb,
                ann=args.ann,
                driver=engine,
                tokens=args.tokens,
            )
        else:
            index = engine.index_gallery(
                args.gallery,
                cache_root=args.cache_dir,
                batch_size=args.batch_size,
                progress=cb,
                follow_symlinks=args.follow_symlinks,
                if_busy="wait",
                ann=args.ann,
                tokens=args.tokens,
            )
    summary = {
        "gallery": json_safe(str(index.root)),
        "cache_dir": json_safe(str(index.cache_dir)),
        "model": index.config_name,
        "weights_sha256": index.weights_sha256,
        "images": len(index),
        "classes": len(index.class_names),
        "encoded": index.num_encoded,
        "reused": index.num_reused,
        "stage1": index.stage1().kind,
        "tokens": index.token_policy,
        "skipped": [{"path": json_safe(p), "reason": json_safe(r)} for p, r in index.skipped],
    }
    if args.export is not None:
        from zse_gui.engine.export import export_gallery

        summary["export"] = json_safe(str(args.export))
        export_gallery(index, args.export)
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=1) + "\n")
    else:
        print(
            f"{summary['gallery']}: {len(index)} images in {summary['classes']} classes "
            f"({index.num_encoded} encoded, {index.num_reused} from cache, {len(index.skipped)} skipped)"
        )
        for path, reason in index.skipped:
            print(f"  skipped {one_line(path)}: {one_line(reason)}")
        print(f"cache: {one_line(str(index.cache_dir))} (stage 1: {summary['stage1']})")
        if args.export is not None:
            print(f"exported to {one_line(str(args.export))}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zse-index``; returns the exit code."""
    return run_main("zse-index", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
