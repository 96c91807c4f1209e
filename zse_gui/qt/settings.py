"""User settings: one dataclass persisted as JSON in the platform config dir.

Bad or unknown values never stop the app: each field that fails validation falls back to its
default (and is logged), so an old or hand-edited settings file always loads. ``ZSE_CONFIG_DIR``
overrides the folder, which is how tests keep their settings in a temporary directory.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from zse_gui.results import CORRESPONDENCE_READOUTS, DEFAULT_READOUT
from zse_gui.viz.correspondence import CorrespondenceSettings

__all__ = ["AppSettings", "config_dir", "load_settings", "save_settings", "write_json_atomic"]

log = logging.getLogger(__name__)

APP_DIR_NAME = "zse-gui"
SETTINGS_FILE = "settings.json"
# Written into the file. Files without it (version 1) stored every value, defaults included, so a
# value that was version 1's default cannot be told from a choice: such values of settings whose
# default has changed since are read as "not chosen" (``_OLD_DEFAULTS``).
SETTINGS_VERSION = 2
_OLD_DEFAULTS: dict[int, dict[str, object]] = {1: {"corr_readout": "dual_sinkhorn"}}

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class AppSettings:
    """Everything the user can set that should survive a restart.

    Attributes:
        top_k: result thumbnails shown.
        rerank_depth: stage-1 candidates re-scored by the relation network (0 = stage 1 only).
        live: run retrieval while drawing (otherwise only on demand, Ctrl+Return).
        pen_width: pen width in canvas pixels.
        smoothing: smooth each stroke when it is finished.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        model: registry name of the last model ("" = the default choice at start).
        weights: weight file of the last model ("" = random init / bundled default).
        gallery: last gallery folder ("" = the bundled demo gallery if there is one).
        corr_top_k: correspondence lines drawn.
        corr_threshold: minimum attention weight of a drawn line, in [0, 1].
        corr_head: CA head shown, -1 for the mean over heads.
        mutual_only: draw only mutual nearest-neighbour pairs.
        ink_only: draw only pairs whose sketch patch contains ink.
        corr_readout: how the lines are read out of the cross-attention (one of
            ``CORRESPONDENCE_READOUTS``; ``"attention"`` = the plain attention argmax of earlier
            versions; see docs/explanations.md for what each measures).
        faithfulness_top: pairs tested by the masking faithfulness check (0 = off).
        export_formats: formats written by "Export explanation".
    """

    top_k: int = 24
    rerank_depth: int = 50
    live: bool = True
    pen_width: float = 4.0
    smoothing: bool = True
    device: str = "auto"
    model: str = ""
    weights: str = ""
    gallery: str = ""
    corr_top_k: int = 15
    corr_threshold: float = 0.0
    corr_head: int = -1
    mutual_only: bool = False
    ink_only: bool = True
    corr_readout: str = DEFAULT_READOUT
    faithfulness_top: int = 5
    export_formats: tuple[str, ...] = ("png", "svg", "pdf")

    def correspondence(self) -> CorrespondenceSettings:
        """The correspondence view's filters, as these settings store them."""
        return CorrespondenceSettings(
            top_k=self.corr_top_k,
            threshold=self.corr_threshold,
            head=None if self.corr_head < 0 else self.corr_head,
            mutual_only=self.mutual_only,
            ink_only=self.ink_only,
        )

    def with_correspondence(self, cs: CorrespondenceSettings) -> AppSettings:
        """These settings with the correspondence view's filters from ``cs``."""
        return replace(
            self,
            corr_top_k=cs.top_k or 1,
            corr_threshold=cs.threshold,
            corr_head=-1 if cs.head is None else cs.head,
            mutual_only=cs.mutual_only,
            ink_only=cs.ink_only,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["export_formats"] = list(self.export_formats)
        data["settings_version"] = SETTINGS_VERSION
        return data

    @classmethod
    def from_json(cls, data: object) -> AppSettings:
        """Build settings from parsed JSON; each bad or missing field takes its default."""
        if not isinstance(data, dict):
            log.warning("settings are not a JSON object (%s); using defaults", type(data).__name__)
            return cls()
        defaults = cls()
        version = data.get("settings_version", 1)
        old = _OLD_DEFAULTS.get(version, {}) if isinstance(version, int) else {}
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            if f.name in old and raw == old[f.name]:
                log.info(
                    "setting %s=%r was the default of settings version %s; using today's default %r",
                    f.name, raw, version, getattr(defaults, f.name),
                )  # fmt: skip
                continue
            try:
                values[f.name] = _validate(f.name, raw)
            except (TypeError, ValueError) as exc:
                log.warning(
                    "setting %s=%r ignored (%s); using %r", f.name, raw, exc, getattr(defaults, f.name)
                )
        return replace(defaults, **values)


def _validate(name: str, raw: object) -> object:
    """Check one setting value and return it in its proper type; raise ValueError/TypeError if bad."""
    ints = {
        "top_k": (1, 500),
        "rerank_depth": (0, 10000),
        "corr_top_k": (1, 1000),
        "corr_head": (-1, 64),
        "faithfulness_top": (0, 100),
    }
    floats = {"pen_width": (0.5, 64.0), "corr_threshold": (0.0, 1.0)}
    bools = {"live", "smoothing", "mutual_only", "ink_only"}
    strings = {"model", "weights", "gallery"}
    if name in ints:
        # bool is an int subclass; a JSON true must not become top_k = 1
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise TypeError("not an integer")
        lo, hi = ints[name]
        if not lo <= raw <= hi:
            raise ValueError(f"outside [{lo}, {hi}]")
        return raw
    if name in floats:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise TypeError("not a number")
        lo_f, hi_f = floats[name]
        if not lo_f <= float(raw) <= hi_f:
            raise ValueError(f"outside [{lo_f}, {hi_f}]")
        return float(raw)
    if name in bools:
        if not isinstance(raw, bool):
            raise TypeError("not true/false")
        return raw
    if name in strings:
        if not isinstance(raw, str):
            raise TypeError("not a string")
        return raw
    if name == "corr_readout":
        if raw not in CORRESPONDENCE_READOUTS:
            raise ValueError(f"not one of {CORRESPONDENCE_READOUTS}")
        return raw
    if name == "device":
        if raw not in DEVICES:
            raise ValueError(f"not one of {DEVICES}")
        return raw
    if name == "export_formats":
        if not isinstance(raw, list) or not raw or any(r not in ("png", "svg", "pdf") for r in raw):
            raise ValueError("not a non-empty list of png/svg/pdf")
        return tuple(dict.fromkeys(raw))
    raise ValueError("unknown setting")


def config_dir() -> Path:
    """The folder for settings, autosave and logs: ``$ZSE_CONFIG_DIR`` or the platform config dir."""
    env = os.environ.get("ZSE_CONFIG_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / APP_DIR_NAME


def load_settings(folder: Path | None = None) -> AppSettings:
    """Read the settings file; a missing or unreadable file gives the defaults."""
    path = (folder or config_dir()) / SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AppSettings()
    except OSError as exc:
        log.warning("cannot read %s (%s); using default settings", path, exc)
        return AppSettings()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        log.warning("%s is not valid JSON (%s); using default settings", path, exc)
        return AppSettings()
    return AppSettings.from_json(data)


def save_settings(settings: AppSettings, folder: Path | None = None) -> Path:
    """Write the settings file atomically and return its path."""
    path = (folder or config_dir()) / SETTINGS_FILE
    write_json_atomic(path, settings.to_json())
    return path


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON through a temp file + rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:  # whatever went wrong (even Ctrl+C), leave no temp file behind
        Path(tmp).unlink(missing_ok=True)
        raise
