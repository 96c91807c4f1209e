"""The released objective: 2 x triplet on post-CA [Ret] tokens + 4 x MSE of relation scores."""

from __future__ import annotations

import pytest
import torch

from zse_gui.errors import ConfigError
from zse_gui.train.config import TrainConfig
from zse_gui.train.losses import zse_loss


def test_loss_matches_a_hand_computation() -> None:
    g = torch.Generator().manual_seed(0)
    b, c = 3, 5
    feats = torch.randn(4 * b, c, generator=g)
    scores = torch.rand(2 * b, 1, generator=g)
    out = zse_loss(feats, scores, TrainConfig())
    anchor, pos, neg = feats[:b], feats[2 * b : 3 * b], feats[3 * b :]
    d_pos = (anchor - pos).pow(2).sum(1).sqrt()
    d_neg = (anchor - neg).pow(2).sum(1).sqrt()
    tri = torch.clamp(d_pos - d_neg + 1.0, min=0).mean()
    target = torch.tensor([0.99] * b + [0.01] * b).view(-1, 1)
    rel = ((scores - target) ** 2).mean()
    # torch's pairwise distance adds eps = 1e-6 inside the norm, hence the tolerance.
    assert float(out.triplet) == pytest.approx(float(tri), abs=1e-4)
    assert float(out.relation) == pytest.approx(float(rel), abs=1e-6)
    assert float(out.total) == pytest.approx(2 * float(out.triplet) + 4 * float(out.relation), abs=1e-6)


def test_weights_margin_and_targets_are_settable() -> None:
    feats = torch.zeros(8, 4)
    feats[4:6] = 1.0  # positives far from the anchors, negatives equal to them
    scores = torch.full((4, 1), 0.5)
    cfg = TrainConfig(triplet_weight=1.0, relation_weight=0.0, triplet_margin=0.5)
    out = zse_loss(feats, scores, cfg)
    assert float(out.triplet) == pytest.approx(2.0 + 0.5, abs=1e-4)  # d_pos = 2, d_neg = 0
    assert float(out.total) == pytest.approx(float(out.triplet))
    cfg = TrainConfig(pos_target=1.0, neg_target=0.0)
    assert float(zse_loss(feats, scores, cfg).relation) == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"expected features \[4B, C\]"):
        zse_loss(torch.zeros(6, 4), torch.zeros(3, 1), cfg)


def test_optional_pre_ca_ret_triplet_term() -> None:
    g = torch.Generator().manual_seed(1)
    b, c = 3, 6
    feats, ret = torch.randn(4 * b, c, generator=g), torch.randn(4 * b, c, generator=g) * 5
    scores = torch.rand(2 * b, 1, generator=g)
    base = zse_loss(feats, scores, TrainConfig())
    assert base.ret_triplet is None  # off by default, as released
    assert float(zse_loss(feats, scores, TrainConfig(), ret).total) == float(base.total)
    cfg = TrainConfig(ret_triplet_weight=0.5, ret_triplet_margin=0.25)
    out = zse_loss(feats, scores, cfg, ret)
    r = ret / ret.norm(dim=1, keepdim=True)  # on unit vectors: the scale of ret does not matter
    d_pos = (r[:b] - r[2 * b : 3 * b]).norm(dim=1)
    d_neg = (r[:b] - r[3 * b :]).norm(dim=1)
    expected = torch.clamp(d_pos - d_neg + 0.25, min=0).mean()
    assert out.ret_triplet is not None and float(out.ret_triplet) == pytest.approx(float(expected), abs=1e-4)
    assert float(out.total) == pytest.approx(float(base.total) + 0.5 * float(expected), abs=1e-4)
    with pytest.raises(ValueError, match="pre-CA"):
        zse_loss(feats, scores, cfg)
    with pytest.raises(ConfigError, match="ret_triplet_weight must be >= 0.*ret_triplet_margin must be > 0"):
        TrainConfig(ret_triplet_weight=-1, ret_triplet_margin=0)


def test_config_validation_and_round_trip() -> None:
    cfg = TrainConfig(freeze=("sa.",), steps=5)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="lr must be > 0.*amp must be one of"):
        TrainConfig(lr=0, amp="fp8")
    with pytest.raises(ConfigError, match="unknown keys"):
        TrainConfig.from_dict({"learning_rate": 1})
