"""Photo-side occlusion: which parts of the photo the relation score needs.

Each window of ``window x window`` patches (non-overlapping, stepping by the window) is painted
white in the model-input photo (white = "nothing there", as in the faithfulness test) and the whole
photo is encoded again; the drop of the relation score is that window's importance. The deletion
curve then masks the most important windows together, 0 %, 10 %, ..., 100 % of them, and its
area (the mean of a trapezoid over x in [0, 1]) says how fast the score falls when the map's
choice is removed: lower = the map found what the score depends on.

The sketch side is encoded once; masked photos are scored by ``Engine.photo_scores`` in batches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from zse_gui.engine.engine import Engine, SketchInput, SketchQuery
from zse_gui.engine.explain import MASK_FILL
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.preprocess import prepare_photo
from zse_gui.errors import ConfigError, GalleryError
from zse_gui.stroke_results import OcclusionMap

__all__ = ["DELETION_STEPS", "occlusion_map"]

DELETION_STEPS = 10  # the deletion curve has DELETION_STEPS + 1 points


def occlusion_map(
    engine: Engine,
    query: SketchInput | SketchQuery,
    gallery: GalleryIndex | None = None,
    index: int | None = None,
    photo: np.ndarray | str | Path | None = None,
    window: int = 2,
    cancel: Callable[[], bool] | None = None,
) -> OcclusionMap:
    """The relation-score drop when each photo window is masked, and the deletion curve.

    Args:
        query: the sketch (or its ``SketchQuery``).
        gallery, index: the photo to test (or pass ``photo``: an array or a path).
        window: window side in patches (1 = every patch; the grid must split evenly or the last
            window is smaller). Cost: ``ceil(g / window)**2 + DELETION_STEPS + 1`` photo encodes.

    Raises:
        ConfigError: ``window`` outside 1 .. g. GalleryError: no photo given. CancelledError.
    """
    cfg = engine.config
    g, ps = cfg.grid_size, cfg.patch_size
    if not 1 <= int(window) <= g:
        raise ConfigError(f"occlusion window must be 1 .. {g} patches, got {window}")
    if index is not None:
        if gallery is None or not 0 <= int(index) < len(gallery):
            raise GalleryError(f"gallery index {index} is not in the gallery")
        source: np.ndarray | str | Path = gallery.paths[int(index)]
    elif photo is not None:
        source = photo
    else:
        raise GalleryError("an occlusion map needs a gallery index or a photo")
    q = engine.encode_sketch(query, cancel)
    ph = prepare_photo(source, cfg)
    base = float(engine.photo_scores(q, ph.display[None], cancel)[0])
    w = int(window)
    starts = list(range(0, g, w))
    boxes = [(r, c) for r in starts for c in starts]

    def masked(sel: list[tuple[int, int]]) -> np.ndarray:
        img = ph.display.copy()
        for r, c in sel:
            img[r * ps : (r + w) * ps, c * ps : (c + w) * ps] = MASK_FILL
        return img

    one = engine.photo_scores(q, np.stack([masked([b]) for b in boxes]), cancel)
    drop_w = base - one  # [n windows]
    drop = np.zeros((g, g), np.float32)
    for (r, c), d in zip(boxes, drop_w, strict=True):
        drop[r : r + w, c : c + w] = d
    order = np.lexsort((np.arange(len(boxes)), -drop_w.astype(np.float64)))
    counts = [round(len(boxes) * k / DELETION_STEPS) for k in range(DELETION_STEPS + 1)]
    curve_imgs = np.stack([masked([boxes[i] for i in order[:n]]) for n in counts[1:]])
    curve = np.concatenate([[base], engine.photo_scores(q, curve_imgs, cancel)]).astype(np.float32)
    auc = float(((curve[1:] + curve[:-1]) / 2).mean())
    return OcclusionMap(
        grid=g,
        window=w,
        drop=drop,
        base_score=base,
        deletion_scores=curve,
        deletion_auc=auc,
        photo_image=ph.display,
    )
