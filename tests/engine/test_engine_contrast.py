"""Why A and not B per sketch patch: checked against scoring each masked sketch directly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from zse_gui.engine.contrast import contrast_patches
from zse_gui.engine.engine import Engine
from zse_gui.engine.explain import MASK_FILL
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.preprocess import normalize, prepare_sketch
from zse_gui.errors import ConfigError, GalleryError, InvalidSketchError
from zse_gui.sketch import StrokeSketch


def direct_logit(engine: Engine, display: np.ndarray, gallery: GalleryIndex, index: int) -> float:
    """One sketch image, one photo, no batching and no cached projections: the model's own answer."""
    m = engine.model
    with torch.inference_mode():
        x = torch.from_numpy(normalize(display, engine.config)[None]).to(engine.device, engine.dtype)
        sk = m.forward_tokens(x).tokens
        ph, _ = engine.photo_side(gallery, [index])
        cross = m.forward_cross(sk, ph)
        logit, _ = engine.relation(cross.sketch, cross.photo)
    return float(logit[0])


@pytest.mark.parametrize("window", [1, 2])
def test_patch_contrast_equals_direct_scores_of_the_masked_sketches(
    engine: Engine,
    make_gallery: Callable[..., Path],
    cache_root: Path,
    sketch: StrokeSketch,
    window: int,
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    con = contrast_patches(engine, sketch, gallery, 2, 7, window=window)
    cfg = engine.config
    g, ps = cfg.grid_size, cfg.patch_size
    display = prepare_sketch(sketch, cfg).display
    np.testing.assert_array_equal(con.sketch_image, display)
    for i, base in ((2, con.base_logit_a), (7, con.base_logit_b)):
        np.testing.assert_allclose(base, direct_logit(engine, display, gallery, i), atol=1e-4)
    scored = 0
    for r in range(0, g, window):
        for c in range(0, g, window):
            cells = (slice(r, r + window), slice(c, c + window))
            if not con.ink[cells].any():
                assert np.isnan(con.masked_logit_a[cells]).all() and np.isnan(con.difference[cells]).all()
                continue
            img = display.copy()
            img[r * ps : (r + window) * ps, c * ps : (c + window) * ps] = MASK_FILL
            a = direct_logit(engine, img, gallery, 2)
            b = direct_logit(engine, img, gallery, 7)
            np.testing.assert_allclose(con.masked_logit_a[cells], a, atol=1e-4)
            np.testing.assert_allclose(con.masked_logit_b[cells], b, atol=1e-4)
            want = (con.base_logit_a - a) - (con.base_logit_b - b)
            np.testing.assert_allclose(con.difference[cells], want, atol=2e-4)
            scored += 1
    assert scored == con.windows > 0


def test_swapping_a_and_b_swaps_the_sign(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    ab = contrast_patches(engine, sketch, gallery, 1, 9)
    ba = contrast_patches(engine, sketch, gallery, 9, 1)
    inked = np.isfinite(ab.difference)
    assert inked.any()
    np.testing.assert_array_equal(inked, np.isfinite(ba.difference))
    np.testing.assert_allclose(ab.difference[inked], -ba.difference[inked], atol=1e-5)
    assert (ab.path_a, ab.path_b) == (ba.path_b, ba.path_a)


def test_encoded_query_gives_the_same_contrast_and_progress_reaches_the_end(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    seen: list[tuple[int, int]] = []
    plain = contrast_patches(engine, sketch, gallery, 0, 5, progress=lambda d, t: seen.append((d, t)))
    encoded = contrast_patches(engine, engine.encode_sketch(sketch), gallery, 0, 5)
    np.testing.assert_array_equal(plain.masked_logit_a, encoded.masked_logit_a)
    total = plain.windows + 3
    assert seen[-1] == (total, total) and all(t == total for _, t in seen)


def test_bad_contrast_requests_are_typed(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    with pytest.raises(GalleryError):
        contrast_patches(engine, sketch, gallery, 3, 3)
    with pytest.raises(GalleryError):
        contrast_patches(engine, sketch, gallery, 0, len(gallery))
    with pytest.raises(ConfigError):
        contrast_patches(engine, sketch, gallery, 0, 1, window=engine.config.grid_size + 1)
    with pytest.raises(InvalidSketchError):
        contrast_patches(engine, StrokeSketch((), (100, 100)), gallery, 0, 1)
