"""The config registry: released hyper-parameters, derived grid sizes, validation."""

from __future__ import annotations

import dataclasses

import pytest

from zse_gui.errors import ConfigError
from zse_gui.model import ZseConfig, get_config, list_configs, register_config


def test_registry_has_released_and_test_configs() -> None:
    names = list_configs()
    assert "zse_vitb16" in names and "zse_test" in names
    assert names == sorted(names)


def test_zse_vitb16_is_the_released_architecture() -> None:
    # Reference sections 1.2-1.5: values read from the released code, not from our defaults.
    c = get_config("zse_vitb16")
    assert (c.img_size, c.patch_size, c.embed_dim, c.depth, c.num_heads) == (224, 16, 768, 12, 12)
    assert int(c.embed_dim * c.mlp_ratio) == 3072
    assert c.stem_channels == (64, 128, 256)
    assert c.ln_eps == 1e-5 and c.ca_eps == 1e-6 and c.drop_rate == 0.1
    assert (c.ca_heads, c.ca_ffn, c.anchor_kernel, c.anchor_dim) == (8, 1024, 2, 512)
    assert c.mean == (0.5, 0.5, 0.5) and c.std == (0.5, 0.5, 0.5)
    assert c.sketch_preprocess == "official" and c.photo_preprocess == "official"
    assert (c.grid_size, c.num_patches, c.num_tokens) == (14, 196, 197)
    assert (c.anchor_grid, c.num_anchors, c.rn_hidden) == (7, 49, (343, 49))


def test_zse_test_sizes_are_derived() -> None:
    c = get_config("zse_test")
    assert c.grid_size == c.img_size // c.patch_size == 4
    assert c.num_tokens == 17 and c.num_anchors == 4 and c.rn_hidden == (8, 4)


def test_configs_are_frozen() -> None:
    c = get_config("zse_test")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.embed_dim = 64  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"img_size": 30}, "not a multiple of patch_size"),
        ({"patch_size": 6, "img_size": 36}, "power of two"),
        ({"stem_channels": (8,)}, "stem_channels"),
        ({"anchor_kernel": 3}, "anchor_kernel"),
        ({"num_heads": 3}, "num_heads"),
        ({"ca_heads": 5}, "ca_heads"),
    ],
)
def test_inconsistent_config_is_rejected(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        get_config("zse_test").with_overrides(**changes)


def test_unknown_name_lists_known_models() -> None:
    with pytest.raises(ConfigError, match="zse_test"):
        get_config("no_such_model")


def test_register_refuses_a_different_config_under_a_taken_name() -> None:
    register_config(get_config("zse_test"))  # the same config again is fine
    with pytest.raises(ConfigError, match="already registered"):
        register_config(ZseConfig(name="zse_test"))
