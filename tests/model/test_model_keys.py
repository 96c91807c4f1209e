"""The official key layout: reference section 2.1 written out as an independent expectation."""

from __future__ import annotations

import math
import re

import torch

from zse_gui.model import ZseSbir, create_model
from zse_gui.model.checkpoint import native_to_official, official_to_native

# Reference 2.1, all 210 keys of the released ``Model.state_dict()`` with their shapes, written out
# by hand from the table (not from our code). ``ca.encoder.layers.0`` is the unused third CA copy.
OFFICIAL_KEYS: dict[str, tuple[int, ...]] = {
    "sa.model.pos_embedding": (1, 197, 768),
    "sa.model.cls": (1, 1, 768),
    "sa.model.embedding.weight": (768, 3, 16, 16),
    "sa.model.embedding.bias": (768,),
    "sa.model.scale.seq.0.weight": (64, 3, 7, 7),
    "sa.model.scale.seq.2.weight": (128, 64, 3, 3),
    "sa.model.scale.seq.4.weight": (256, 128, 3, 3),
    "sa.model.scale.seq.6.weight": (768, 256, 3, 3),
    "sa.model.transformer.layers.0.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.0.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.0.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.0.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.0.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.0.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.0.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.0.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.0.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.0.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.0.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.0.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.1.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.1.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.1.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.1.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.1.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.1.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.1.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.1.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.1.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.1.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.1.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.1.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.2.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.2.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.2.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.2.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.2.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.2.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.2.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.2.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.2.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.2.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.2.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.2.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.3.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.3.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.3.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.3.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.3.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.3.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.3.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.3.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.3.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.3.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.3.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.3.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.4.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.4.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.4.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.4.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.4.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.4.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.4.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.4.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.4.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.4.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.4.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.4.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.5.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.5.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.5.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.5.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.5.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.5.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.5.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.5.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.5.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.5.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.5.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.5.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.6.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.6.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.6.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.6.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.6.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.6.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.6.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.6.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.6.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.6.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.6.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.6.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.7.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.7.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.7.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.7.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.7.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.7.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.7.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.7.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.7.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.7.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.7.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.7.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.8.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.8.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.8.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.8.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.8.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.8.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.8.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.8.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.8.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.8.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.8.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.8.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.9.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.9.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.9.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.9.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.9.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.9.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.9.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.9.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.9.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.9.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.9.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.9.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.10.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.10.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.10.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.10.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.10.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.10.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.10.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.10.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.10.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.10.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.10.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.10.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.layers.11.0.layer_norm_input.weight": (768,),
    "sa.model.transformer.layers.11.0.layer_norm_input.bias": (768,),
    "sa.model.transformer.layers.11.0.attention.to_qkv.weight": (2304, 768),
    "sa.model.transformer.layers.11.0.attention.to_qkv.bias": (2304,),
    "sa.model.transformer.layers.11.0.attention.to_out.0.weight": (768, 768),
    "sa.model.transformer.layers.11.0.attention.to_out.0.bias": (768,),
    "sa.model.transformer.layers.11.0.layer_norm_out.weight": (768,),
    "sa.model.transformer.layers.11.0.layer_norm_out.bias": (768,),
    "sa.model.transformer.layers.11.0.mlp.net.0.weight": (3072, 768),
    "sa.model.transformer.layers.11.0.mlp.net.0.bias": (3072,),
    "sa.model.transformer.layers.11.0.mlp.net.3.weight": (768, 3072),
    "sa.model.transformer.layers.11.0.mlp.net.3.bias": (768,),
    "sa.model.transformer.encoder_norm.weight": (768,),
    "sa.model.transformer.encoder_norm.bias": (768,),
    "ca.encoder.layers.0.self_attn.linears.0.weight": (768, 768),
    "ca.encoder.layers.0.self_attn.linears.0.bias": (768,),
    "ca.encoder.layers.0.self_attn.linears.1.weight": (768, 768),
    "ca.encoder.layers.0.self_attn.linears.1.bias": (768,),
    "ca.encoder.layers.0.self_attn.linears.2.weight": (768, 768),
    "ca.encoder.layers.0.self_attn.linears.2.bias": (768,),
    "ca.encoder.layers.0.self_attn.linears.3.weight": (768, 768),
    "ca.encoder.layers.0.self_attn.linears.3.bias": (768,),
    "ca.encoder.layers.0.feed_forward.w_1.weight": (1024, 768),
    "ca.encoder.layers.0.feed_forward.w_1.bias": (1024,),
    "ca.encoder.layers.0.feed_forward.w_2.weight": (768, 1024),
    "ca.encoder.layers.0.feed_forward.w_2.bias": (768,),
    "ca.encoder.layers.0.sublayer.0.norm.a": (768,),
    "ca.encoder.layers.0.sublayer.0.norm.b": (768,),
    "ca.encoder.layers.0.sublayer.1.norm.a": (768,),
    "ca.encoder.layers.0.sublayer.1.norm.b": (768,),
    "ca.encoder.layer1.0.self_attn.linears.0.weight": (768, 768),
    "ca.encoder.layer1.0.self_attn.linears.0.bias": (768,),
    "ca.encoder.layer1.0.self_attn.linears.1.weight": (768, 768),
    "ca.encoder.layer1.0.self_attn.linears.1.bias": (768,),
    "ca.encoder.layer1.0.self_attn.linears.2.weight": (768, 768),
    "ca.encoder.layer1.0.self_attn.linears.2.bias": (768,),
    "ca.encoder.layer1.0.self_attn.linears.3.weight": (768, 768),
    "ca.encoder.layer1.0.self_attn.linears.3.bias": (768,),
    "ca.encoder.layer1.0.feed_forward.w_1.weight": (1024, 768),
    "ca.encoder.layer1.0.feed_forward.w_1.bias": (1024,),
    "ca.encoder.layer1.0.feed_forward.w_2.weight": (768, 1024),
    "ca.encoder.layer1.0.feed_forward.w_2.bias": (768,),
    "ca.encoder.layer1.0.sublayer.0.norm.a": (768,),
    "ca.encoder.layer1.0.sublayer.0.norm.b": (768,),
    "ca.encoder.layer1.0.sublayer.1.norm.a": (768,),
    "ca.encoder.layer1.0.sublayer.1.norm.b": (768,),
    "ca.encoder.layer2.0.self_attn.linears.0.weight": (768, 768),
    "ca.encoder.layer2.0.self_attn.linears.0.bias": (768,),
    "ca.encoder.layer2.0.self_attn.linears.1.weight": (768, 768),
    "ca.encoder.layer2.0.self_attn.linears.1.bias": (768,),
    "ca.encoder.layer2.0.self_attn.linears.2.weight": (768, 768),
    "ca.encoder.layer2.0.self_attn.linears.2.bias": (768,),
    "ca.encoder.layer2.0.self_attn.linears.3.weight": (768, 768),
    "ca.encoder.layer2.0.self_attn.linears.3.bias": (768,),
    "ca.encoder.layer2.0.feed_forward.w_1.weight": (1024, 768),
    "ca.encoder.layer2.0.feed_forward.w_1.bias": (1024,),
    "ca.encoder.layer2.0.feed_forward.w_2.weight": (768, 1024),
    "ca.encoder.layer2.0.feed_forward.w_2.bias": (768,),
    "ca.encoder.layer2.0.sublayer.0.norm.a": (768,),
    "ca.encoder.layer2.0.sublayer.0.norm.b": (768,),
    "ca.encoder.layer2.0.sublayer.1.norm.a": (768,),
    "ca.encoder.layer2.0.sublayer.1.norm.b": (768,),
    "rn.rn.0.weight": (343, 2401),
    "rn.rn.0.bias": (343,),
    "rn.rn.3.weight": (49, 343),
    "rn.rn.3.bias": (49,),
    "rn.rn.6.weight": (1, 49),
    "rn.rn.6.bias": (1,),
    "conv2d.weight": (512, 768, 2, 2),
    "conv2d.bias": (512,),
}


