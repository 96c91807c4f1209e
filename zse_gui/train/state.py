"""The resumable training checkpoint (``last.pt``): model, optimizer, scaler, RNG and counters.

Written atomically (temporary file + ``os.replace``), so a crash while saving leaves the previous
checkpoint intact: a run loses at most the steps since the last interval. Read back with
``torch.load(weights_only=True)``: it holds only tensors, numbers, strings, lists and dicts.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from zse_gui.errors import WeightsError
from zse_gui.model.checkpoint import plain_file_mode

__all__ = ["STATE_FORMAT", "save_train_state", "load_train_state"]

log = logging.getLogger(__name__)

STATE_FORMAT = "zse_gui-train-state/1"


def save_train_state(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format tag) to ``path`` atomically; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
    plain_file_mode(fd)
    os.close(fd)
    try:
        torch.save({"format": STATE_FORMAT, **state}, tmp)
        os.replace(tmp, p)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return p


def load_train_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training checkpoint written by ``save_train_state``.

    Raises:
        WeightsError: missing, truncated or foreign file.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(p, "no training checkpoint here", "start without --resume, or point at last.pt")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        raise WeightsError(
            p, f"unreadable training checkpoint: {str(e).splitlines()[0]}", "it may be truncated"
        ) from e
    if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT:
        raise WeightsError(p, "not a zse-train checkpoint", "resume from the last.pt a zse-train run wrote")
    return obj
