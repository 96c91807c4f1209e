"""Why A and not B, per sketch patch: both results scored with each inked patch of the sketch masked.

The sketch is preprocessed once (ink crop, resize, pad, as for the search); then for each window of
``window x window`` patches that holds ink, a copy of that model-input image has the window painted
white (the paper's colour, "nothing drawn there"). The whole sketch and the V masked copies go
through the self-attention encoder in batches (like the stroke variants), and each is scored by the
cross-attention + relation network against both photos' cached tokens and projections (the photo
side is computed once). A patch's contribution to a result is the relation logit the result loses
when the patch is masked; the contrast is A's contribution minus B's.

Masking in model pixels keeps the patch grid fixed, so each number belongs to one cell of the
picture shown. Windows without ink are not scored: white on white changes nothing, by construction.

Cost on ``zse_lite``: one SA encode per inked window (about a third of the 196 cells for a typical
doodle), plus two CA + RN passes batched over them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from zse_gui.engine.engine import Engine, SketchInput, SketchQuery
from zse_gui.engine.explain import MASK_FILL, patch_ink
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.preprocess import normalize, prepare_sketch
from zse_gui.engine.strokes import check_contrast_pair, encode_prepared, pair_logits
from zse_gui.errors import ConfigError
from zse_gui.results import PreparedImage
from zse_gui.stroke_results import PatchContrast

__all__ = ["contrast_patches", "masked_sketches"]

log = logging.getLogger(__name__)


def masked_sketches(
    prepared: PreparedImage, grid: int, patch: int, window: int, mean_std: Callable[[np.ndarray], np.ndarray]
) -> tuple[list[tuple[int, int]], list[PreparedImage], np.ndarray]:
    """The inked windows (top-left cell (r, c)), one masked copy of the sketch each, and the [g, g] ink.

    ``mean_std`` normalises a [S, S, 3] uint8 image to the model's [3, S, S] float32 input.
    """
    ink = patch_ink(prepared.display, grid, patch).reshape(grid, grid)
    w = int(window)
    boxes = [(r, c) for r in range(0, grid, w) for c in range(0, grid, w) if ink[r : r + w, c : c + w].any()]
    variants = []
    for r, c in boxes:
        img = prepared.display.copy()
        img[r * patch : (r + w) * patch, c * patch : (c + w) * patch] = MASK_FILL
        variants.append(PreparedImage(mean_std(img), img, prepared.frame, prepared.source))
    return boxes, variants, ink


def contrast_patches(
    engine: Engine,
    sketch: SketchInput | SketchQuery,
    gallery: GalleryIndex,
    index_a: int,
    index_b: int,
    window: int = 1,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PatchContrast:
    """Relation logits of gallery items A and B with each inked sketch window masked.

    Args:
        engine: the engine the gallery was indexed with.
        sketch: strokes, a sketch image or path, or an encoded ``SketchQuery`` (its preprocessed
            image is used).
        gallery, index_a, index_b: the two results; the photos' tokens come from the gallery (as in
            the ranking), so the base logits are the re-ranking's up to batching round-off.
        window: window side in patches, 1 .. g (1 = every patch; larger is cheaper and coarser).
        cancel: polled between batches; raises ``CancelledError``.
        progress: ``progress(done, total)`` over sketch encodes and the two photo passes.

    Raises:
        GalleryError: an index outside the gallery, or A == B. ConfigError: ``window`` out of range.
        InvalidSketchError: no ink. CancelledError.
    """
    cfg = engine.config
    g, ps = cfg.grid_size, cfg.patch_size
    a, b = check_contrast_pair(gallery, index_a, index_b)
    if not 1 <= int(window) <= g:
        raise ConfigError(f"contrast window must be 1 .. {g} patches, got {window}")
    prepared = sketch.prepared if isinstance(sketch, SketchQuery) else prepare_sketch(sketch, cfg)
    boxes, variants, ink = masked_sketches(prepared, g, ps, int(window), lambda img: normalize(img, cfg))
    n = 1 + len(variants)
    total = n + 2

    def enc_progress(done: int, _: int) -> None:
        if progress is not None:
            progress(done, total)

    def rn_progress(done: int, _: int) -> None:
        if progress is not None:
            progress(n + done, total)

    with torch.inference_mode():
        ph_tokens, ph_proj = engine.photo_side(gallery, [a, b])
        sk_tokens, sk_proj = encode_prepared(engine, [prepared, *variants], cancel, enc_progress)
        logits = pair_logits(engine, sk_tokens, sk_proj, ph_tokens, ph_proj, cancel, rn_progress)  # [n, 2]
    w = int(window)
    masked = np.full((2, g, g), np.nan, np.float32)
    for k, (r, c) in enumerate(boxes):
        masked[:, r : r + w, c : c + w] = logits[1 + k, :, None, None]
    log.debug("patch contrast of %d / %d: %d inked windows of %d", a, b, len(boxes), w)
    return PatchContrast(
        grid=g,
        window=w,
        index_a=a,
        index_b=b,
        path_a=gallery.paths[a],
        path_b=gallery.paths[b],
        base_logit_a=float(logits[0, 0]),
        base_logit_b=float(logits[0, 1]),
        masked_logit_a=masked[0],
        masked_logit_b=masked[1],
        ink=ink,
        sketch_image=prepared.display,
    )
