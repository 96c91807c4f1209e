"""The inference engine: typed API over the model (no Qt).

``zse_gui.engine.types`` holds the numpy-only result dataclasses and imports no torch, so
renderers can use them without loading the model stack. The names below are re-exported
lazily (module ``__getattr__``) for the same reason: ``import zse_gui.engine.types`` must not
pull in torch through this package's ``__init__``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Engine": "zse_gui.engine.engine",
    "SketchQuery": "zse_gui.engine.engine",
    "GalleryIndex": "zse_gui.engine.gallery",
    "build_index": "zse_gui.engine.gallery",
    "prepare_sketch": "zse_gui.engine.preprocess",
    "prepare_photo": "zse_gui.engine.preprocess",
    "resolve_device": "zse_gui.engine.device",
    "resolve_precision": "zse_gui.engine.device",
    "cosine_scores": "zse_gui.engine.retrieval",
    "cosine_topk": "zse_gui.engine.retrieval",
    "default_cache_root": "zse_gui.engine.cache",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
