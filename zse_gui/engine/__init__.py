"""The inference engine: typed API over the model (torch inside, numpy outside; no Qt).

The result types it returns live in ``zse_gui.results`` and the sketch types it takes in
``zse_gui.sketch``, both torch-free, so renderers and views use them without loading the model.
"""

from zse_gui.engine.cache import default_cache_root
from zse_gui.engine.device import resolve_device, resolve_precision
from zse_gui.engine.engine import Engine, SketchQuery
from zse_gui.engine.gallery import GalleryIndex, build_index
from zse_gui.engine.preprocess import prepare_photo, prepare_sketch
from zse_gui.engine.retrieval import cosine_scores, cosine_topk

__all__ = [
    "Engine",
    "GalleryIndex",
    "SketchQuery",
    "build_index",
    "cosine_scores",
    "cosine_topk",
    "default_cache_root",
    "prepare_photo",
    "prepare_sketch",
    "resolve_device",
    "resolve_precision",
]
