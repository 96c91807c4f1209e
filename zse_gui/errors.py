"""The typed error hierarchy shared by every layer.

Messages say what happened, the offending value, and how to fix it. Nothing here imports
torch, Qt or any other heavy dependency, so every package may import it.
"""

from __future__ import annotations

import sys


class ZseError(Exception):
    """Base class of every error zse-gui raises on purpose."""


class ConfigError(ZseError):
    """An unknown model name, an inconsistent config, or a bad setting value."""


class WeightsError(ZseError):
    """A weight file that cannot be used: missing, truncated, not a checkpoint, wrong architecture."""

    def __init__(self, path: object, problem: str, hint: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        text = f"{self.path}: {problem}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class InvalidSketchError(ZseError):
    """A sketch that cannot be retrieved with: empty, no ink, unreadable."""


class InputFileError(ZseError):
    """An input file that is missing, is a folder, or cannot be read as what it should be."""


class ImageReadError(ZseError):
    """An image file that cannot be decoded."""


class GalleryError(ZseError):
    """A gallery folder or cache that cannot be used."""


class DatasetError(ZseError):
    """A dataset layout, file list or split that is missing or malformed."""


class CancelledError(ZseError):
    """A long job was cancelled cooperatively by its caller."""


class UsageError(ZseError):
    """Command-line arguments that contradict each other or name nothing known (exit code 2)."""


# ---- exit codes of every command-line tool ---------------------------------------------------
EXIT_OK = 0
EXIT_ERROR = 1  # any other zse-gui error
EXIT_USAGE = 2  # bad arguments (argparse's own code)
EXIT_INPUT = 3  # a missing or unreadable input file, dataset or split
EXIT_SKETCH = 4  # the sketch is empty or has no ink
EXIT_GALLERY = 5  # the gallery folder or cache cannot be used
EXIT_MODEL = 6  # unknown model, unusable weights, no weights given
EXIT_CANCELLED = 130  # Ctrl+C, as shells report SIGINT

_EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (UsageError, EXIT_USAGE),
    (InputFileError, EXIT_INPUT),
    (InvalidSketchError, EXIT_SKETCH),
    (ImageReadError, EXIT_INPUT),
    (DatasetError, EXIT_INPUT),
    (GalleryError, EXIT_GALLERY),
    (WeightsError, EXIT_MODEL),
    (ConfigError, EXIT_MODEL),
    (CancelledError, EXIT_CANCELLED),
    (KeyboardInterrupt, EXIT_CANCELLED),
)


def exit_code(error: BaseException) -> int:
    """The process exit code a command-line tool returns for ``error``."""
    return next((code for kind, code in _EXIT_CODES if isinstance(error, kind)), EXIT_ERROR)


def report_error(prog: str, error: BaseException) -> int:
    """Write ``prog: error: message`` (``prog: interrupted`` for Ctrl+C) to stderr; return the exit code."""
    text = "interrupted" if isinstance(error, KeyboardInterrupt) else f"error: {error}"
    sys.stderr.write(f"{prog}: {text}\n")
    return exit_code(error)
