"""The ZSE-SBIR network on timm: pure torch, no Qt, no image libraries.

``create_model(name, weights=...)`` is the one constructor.
"""

from zse_gui.model.checkpoint import (
    LoadReport,
    file_sha256,
    load_weights,
    save_official,
    save_safetensors,
    state_digest,
)
from zse_gui.model.config import ZseConfig, get_config, list_configs, register_config
from zse_gui.model.factory import WeightsInfo, create_model, default_models_dir, register_backbone
from zse_gui.model.layers import CrossProjections
from zse_gui.model.network import CrossOut, PairOut, RelationOut, TokensOut, ZseSbir

__all__ = [
    "CrossOut",
    "CrossProjections",
    "LoadReport",
    "PairOut",
    "RelationOut",
    "TokensOut",
    "WeightsInfo",
    "ZseConfig",
    "ZseSbir",
    "create_model",
    "default_models_dir",
    "file_sha256",
    "get_config",
    "list_configs",
    "load_weights",
    "register_backbone",
    "register_config",
    "save_official",
    "save_safetensors",
    "state_digest",
]
from zse_gui.model import lite as lite  # noqa: E402,F401  (registers the bundled zse_lite config)
