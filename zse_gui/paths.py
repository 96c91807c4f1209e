"""Where the checkout's own folders are (the bundled models, resources and docs)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO_ROOT", "repo_path"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def repo_path(*parts: str) -> Path:
    """A path inside the checkout, e.g. ``repo_path("resources", "demo_gallery")``."""
    return REPO_ROOT.joinpath(*parts)
