"""Shared plumbing of the command-line tools: model options, sketch input, progress, exit codes.

The CLIs are thin: they parse arguments, call the engine and the renderers, and turn the typed
errors of ``zse_gui.errors`` into one-line messages and distinct exit codes.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zse_gui.data.sketch_files import load_sketch_file, require_ink
from zse_gui.errors import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_GALLERY,
    EXIT_INPUT,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_SKETCH,
    EXIT_USAGE,
    ConfigError,
    GalleryError,
    UsageError,
    WeightsError,
    ZseError,
    report_error,
)
from zse_gui.paths import repo_path
from zse_gui.sketch import StrokeSketch

if TYPE_CHECKING:  # torch loads only when a command needs the model
    from zse_gui.engine.engine import Engine
    from zse_gui.engine.gallery import GalleryIndex

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_INPUT",
    "EXIT_SKETCH",
    "EXIT_GALLERY",
    "EXIT_MODEL",
    "EXIT_CANCELLED",
    "SketchInput",
    "Formatter",
    "SKETCH_HELP",
    "add_model_args",
    "add_gallery_args",
    "build_engine",
    "check_gallery_folder",
    "default_gallery",
    "load_sketch",
    "open_gallery",
    "path_kind",
    "progress",
    "run_main",
]

log = logging.getLogger(__name__)


def path_kind(path: Path | str, what: str, error: Callable[[str], ZseError]) -> str | None:
    """``"file"``, ``"dir"``, ``"other"`` or None (absent) for a path named on the command line.

    Raises:
        ``error(message)``: the path cannot even be looked up (a name over 255 bytes, a
            component that is a file, no permission).
    """
    try:
        p = Path(path)
        if p.is_dir():
            return "dir"
        if p.is_file():
            return "file"
        return "other" if p.exists() else None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the name
        reason = (e.strerror if isinstance(e, OSError) else None) or str(e)
        if isinstance(e, OSError) and e.errno == errno.ENAMETOOLONG:
            reason += " (each folder or file name may have at most 255 bytes)"
        shown = str(path)[:120] + ("..." if len(str(path)) > 120 else "")
        raise error(f"{what} {shown!r}: {reason}") from None


SKETCH_HELP = "sketch image, the app's stroke .json, or a Quick, Draw! .ndjson file"


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-wrapped examples in the epilog (defaults are written into each help text)."""


def default_gallery() -> Path | None:
    """The bundled demo gallery (``resources/demo_gallery``) when it is there."""
    p = repo_path("resources", "demo_gallery")
    return p if p.is_dir() else None


