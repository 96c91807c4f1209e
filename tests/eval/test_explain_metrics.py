"""The explanation-quality metrics on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from zse_gui.eval.explain_metrics import background_share, deletion_summary, pck, random_pck, sink_share
from zse_gui.train.geometry import patch_centres_px

CENTRES = patch_centres_px(14, 16)


def test_perfect_matcher_gets_pck_one_and_a_far_one_zero() -> None:
    assert pck(CENTRES, CENTRES, (0.05, 0.1), 224) == {0.05: 1.0, 0.1: 1.0}
    far = CENTRES + np.array([224.0, 0.0])
    assert pck(far, CENTRES, (0.05, 0.1), 224) == {0.05: 0.0, 0.1: 0.0}
    # One patch off (16 px) is within 10 % of 224 (22.4 px) but not within 5 % (11.2 px).
    off = CENTRES + np.array([16.0, 0.0])
    assert pck(off, CENTRES, (0.05, 0.1), 224) == {0.05: 0.0, 0.1: 1.0}
    with pytest.raises(ValueError):
        pck(CENTRES[:3], CENTRES[:4], (0.1,), 224)


def test_random_pck_counts_the_patches_near_each_point() -> None:
    # A point at a patch centre in the middle: at 0.1 * 224 = 22.4 px, itself and its 4 direct
    # neighbours (16 px) are in, the diagonal ones (22.6 px) are not: 5 of 196.
    mid = CENTRES[7 * 14 + 7][None]
    assert random_pck(mid, CENTRES, (0.1,), 224)[0.1] == pytest.approx(5 / 196)
    # The measured PCK of uniformly random picks converges to it.
    rng = np.random.default_rng(0)
    true = CENTRES[rng.integers(0, 196, 20000)]
    picks = CENTRES[rng.integers(0, 196, 20000)]
    assert pck(picks, true, (0.1,), 224)[0.1] == pytest.approx(
        random_pck(true, CENTRES, (0.1,), 224)[0.1], abs=0.01
    )


def test_sink_share_is_one_for_a_constant_matcher_and_small_for_an_even_spread() -> None:
    assert sink_share(np.full(50, 17)) == 1.0
    assert sink_share(np.arange(196)) == pytest.approx(5 / 196)
    assert sink_share(np.array([1, 1, 2, 3, 4, 5, 6, 7, 8, 9]), k=1) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        sink_share(np.array([], np.int64))


def test_background_share_uses_the_mask() -> None:
    fg = np.zeros(196, bool)
    fg[:98] = True
    assert background_share(np.arange(98), fg) == 0.0
    assert background_share(np.arange(196), fg) == 0.5


def test_deletion_summary_ratio() -> None:
    steps = np.linspace(0, 1, 5)
    fast = np.tile(1.0 - 0.8 * steps, (3, 1))  # falls to 0.2
    slow = np.tile(1.0 - 0.2 * steps, (3, 1))  # falls to 0.8
    s = deletion_summary({"explanation": fast, "random": slow})
    assert s["explanation"]["ratio_vs_random"] == pytest.approx(4.0)
    assert s["random"]["ratio_vs_random"] == pytest.approx(1.0)
    assert s["explanation"]["auc"] < s["random"]["auc"]
