"""The calibrated match strength: a true match stands out, a random photo does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zse_gui.engine.engine import Engine
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.strength import (
    MIN_INK_SHARE,
    MIN_POOL,
    TOO_LITTLE_INK,
    match_strength,
    result_strength,
    strength_z,
)
from zse_gui.sketch import Stroke, StrokeSketch, read_stroke_file

ROOT = Path(__file__).resolve().parents[2]


def test_strength_orders_a_true_match_above_a_random_photo(lite: Engine, lite_gallery: GalleryIndex) -> None:
    fish = read_stroke_file(ROOT / "resources" / "sketches" / "fish.json")
    res = lite.search(fish, lite_gallery, top_k=len(lite_gallery), rerank_depth=len(lite_gallery))
    fish_pos = [k for k, it in enumerate(res.items) if it.label == "fish"]
    other_pos = [k for k, it in enumerate(res.items) if it.label != "fish"]
    best_fish = max(result_strength(res, k).z for k in fish_pos)
    rng = np.random.default_rng(0)
    for k in rng.choice(other_pos, size=5, replace=False):
        assert best_fish > result_strength(res, int(k)).z
    # The raw score alone cannot tell them apart as clearly: the strength is a gap, not a sigmoid.
    assert result_strength(res, fish_pos[0]).tooltip.startswith("Stands out by")


def test_strength_is_a_robust_gap() -> None:
    others = np.array([0.0, 0.1, -0.1, 0.05, -0.05, 0.02, 8.0])  # one outlier among the others
    z = strength_z(1.0, others)
    med = np.median(others)
    assert z == pytest.approx((1.0 - med) / (1.4826 * np.median(np.abs(others - med))))
    assert match_strength(5.0, others, threshold=3.0).label == "clear match"
    assert match_strength(0.05, others, threshold=3.0).label == "no clear match"
    flat = match_strength(2.0, np.zeros(10))
    assert np.isfinite(flat.z)  # the spread floor: identical others do not divide by zero
    few = match_strength(2.0, np.zeros(MIN_POOL - 1))
    assert np.isnan(few.z) and few.label == "not enough results to compare"


def test_a_dot_gets_no_strength_however_far_its_best_photo_stands_out(
    lite: Engine, lite_gallery: GalleryIndex
) -> None:
    """A single dot is blown up to the whole model input by the ink crop: its best photo may stand
    out by chance, and the strength must not call that a clear match."""
    canvas = (512, 512)
    dot = StrokeSketch((Stroke(np.array([[250.0, 250.0], [251.0, 250.5]]), width=3.0),), canvas)
    assert dot.ink_extent == pytest.approx(4.0)
    res = lite.search(dot, lite_gallery, top_k=20, rerank_depth=20)
    share = dot.ink_share
    assert share == pytest.approx(4.0 / 512) and share < MIN_INK_SHARE
    s = result_strength(res, 0, ink_share=share)
    assert s.label == TOO_LITTLE_INK and np.isnan(s.z)
    assert "Draw more" in s.tooltip and s.pool == result_strength(res, 0).pool
    # The fish sample is a drawing: its strength is the usual one.
    fish = read_stroke_file(ROOT / "resources" / "sketches" / "fish.json")
    fshare = fish.ink_share
    assert fshare > 0.3
    res = lite.search(fish, lite_gallery, top_k=20, rerank_depth=20)
    assert result_strength(res, 0, ink_share=fshare) == result_strength(res, 0)
