"""The released sampler (with the off-by-one fixed), pre-extracted tensors and the shuffled stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zse_gui.data import Sample, SbirData, read_class_folders
from zse_gui.data.synthetic import make_toy_dataset
from zse_gui.errors import DatasetError
from zse_gui.model import get_config
from zse_gui.train.datasets import SampledQuadruplets, ShuffledStream, TensorQuadruplets, is_stream

CFG = get_config("zse_test")


def _labels_only(n_cls: int = 4, per: int = 3) -> SbirData:
    sk = tuple(Sample(c, Path(f"s{c}_{i}.png")) for c in range(n_cls) for i in range(per))
    ph = tuple(Sample(c, Path(f"p{c}_{i}.png")) for c in range(n_cls) for i in range(per + 1))
    return SbirData(tuple(f"c{i}" for i in range(n_cls)), sk, ph, "labels")


def test_draws_follow_the_recipe_and_reach_every_file() -> None:
    data = _labels_only()
    ds = SampledQuadruplets(data, CFG, seed=7)
    seen_sk, seen_ph = set(), set()
    for g in range(600):
        sk, ph, skn, phn = ds.draw(g)
        c0 = data.sketches[sk].label
        assert data.photos[ph].label == c0  # positive photo: same class
        assert data.sketches[skn].label == c0  # second sketch: same class as the anchor
        assert data.photos[phn].label != c0  # negative photo: another class
        seen_sk.update((sk, skn))
        seen_ph.update((ph, phn))
    # The release's randint(1, n) never drew file 0 of a class; every file must be reachable here.
    assert seen_sk == set(range(len(data.sketches)))
    assert seen_ph == set(range(len(data.photos)))


def test_draws_are_deterministic_per_seed_and_index() -> None:
    data = _labels_only()
    a, b, c = (
        SampledQuadruplets(data, CFG, seed=1),
        SampledQuadruplets(data, CFG, seed=1),
        SampledQuadruplets(data, CFG, seed=2),
    )
    assert [a.draw(g) for g in range(50)] == [b.draw(g) for g in range(50)]
    assert [a.draw(g) for g in range(50)] != [c.draw(g) for g in range(50)]
    assert is_stream(a) and len(a) == 10_000


def test_items_are_preprocessed_tensors_and_flip_is_opt_in(tmp_path: Path) -> None:
    sk, ph = make_toy_dataset(
        tmp_path, classes=("circle", "triangle"), sketches_per_class=2, photos_per_class=2, size=40
    )
    data = read_class_folders(sk, ph)
    plain = SampledQuadruplets(data, CFG, seed=0)
    items = plain[3]
    assert len(items) == 4
    for t in items:
        assert t.shape == (3, CFG.img_size, CFG.img_size) and t.dtype == torch.float32
        assert float(t.min()) >= -1.0 - 1e-6 and float(t.max()) <= 1.0 + 1e-6  # mean = std = 0.5
    flipped = SampledQuadruplets(data, CFG, seed=0, hflip_prob=1.0)[3]
    for a, b in zip(items, flipped, strict=True):
        torch.testing.assert_close(b, a.flip(-1))


def test_needs_two_classes_with_sketches_and_photos() -> None:
    sk = (Sample(0, Path("a.png")), Sample(1, Path("b.png")))
    data = SbirData(("a", "b"), sk, (Sample(0, Path("p.png")),), "one-sided")
    with pytest.raises(DatasetError, match="training needs at least two"):
        SampledQuadruplets(data, CFG)


def test_tensor_quadruplets_and_shuffled_stream() -> None:
    t = [torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).expand(5, 3, 2, 2) + k for k in range(4)]
    ds = TensorQuadruplets(*t)
    assert len(ds) == 5 and float(ds[2][1][0, 0, 0]) == 3.0
    stream = ShuffledStream(ds, seed=4)
    firsts = [int(stream[g][0][0, 0, 0]) for g in range(15)]
    for e in range(3):
        assert sorted(firsts[5 * e : 5 * e + 5]) == [0, 1, 2, 3, 4]  # each epoch a permutation
    again = ShuffledStream(ds, seed=4)
    assert [int(again[g][0][0, 0, 0]) for g in (14, 3, 7)] == [firsts[14], firsts[3], firsts[7]]
    assert not np.array_equal(firsts[:5], firsts[5:10]) or not np.array_equal(firsts[5:10], firsts[10:])
    with pytest.raises(DatasetError, match="share one non-empty"):
        TensorQuadruplets(t[0], t[1], t[2], t[3][:4])
