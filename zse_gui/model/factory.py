"""``create_model``: the one constructor, with weight loading and provenance."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from zse_gui.errors import WeightsError
from zse_gui.model.checkpoint import LoadReport, load_weights, state_digest
from zse_gui.model.config import ZseConfig, get_config
from zse_gui.model.network import ZseSbir
from zse_gui.paths import repo_path

__all__ = ["WeightsInfo", "create_model", "default_models_dir", "register_backbone"]

log = logging.getLogger(__name__)

# Builders of alternative SA encoders (``ZseConfig.backbone``), registered by model variants.
_BACKBONES: dict[str, Callable[[ZseConfig], nn.Module]] = {}
# Key prefixes that a backbone loads from elsewhere (e.g. a package) instead of the weight file.
_EXTERNAL_PREFIXES: dict[str, tuple[str, ...]] = {}


def register_backbone(
    name: str, builder: Callable[[ZseConfig], nn.Module], external_prefixes: tuple[str, ...] = ()
) -> None:
    """Register an SA encoder builder for ``ZseConfig.backbone == name``."""
    _BACKBONES[name] = builder
    _EXTERNAL_PREFIXES[name] = external_prefixes


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights came from.

    Attributes:
        config: registry name.
        source: weight file path, or ``"random-init"``.
        sha256: sha256 of the weight file, or of the state dict for a random init (see
            ``state_digest``), so caches can be keyed on it either way.
        report: the load report, or None for a random init.
    """

    config: str
    source: str
    sha256: str
    report: LoadReport | None


def default_models_dir() -> Path:
    """The repository's ``models/`` folder (overridable with ``ZSE_MODELS_DIR``)."""
    env = os.environ.get("ZSE_MODELS_DIR")
    if env:
        return Path(env)
    return repo_path("models")


def create_model(
    name: str | ZseConfig,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    trust: bool = False,
    pretrained_backbone: bool = False,
    seed: int | None = None,
) -> ZseSbir:
    """Build a registered model, optionally load weights, move it to ``device``, set eval mode.

    Args:
        name: registry name (``zse_vitb16``, ``zse_test``, ...) or a config.
        weights: ``None`` = random init; ``"default"`` = the config's bundled file in ``models/``;
            otherwise a path to an official ``.pth`` or our ``.safetensors``.
        device: torch device; the model is moved there first and the file is read with
            ``map_location=device`` (a CUDA-saved checkpoint loads on a CPU-only machine).
        trust: allow arbitrary unpickling of a ``.pth`` (only for trusted files; the official
            checkpoint never needs it).
        pretrained_backbone: download timm's pretrained backbone (needs internet; never default).
        seed: seed the random init for reproducible random-weight models (a forked RNG: the
            caller's global torch RNG is left as it was).

    Returns:
        The model in eval mode, with ``model.weights_info`` (a ``WeightsInfo``).

    Raises:
        ConfigError: unknown name. WeightsError: the weights cannot be used (see ``load_weights``).
    """
    cfg = get_config(name) if isinstance(name, str) else name
    dev = torch.device(device)
    if seed is None:
        model = _build(cfg)
    else:
        # Seed a forked RNG so a reproducible model does not reset the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _build(cfg)
    if pretrained_backbone:
        loader = getattr(model.sa, "load_pretrained_vit", None)
        if loader is None:
            raise WeightsError(cfg.name, "this backbone has no timm pretrained weights")
        loader()
    # Move first, then read the file straight onto the target device (map_location), so
    # CUDA-saved tensors never need a detour and CPU-saved ones land where they are used.
    model.to(dev)
    if weights is not None:
        path = Path(weights)
        if str(weights) == "default":
            if not cfg.weights_file:
                raise WeightsError(cfg.name, "has no bundled weights", "pass a checkpoint file")
            path = default_models_dir() / cfg.weights_file
        report = load_weights(
            model,
            path,
            map_location=dev,
            trust=trust,
            external_prefixes=_EXTERNAL_PREFIXES.get(cfg.backbone, ()),
            expected_config=cfg.name,
        )
        if cfg.sha256 and str(weights) == "default" and report.sha256 != cfg.sha256:
            raise WeightsError(
                path, f"sha256 {report.sha256[:12]}... is not the expected {cfg.sha256[:12]}..."
            )
        info = WeightsInfo(cfg.name, str(path), report.sha256, report)
    else:
        info = WeightsInfo(cfg.name, "random-init", state_digest(model), None)
    model.eval()
    model.weights_info = info
    return model


def _build(cfg: ZseConfig) -> ZseSbir:
    """Construct the network of ``cfg`` with random weights (on the CPU)."""
    sa = None
    if cfg.backbone != "vit":
        if cfg.backbone not in _BACKBONES:
            raise WeightsError(
                cfg.name, f"backbone {cfg.backbone!r} is not available", "is its module imported?"
            )
        sa = _BACKBONES[cfg.backbone](cfg)
    return ZseSbir(cfg, sa=sa)
