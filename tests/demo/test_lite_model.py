"""The zse_lite config and encoder, without the backbone package (random backbone weights)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from zse_gui.data.splits import canonical_class
from zse_gui.model import get_config
from zse_gui.model.lite import (
    ZSE_LITE_SEEN,
    ZSE_LITE_UNSEEN,
    LiteSelfAttentionEncoder,
    pack_cached_features,
)
from zse_gui.model.network import ZseSbir


@pytest.fixture(scope="module")
def model() -> ZseSbir:
    cfg = get_config("zse_lite")
    torch.manual_seed(0)
    return ZseSbir(cfg, sa=LiteSelfAttentionEncoder(cfg, load_backbone=False)).eval()


def test_config_split_is_disjoint_and_large_enough() -> None:
    extra = dict(get_config("zse_lite").extra)
    seen = {canonical_class(c) for c in extra["seen_classes"]}
    unseen = {canonical_class(c) for c in extra["unseen_classes"]}
    assert seen.isdisjoint(unseen)
    assert len(unseen) >= 20
    assert len(seen) == len(ZSE_LITE_SEEN) and len(unseen) == len(ZSE_LITE_UNSEEN)


def test_config_geometry() -> None:
    cfg = get_config("zse_lite")
    assert (cfg.grid_size, cfg.num_patches, cfg.num_anchors) == (14, 196, 49)
    assert cfg.backbone != "vit" and cfg.mean == cfg.std == (0.5, 0.5, 0.5)


@torch.no_grad()
def test_tokens_and_ret_attention_shapes(model: ZseSbir) -> None:
    cfg = model.cfg
    out = model.forward_tokens(torch.randn(2, 3, cfg.img_size, cfg.img_size), return_attn=True)
    assert out.tokens.shape == (2, cfg.num_tokens, cfg.embed_dim)
    assert out.ret_attn is not None and out.ret_attn.shape == (2, cfg.num_heads, cfg.num_patches)
    # A softmax row restricted to the patches: non-negative, at most 1 in total.
    assert float(out.ret_attn.min()) >= 0 and float(out.ret_attn.sum(-1).max()) <= 1 + 1e-5


@torch.no_grad()
def test_attention_path_equals_plain_path(model: ZseSbir) -> None:
    x = torch.randn(1, 3, 224, 224)
    a = model.forward_tokens(x).tokens
    b = model.forward_tokens(x, return_attn=True).tokens
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_packed_cached_features_give_the_same_tokens(model: ZseSbir) -> None:
    x = torch.randn(2, 3, 224, 224)
    packed = pack_cached_features(x, model.sa.backbone(x))
    assert packed.shape == (2, 4, 224, 224)
    torch.testing.assert_close(model.forward_tokens(packed).tokens, model.forward_tokens(x).tokens)


def test_backbone_stays_frozen_and_in_eval_mode(model: ZseSbir) -> None:
    model.train()
    try:
        assert not model.sa.backbone.training
        assert not any(p.requires_grad for p in model.sa.backbone.parameters())
        assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("sa.backbone."))
    finally:
        model.eval()


def test_training_run_resumes_exactly(tmp_path: Path) -> None:
    # The backbone's BatchNorms have no num_batches_tracked buffer; resuming once failed on that.
    from zse_gui.train.config import TrainConfig
    from zse_gui.train.datasets import TensorQuadruplets
    from zse_gui.train.trainer import Trainer

    cfg = get_config("zse_lite")
    g = torch.Generator().manual_seed(0)
    data = TensorQuadruplets(*(torch.randn(2, 3, 224, 224, generator=g) for _ in range(4)))
    tc = TrainConfig(
        steps=2, batch_size=2, lr=1e-3, log_every=1, checkpoint_every=1, freeze=("sa.backbone.",)
    )

    def trainer(out: Path, steps: int) -> Trainer:
        torch.manual_seed(0)
        model = ZseSbir(cfg, sa=LiteSelfAttentionEncoder(cfg, load_backbone=False))
        return Trainer(model, data, replace(tc, steps=steps), out, progress=False)

    straight = trainer(tmp_path / "a", 2)
    straight.fit()
    first = trainer(tmp_path / "b", 1)
    first.fit()
    again = trainer(tmp_path / "b", 2)
    assert again.resume() and again.step == 1
    again.fit()
    a, b = straight.model.state_dict(), again.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
