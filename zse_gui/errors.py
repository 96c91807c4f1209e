"""The typed error hierarchy shared by every layer.

Messages say what happened, the offending value, and how to fix it. Nothing here imports
torch, Qt or any other heavy dependency, so every package may import it.
"""

from __future__ import annotations


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


class ImageReadError(ZseError):
    """An image file that cannot be decoded."""


class GalleryError(ZseError):
    """A gallery folder or cache that cannot be used."""


class DatasetError(ZseError):
    """A dataset layout, file list or split that is missing or malformed."""


class CancelledError(ZseError):
    """A long job was cancelled cooperatively by its caller."""
