"""The optional "no match" key of the cross-attention: absent unless asked for, saved and loaded
strictly, and it takes attention mass off the real tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from zse_gui.errors import WeightsError
from zse_gui.model import ZseSbir, save_safetensors
from zse_gui.model.checkpoint import load_weights
from zse_gui.model.config import get_config

NULL_KEYS = {"ca.encoder.layer1.0.null_key", "ca.encoder.layer2.0.null_key"}


def _model(null: bool, seed: int = 0) -> ZseSbir:
    torch.manual_seed(seed)
    cfg = get_config("zse_test").with_overrides(ca_null_key=True) if null else get_config("zse_test")
    return ZseSbir(cfg).eval()


def test_released_configs_have_no_null_key() -> None:
    assert not get_config("zse_lite").ca_null_key and not get_config("zse_vitb16").ca_null_key
    assert not NULL_KEYS & set(_model(False).state_dict())
    keys = set(_model(True).state_dict())
    assert keys >= NULL_KEYS
    assert _model(True).state_dict()["ca.encoder.layer1.0.null_key"].shape == (2, 16)


def test_null_key_is_saved_and_loaded_strictly(tmp_path: Path) -> None:
    a = _model(True, seed=1)
    with torch.no_grad():
        a.cross.sketch_layer.null_key.fill_(0.5)  # type: ignore[union-attr]
    path = tmp_path / "nk.safetensors"
    save_safetensors(a, path, "zse_test")
    b = _model(True, seed=2)
    load_weights(b, path, expected_config="zse_test")
    assert torch.equal(
        b.state_dict()["ca.encoder.layer1.0.null_key"], a.state_dict()["ca.encoder.layer1.0.null_key"]
    )
    # Strict both ways: a file without the key does not load into a model with it, and vice versa.
    old = tmp_path / "old.safetensors"
    save_safetensors(_model(False), old, "zse_test")
    load_weights(_model(False, seed=3), old, expected_config="zse_test")
    with pytest.raises(WeightsError):
        load_weights(_model(True), old, expected_config="zse_test")
    with pytest.raises(WeightsError):
        load_weights(_model(False), path, expected_config="zse_test")


def test_null_key_takes_mass_off_the_tokens() -> None:
    g = torch.Generator().manual_seed(0)
    sk, ph = (torch.rand(2, 3, 32, 32, generator=g) * 2 - 1 for _ in range(2))
    with torch.no_grad():
        plain = _model(False).forward_pair(sk, ph, return_attn=True).cross.sketch_attn
        m = _model(True)
        m.cross.sketch_layer.null_key.fill_(0.0)  # type: ignore[union-attr]
        m.cross.photo_layer.null_key.fill_(0.0)  # type: ignore[union-attr]
        with_null = m.forward_pair(sk, ph, return_attn=True).cross.sketch_attn
    assert plain is not None and with_null is not None
    assert torch.allclose(plain.sum(-1), torch.ones(()), atol=1e-5)
    sums = with_null.sum(-1)
    assert (sums < 1 - 1e-4).all() and (sums > 0).all()


def test_fine_tuning_a_file_without_null_keys_names_them(tmp_path: Path) -> None:
    """``train_demo --ca-null-key --init-weights <old file>``: only the null keys may be absent, the
    report lists them, they keep the new model's init, and everything else loads strictly."""
    old = _model(False, seed=4)
    path = tmp_path / "old.safetensors"
    save_safetensors(old, path, "zse_test")
    new = _model(True, seed=5)
    init = new.state_dict()["ca.encoder.layer1.0.null_key"].clone()
    fresh = tuple(k for k in new.state_dict() if k.endswith(".null_key"))  # zse_test also has a CA copy
    assert set(fresh) >= NULL_KEYS
    rep = load_weights(new, path, expected_config="zse_test", external_prefixes=fresh)
    assert set(rep.external) == set(fresh) and not rep.missing
    assert torch.equal(new.state_dict()["ca.encoder.layer1.0.null_key"], init)
    for k, v in old.state_dict().items():
        assert torch.equal(new.state_dict()[k], v), k
    # Naming the null keys excuses nothing else: a file that lacks another tensor is still refused.
    tensors = load_file(path)
    dropped = next(k for k in sorted(tensors) if k.startswith("ca.encoder.layer1.0.") and "null" not in k)
    del tensors[dropped]
    short = tmp_path / "short.safetensors"
    save_file(tensors, short)
    with pytest.raises(WeightsError, match="missing"):
        load_weights(_model(True), short, external_prefixes=fresh)
