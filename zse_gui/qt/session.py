"""Sessions (strokes, model, weights sha256, gallery, settings) as JSON, and the strokes autosave."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from zse_gui.errors import ZseError
from zse_gui.qt.settings import AppSettings, config_dir, write_json_atomic
from zse_gui.sketch import StrokeSketch, sketch_from_json, sketch_to_json

__all__ = [
    "SESSION_SUFFIX",
    "Session",
    "SessionError",
    "ensure_suffix",
    "save_session",
    "load_session",
    "autosave_path",
    "write_autosave",
    "read_autosave",
]

log = logging.getLogger(__name__)

FORMAT = "zse-gui-session"
VERSION = 1
AUTOSAVE_FILE = "autosave-strokes.json"


class SessionError(ZseError):
    """A session file that cannot be read."""


@dataclass(frozen=True)
class Session:
    """What a session file holds.

    Attributes:
        sketch: the strokes.
        model: registry name of the model.
        weights: weight file path ("" = random init, "default" = the bundled file).
        weights_sha256: sha256 of the weights when saved, to warn if a different file is loaded.
        gallery: gallery folder ("" = none).
        settings: the user settings at save time.
        selected: gallery index of the explained result, or None.
        sketch_image: a sketch image file the strokes were drawn over ("" = none).
    """

    sketch: StrokeSketch
    model: str
    weights: str
    weights_sha256: str
    gallery: str
    settings: AppSettings
    selected: int | None = None
    sketch_image: str = ""


SESSION_SUFFIX = ".zse-session"  # its own extension: the Open dialog lists sessions, not export sidecars


def ensure_suffix(path: str | Path, suffix: str) -> Path:
    """``path`` with ``suffix`` appended when the user typed a name without any extension.

    A user who types ``mushroom_report`` in a save dialog gets ``mushroom_report.pdf``; a name
    the user gave an extension (``notes.json``) is kept as typed.
    """
    p = Path(path)
    return p if p.suffix else p.with_name(p.name + suffix)


def save_session(path: str | Path, s: Session) -> Path:
    """Write a session file atomically (``.zse-session`` is appended to a name without it)."""
    p = ensure_suffix(path, SESSION_SUFFIX)
    write_json_atomic(
        p,
        {
            "format": FORMAT,
            "version": VERSION,
            "sketch": sketch_to_json(s.sketch),
            "model": s.model,
            "weights": s.weights,
            "weights_sha256": s.weights_sha256,
            "gallery": s.gallery,
            "settings": s.settings.to_json(),
            "selected": s.selected,
            "sketch_image": s.sketch_image,
        },
    )
    return p


def load_session(path: str | Path) -> Session:
    """Read a session file; bad settings fall back to defaults, bad strokes are an error.

    Raises:
        SessionError: unreadable, not a session, or a newer format version.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SessionError(f"cannot read session {p}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f'{p} is not a zse-gui session (no "format": "{FORMAT}")')
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise SessionError(
            f"{p} has session version {version!r}; this app reads up to {VERSION}; update zse-gui"
        )
    try:
        sketch = sketch_from_json(data.get("sketch"))
    except ZseError as exc:
        raise SessionError(f"{p}: {exc}") from exc
    selected = data.get("selected")
    return Session(
        sketch=sketch,
        model=str(data.get("model") or ""),
        weights=str(data.get("weights") or ""),
        weights_sha256=str(data.get("weights_sha256") or ""),
        gallery=str(data.get("gallery") or ""),
        settings=AppSettings.from_json(data.get("settings", {})),
        selected=selected if isinstance(selected, int) and not isinstance(selected, bool) else None,
        sketch_image=str(data.get("sketch_image") or ""),
    )


def autosave_path(folder: Path | None = None) -> Path:
    return (folder or config_dir()) / AUTOSAVE_FILE


def write_autosave(sketch: StrokeSketch, folder: Path | None = None) -> None:
    """Keep the current strokes on disk so they survive a crash (never raises: a full disk only logs)."""
    try:
        write_json_atomic(autosave_path(folder), sketch_to_json(sketch))
    except OSError as exc:
        log.warning("autosave failed: %s", exc)


def read_autosave(folder: Path | None = None) -> StrokeSketch | None:
    """The autosaved strokes, or None when there are none or they are unreadable."""
    p = autosave_path(folder)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        sketch = sketch_from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ZseError) as exc:
        log.warning("ignoring unreadable autosave %s: %s", p, exc)
        return None
    return None if sketch.is_empty else sketch
