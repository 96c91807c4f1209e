"""Photo occlusion map: each window's drop is the score change of that masked photo, searched directly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from zse_gui.engine.engine import Engine
from zse_gui.engine.explain import MASK_FILL
from zse_gui.engine.occlusion import DELETION_STEPS, occlusion_map
from zse_gui.engine.preprocess import prepare_photo
from zse_gui.errors import ConfigError, GalleryError
from zse_gui.sketch import StrokeSketch


def test_window_drops_equal_direct_scores_of_the_masked_photo(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    occ = occlusion_map(engine, sketch, gallery, 1, window=2)
    g, ps = engine.config.grid_size, engine.config.patch_size
    assert occ.drop.shape == (g, g) and len(occ.deletion_scores) == DELETION_STEPS + 1
    photo = prepare_photo(gallery.paths[1], engine.config).display
    assert occ.base_score == pytest.approx(engine.explain(sketch, photo=photo).relation_score, abs=1e-5)
    for r, c in ((0, 0), (2, 2)):
        img = photo.copy()
        img[r * ps : (r + 2) * ps, c * ps : (c + 2) * ps] = MASK_FILL
        direct = engine.explain(sketch, photo=img).relation_score
        assert occ.drop[r, c] == pytest.approx(occ.base_score - direct, abs=1e-5)
        assert occ.drop[r + 1, c + 1] == occ.drop[r, c]  # one value per window
    # Everything masked: the last point of the deletion curve is the all-white photo's score.
    white = np.full_like(photo, MASK_FILL)
    assert occ.deletion_scores[-1] == pytest.approx(
        engine.explain(sketch, photo=white).relation_score, abs=1e-5
    )
    assert occ.deletion_scores[0] == pytest.approx(occ.base_score)


def test_occlusion_refuses_bad_windows_and_missing_photos(engine: Engine, sketch: StrokeSketch) -> None:
    with pytest.raises(ConfigError):
        occlusion_map(engine, sketch, photo=np.zeros((20, 20, 3), np.uint8), window=0)
    with pytest.raises(GalleryError):
        occlusion_map(engine, sketch)
