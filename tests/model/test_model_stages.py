"""Shapes of every named stage, attention maps on request, caching, determinism and dropout."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from zse_gui.model import ZseSbir, create_model
from zse_gui.model.network import _block_with_attn

Images = Callable[[ZseSbir, int, int], torch.Tensor]


def _check_pair_shapes(model: ZseSbir, b: int, images: Images) -> None:
    c = model.cfg
    t, p, a = c.num_tokens, c.num_patches, c.num_anchors
    sk, ph = images(model, b, 1), images(model, b, 2)
    with torch.no_grad():
        out = model.forward_pair(sk, ph, return_attn=True)
    assert out.sketch_tokens.tokens.shape == (b, t, c.embed_dim)
    assert out.photo_tokens.tokens.shape == (b, t, c.embed_dim)
    assert out.sketch_tokens.ret.shape == (b, c.embed_dim)
    assert out.sketch_tokens.ret_attn is not None and out.photo_tokens.ret_attn is not None
    assert out.sketch_tokens.ret_attn.shape == (b, c.num_heads, p)
    assert out.cross.sketch.shape == out.cross.photo.shape == (b, t, c.embed_dim)
    assert out.cross.sketch_attn is not None and out.cross.photo_attn is not None
    assert out.cross.sketch_attn.shape == out.cross.photo_attn.shape == (b, c.ca_heads, t, t)
    assert out.relation.kernel is not None and out.relation.kernel.shape == (b, a, a)
    assert out.relation.logit.shape == out.relation.score.shape == (b, 1)
    assert model.anchors(out.cross.sketch).shape == (b, a, c.anchor_dim)
    # Attention rows are probability distributions.
    for attn in (out.cross.sketch_attn, out.cross.photo_attn, out.sketch_tokens.ret_attn):
        assert torch.all(attn >= 0)
    torch.testing.assert_close(out.cross.sketch_attn.sum(-1), torch.ones(b, c.ca_heads, t))
    assert torch.all((out.relation.score > 0) & (out.relation.score < 1))


def test_every_stage_shape_zse_test(tiny: ZseSbir, images: Images) -> None:
    _check_pair_shapes(tiny, 3, images)


def test_every_stage_shape_zse_vitb16_batch1(vitb16: ZseSbir, images: Images) -> None:
    # 224 px, 197 tokens, 12 SA heads over 196 patches, 8 CA heads, 49 anchors of 512.
    _check_pair_shapes(vitb16, 1, images)


def test_stages_compose_to_forward_pair(tiny: ZseSbir, images: Images) -> None:
    sk, ph = images(tiny, 2, 1), images(tiny, 2, 2)
    with torch.no_grad():
        whole = tiny.forward_pair(sk, ph)
        sk_t, ph_t = tiny.forward_tokens(sk), tiny.forward_tokens(ph)
        cross = tiny.forward_cross(sk_t.tokens, ph_t.tokens)
        rel = tiny.forward_relation(cross.sketch, cross.photo)
        feats, scores = tiny(sk, ph)
    # Batched SA over [sketches; photos] equals separate calls up to BLAS blocking.
    torch.testing.assert_close(whole.sketch_tokens.tokens, sk_t.tokens)
    torch.testing.assert_close(whole.cross.photo, cross.photo)
    torch.testing.assert_close(whole.relation.logit, rel.logit)
    assert whole.cross.sketch_attn is None and whole.relation.kernel is None
    # The release's training path: post-CA [Ret] of sketches then photos, and sigmoid scores.
    torch.testing.assert_close(feats, torch.cat([cross.sketch[:, 0], cross.photo[:, 0]]))
    torch.testing.assert_close(scores, torch.sigmoid(rel.logit))


def test_cached_projections_equal_uncached(tiny: ZseSbir, images: Images) -> None:
    with torch.no_grad():
        sk = tiny.forward_tokens(images(tiny, 1, 1)).tokens  # one query sketch
        gallery = tiny.forward_tokens(images(tiny, 5, 2)).tokens  # five gallery photos
        plain = tiny.forward_cross(sk.expand(5, -1, -1), gallery, return_attn=True)
        # Projections computed once per item and reused, as the re-ranker does.
        sk_proj = tiny.project_sketch(sk)
        ph_proj = tiny.project_photo(gallery)
        sk_rep = type(sk_proj)(*(x.expand(5, -1, -1, -1) for x in sk_proj))
        cached = tiny.forward_cross(sk.expand(5, -1, -1), gallery, sk_rep, ph_proj, return_attn=True)
    assert sk_proj.query.shape == (1, tiny.cfg.ca_heads, tiny.cfg.num_tokens, 32 // tiny.cfg.ca_heads)
    for x, y in zip(plain.__dict__.values(), cached.__dict__.values(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)


def test_explicit_last_block_equals_timm_block(tiny: ZseSbir) -> None:
    blk = tiny.sa.vit.blocks[-1]
    x = torch.randn(2, tiny.cfg.num_tokens, tiny.cfg.embed_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours, probs = _block_with_attn(blk, x)
        theirs = blk(x)
        # The probabilities themselves, from timm's own qkv projection.
        q, k, _ = blk.attn.qkv(blk.norm1(x)).chunk(3, dim=-1)
        h = tiny.cfg.num_heads
        q = q.unflatten(-1, (h, -1)).transpose(1, 2)
        k = k.unflatten(-1, (h, -1)).transpose(1, 2)
        expect = (q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5)).softmax(-1)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(probs, expect)


def test_ret_attention_is_cls_row_of_last_block(tiny: ZseSbir, images: Images) -> None:
    img = images(tiny, 2, 4)
    with torch.no_grad():
        with_attn = tiny.forward_tokens(img, return_attn=True)
        without = tiny.forward_tokens(img)
        vit = tiny.sa.vit
        x = vit._pos_embed(tiny.sa.tokenize(img))
        for blk in list(vit.blocks)[:-1]:
            x = blk(x)
        _, probs = _block_with_attn(vit.blocks[-1], x)
    assert without.ret_attn is None
    torch.testing.assert_close(with_attn.tokens, without.tokens, rtol=1e-5, atol=1e-5)
    assert with_attn.ret_attn is not None
    torch.testing.assert_close(with_attn.ret_attn, probs[:, :, 0, 1:])


def test_eval_mode_is_deterministic(tiny: ZseSbir, images: Images) -> None:
    sk, ph = images(tiny, 2, 1), images(tiny, 2, 2)
    assert not tiny.training
    with torch.no_grad():
        a, b = tiny.forward_pair(sk, ph, return_attn=True), tiny.forward_pair(sk, ph, return_attn=True)
    assert torch.equal(a.cross.sketch, b.cross.sketch)
    assert torch.equal(a.relation.logit, b.relation.logit)


def test_train_mode_uses_dropout_where_released(tiny: ZseSbir, images: Images) -> None:
    vit = tiny.sa.vit
    # Reference 1.3/1.4/1.5: embedding, projection and MLP dropout 0.1, none on SA attention;
    # CA dropout 0.1 on probabilities, FFN and residuals; RN dropout 0.1 after both ReLUs.
    assert vit.pos_drop.p == 0.1
    for blk in vit.blocks:
        assert blk.attn.attn_drop.p == 0.0
        assert blk.attn.proj_drop.p == blk.mlp.drop1.p == blk.mlp.drop2.p == 0.1
    ca_drops = [m.p for m in tiny.ca.modules() if isinstance(m, nn.Dropout)]
    assert ca_drops and all(p == 0.1 for p in ca_drops)
    assert [m.p for m in tiny.rn.modules() if isinstance(m, nn.Dropout)] == [0.1, 0.1]

    sk, ph = images(tiny, 2, 1), images(tiny, 2, 2)
    tiny.train()
    torch.manual_seed(0)
    with torch.no_grad():
        a, b = tiny.forward_pair(sk, ph), tiny.forward_pair(sk, ph)
        cross_a = tiny.forward_cross(a.sketch_tokens.tokens, a.photo_tokens.tokens)
        cross_b = tiny.forward_cross(a.sketch_tokens.tokens, a.photo_tokens.tokens)
    assert not torch.equal(a.sketch_tokens.tokens, b.sketch_tokens.tokens)
    assert not torch.equal(cross_a.sketch, cross_b.sketch)


def test_seeded_models_are_reproducible_and_leave_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = create_model("zse_test", seed=7)
    after = torch.rand(1)
    b = create_model("zse_test", seed=7)
    c = create_model("zse_test", seed=8)
    assert torch.equal(before, after)
    assert a.weights_info is not None and b.weights_info is not None and c.weights_info is not None
    assert a.weights_info.sha256 == b.weights_info.sha256 != c.weights_info.sha256
    assert a.weights_info.source == "random-init"


def test_create_model_sets_eval_and_device(tiny: ZseSbir) -> None:
    assert not tiny.training
    assert {p.device.type for p in tiny.parameters()} == {"cpu"}


@pytest.mark.parametrize("bad", [16, 18])  # [Ret] + 15 or 17 patches, not 16
def test_anchor_reshape_needs_a_full_grid(tiny: ZseSbir, bad: int) -> None:
    with pytest.raises(ValueError, match="grid"):
        tiny.anchors(torch.zeros(1, bad, tiny.cfg.embed_dim))


def test_norm_eps_as_released(vitb16: ZseSbir) -> None:
    # eps 1e-5 vs timm's 1e-6 changes tokens by ~1e-6 relative, below what a tolerance test sees.
    sa_norms = [m for m in vitb16.sa.modules() if isinstance(m, nn.LayerNorm)]
    assert len(sa_norms) == 2 * 12 + 1 and all(m.eps == 1e-5 for m in sa_norms)
    ca_norms = [m for m in vitb16.ca.modules() if hasattr(m, "a") and hasattr(m, "b")]
    assert len(ca_norms) == 3 * 2 and all(m.eps == 1e-6 for m in ca_norms)


@pytest.mark.parametrize("shape", [(1, 3, 16, 16), (1, 1, 32, 32), (3, 32, 32)])
def test_wrong_image_size_is_a_clear_error(tiny: ZseSbir, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"expected images \[B, 3, 32, 32\]"):
        tiny.forward_tokens(torch.zeros(shape))


@pytest.mark.parametrize("null_key", [False, True])
def test_cross_attention_of_all_pairs_equals_the_explicit_pairs(null_key: bool) -> None:
    from zse_gui.model.config import get_config

    torch.manual_seed(0)
    cfg = get_config("zse_test").with_overrides(ca_null_key=True) if null_key else get_config("zse_test")
    model = ZseSbir(cfg).eval()
    if null_key:  # a visible null key, so that the test would see it ignored
        with torch.no_grad():
            for layer in (model.cross.sketch_layer, model.cross.photo_layer):
                layer.null_key.normal_(0.0, 1.0)  # type: ignore[union-attr]
    g = torch.Generator().manual_seed(1)
    sk_img, ph_img = torch.rand(3, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
    with torch.inference_mode():
        sk, ph = model.forward_tokens(sk_img).tokens, model.forward_tokens(ph_img).tokens
        sp, pp = model.project_sketch(sk), model.project_photo(ph)
        got = model.forward_cross_all(sk, ph, sp, pp)  # 3 x 4 pairs, sketch-major
        i = torch.arange(3).repeat_interleave(4)
        j = torch.arange(4).repeat(3)
        want = model.forward_cross(sk[i], ph[j])
        rel_got = model.forward_relation(got.sketch, got.photo).logit
        rel_want = model.forward_relation(want.sketch, want.photo).logit
    assert got.sketch.shape == want.sketch.shape == (12, *sk.shape[1:])
    torch.testing.assert_close(got.sketch, want.sketch, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.photo, want.photo, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rel_got, rel_want, atol=1e-5, rtol=1e-5)