def test_table_is_complete() -> None:
    # Reference 1.8: 102,180,632 parameters in the state dict; 16 keys per CA copy.
    assert len(OFFICIAL_KEYS) == 210
    assert sum(math.prod(s) for s in OFFICIAL_KEYS.values()) == 102_180_632
    assert sum(k.startswith("ca.encoder.layers.0.") for k in OFFICIAL_KEYS) == 16


def test_zse_vitb16_exports_exactly_the_official_keys_and_shapes(vitb16: ZseSbir) -> None:
    exported = native_to_official(vitb16.state_dict())
    assert len(exported) == 210
    assert set(exported) == set(OFFICIAL_KEYS), (
        sorted(set(exported) - set(OFFICIAL_KEYS)),
        sorted(set(OFFICIAL_KEYS) - set(exported)),
    )
    shapes = {k: tuple(v.shape) for k, v in exported.items()}
    wrong = {k: (s, OFFICIAL_KEYS[k]) for k, s in shapes.items() if s != OFFICIAL_KEYS[k]}
    assert not wrong


def test_key_maps_are_inverse(vitb16: ZseSbir) -> None:
    native = vitb16.state_dict()
    back = official_to_native(native_to_official(native))
    assert list(back) == list(native)
    assert all(back[k] is native[k] for k in native)


def test_official_names_reach_the_right_tensors(vitb16: ZseSbir) -> None:
    off = native_to_official(vitb16.state_dict())
    vit = vitb16.sa.vit
    assert off["sa.model.cls"] is not None and torch.equal(off["sa.model.cls"], vit.cls_token)
    assert torch.equal(off["sa.model.embedding.weight"], vit.patch_embed.proj.weight)
    assert torch.equal(off["sa.model.transformer.layers.11.0.mlp.net.3.bias"], vit.blocks[11].mlp.fc2.bias)
    proj3 = off["sa.model.transformer.layers.3.0.attention.to_out.0.weight"]
    assert torch.equal(proj3, vit.blocks[3].attn.proj.weight)
    assert torch.equal(off["sa.model.transformer.encoder_norm.weight"], vit.norm.weight)
    assert torch.equal(off["sa.model.scale.seq.6.weight"], vitb16.sa.stem.seq[6].weight)


def test_zse_test_exports_the_same_pattern() -> None:
    # The tiny config has 2 blocks and a 3-conv stem; every key follows the official patterns.
    model = create_model("zse_test", seed=0)
    keys = set(native_to_official(model.state_dict()))
    patterns = {re.sub(r"\.\d+\.0\.", ".N.0.", k) for k in OFFICIAL_KEYS if "transformer.layers" in k}
    tiny_patterns = {re.sub(r"\.\d+\.0\.", ".N.0.", k) for k in keys if "transformer.layers" in k}
    assert tiny_patterns == patterns
    assert {k for k in keys if "transformer.layers" not in k and "scale.seq" not in k} == {
        k for k in OFFICIAL_KEYS if "transformer.layers" not in k and "scale.seq" not in k
    }
    stem = sorted(k for k in keys if "scale.seq" in k)
    assert stem == [f"sa.model.scale.seq.{i}.weight" for i in (0, 2, 4)]
