"""The calibrated match strength: a true match stands out, a random photo does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zse_gui.engine.engine import Engine
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.strength import MIN_POOL, match_strength, result_strength, strength_z
from zse_gui.sketch import read_stroke_file

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