def _default_model() -> tuple[str, str] | None:
    """``("zse_lite", "default")`` when that config is registered and its weight file exists."""
    from zse_gui.model import default_models_dir, list_configs
    from zse_gui.model.config import get_config

    if "zse_lite" not in list_configs():
        return None
    cfg = get_config("zse_lite")
    if cfg.weights_file and (default_models_dir() / cfg.weights_file).is_file():
        return "zse_lite", "default"
    return None


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--weights``, ``--seed``, ``--device``, ``--precision``."""
    g = parser.add_argument_group("model")
    g.add_argument("--model", help="model config name (default: zse_lite with its bundled weights)")
    g.add_argument(
        "--weights",
        help="weight file (.pth or .safetensors); 'default' = the config's bundled file in models/",
    )
    g.add_argument(
        "--seed",
        type=int,
        help="random-init weights seeded with SEED instead of a weight file (tests and demos only: "
        "the rankings mean nothing)",
    )
    g.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    g.add_argument(
        "--precision", default="auto", help="auto (default: fp16 on GPU, fp32 on CPU), fp32, bf16 or fp16"
    )
    g.add_argument("--trust", action="store_true", help="allow full unpickling of a trusted .pth checkpoint")


def add_gallery_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """``--gallery`` and ``--cache-dir``."""
    dflt = default_gallery()
    parser.add_argument(
        "--gallery",
        type=Path,
        default=None if required else dflt,
        help="photo folder, one sub-folder per class gives labels"
        + ("" if required or dflt is None else " (default: the bundled demo gallery)"),
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="gallery cache root (default: $ZSE_CACHE_DIR or ~/.cache/zse-gui)"
    )
    parser.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="index symbolic links that lead out of the gallery folder (default: list them as skipped)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def build_engine(args: argparse.Namespace) -> Engine:
    """An ``Engine`` for the model options (imported lazily: torch loads only when needed).

    Raises:
        ConfigError: no model given and no bundled default. UsageError: ``--seed`` with ``--weights``.
        WeightsError: the weight file is missing or unusable.
    """
    from zse_gui.engine.engine import Engine
    from zse_gui.model import create_model
    from zse_gui.model.config import get_config

    name, weights = args.model, args.weights
    if args.seed is not None and weights is not None:
        raise UsageError("pass either --weights or --seed, not both")
    if name is None:
        found = _default_model()
        if found is None:
            raise ConfigError(
                "no model given and the bundled zse_lite weights are not installed; "
                "pass --model NAME --weights FILE (e.g. --model zse_vitb16 --weights best_checkpoint.pth)"
            )
        name, weights = found if weights is None and args.seed is None else (found[0], weights)
    cfg = get_config(name)  # ConfigError lists the known names
    if weights is None and args.seed is None:
        if not cfg.weights_file:
            raise ConfigError(
                f"model {name!r} has no bundled weights; pass --weights FILE "
                "(or --seed N for a random-init model, for tests only)"
            )
        weights = "default"
    if weights is not None and weights != "default":
        kind = path_kind(weights, "weight file", lambda msg: WeightsError(str(weights)[:120], msg))
        if kind != "file":
            raise WeightsError(weights, "weight file not found", "check the path")
    model = create_model(name, weights=weights, trust=args.trust, seed=args.seed)
    engine = Engine(model, device=args.device, precision=args.precision)
    log.info("model %s, weights %s (%s)", name, engine.weights_info.source, engine.weights_info.sha256[:12])
    return engine


@dataclass(frozen=True)
class SketchInput:
    """A sketch read from the command line, checked before any model loads.

    Attributes:
        query: what the engine encodes: a ``StrokeSketch`` (stroke JSON, ndjson) or an RGB array.
        source: the file as given (``file#N`` for drawing N of an ndjson file).
        strokes: the strokes, when the sketch is vector strokes, else None.
        label: ``--label``, or the drawing's category (ndjson ``word``), else None.
    """

    query: StrokeSketch | np.ndarray
    source: str
    strokes: StrokeSketch | None
    label: str | None


def load_sketch(path: Path, drawing: int = 0, label: str | None = None) -> SketchInput:
    """Read a sketch image, a stroke JSON file or one drawing of a Quick, Draw! ``.ndjson`` file.

    Cheap (no torch): the tools call it before loading the model, so a bad sketch fails at once.

    Raises:
        InputFileError: missing, a folder, unreadable, no such drawing (exit code 3).
        InvalidSketchError: no strokes, or no pixel dark enough to be ink (exit code 4).
    """
    if drawing < 0:
        raise UsageError(f"--drawing is a 0-based index, got {drawing}")
    loaded = load_sketch_file(path, drawing=drawing)
    query = require_ink(loaded)
    strokes = loaded.sketch if not loaded.sketch.is_empty else None
    return SketchInput(query, loaded.source, strokes, label or loaded.label)


def check_gallery_folder(folder: Path | None) -> Path:
    """The gallery folder, checked before any model loads.

    Raises:
        UsageError: no gallery given and no bundled demo gallery. GalleryError: not a folder.
    """
    if folder is None:
        raise UsageError("no gallery: pass --gallery FOLDER")
    try:
        ok = folder.is_dir()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise GalleryError(f"gallery folder {folder}: {exc.strerror or exc}") from None
    if not ok:
        raise GalleryError(f"gallery folder {folder} not found or not a folder")
    return folder


@contextmanager
def progress(desc: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback that draws a tqdm bar on stderr.

    The bar appears only for real work (the first report with ``done < total``; a gallery that
    is all cached shows none) and only when stderr is a terminal (a pipe or a log file gets no
    carriage-return lines).
    """
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from tqdm import tqdm

    bars: list[tqdm] = []  # created on the first report of unfinished work

    def update(done: int, total: int) -> None:
        if not bars:
            if total <= 0 or done >= total:
                return
            bars.append(tqdm(desc=desc, unit="img", file=sys.stderr, dynamic_ncols=True, leave=False))
        bar = bars[0]
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


def open_gallery(
    engine: Engine, folder: Path | None, cache_dir: Path | None, quiet: bool, follow_symlinks: bool = False
) -> GalleryIndex:
    """Index (or update the cache of) a gallery folder, with a progress bar.

    While another process updates the same cache, its last complete generation is used.

    Raises:
        UsageError: no gallery given and no bundled demo gallery. GalleryError: not a folder.
    """
    folder = check_gallery_folder(folder)
    with progress(f"indexing {folder.name}", not quiet) as cb:
        index = engine.index_gallery(
            folder, cache_root=cache_dir, progress=cb, follow_symlinks=follow_symlinks, if_busy="use_last"
        )
    for path, reason in index.skipped:
        log.warning("skipped %s: %s", path, reason)
    return index


def run_main(prog: str, body: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None) -> int:
    """Run a CLI body, turning errors into ``prog: error: message`` on stderr and an exit code."""
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: %(levelname)s: %(message)s")
    try:
        return body(argv)
    except (KeyboardInterrupt, ZseError) as e:
        return report_error(prog, e)
    except OSError as e:
        # Last resort for an operating-system refusal no check above anticipated (a full disk
        # while writing figures, a read-only output folder): one line, exit code 1.
        where = f" ({str(e.filename)[:200]})" if e.filename else ""
        sys.stderr.write(f"{prog}: error: {e.strerror or e}{where}\n")
        return EXIT_ERROR
