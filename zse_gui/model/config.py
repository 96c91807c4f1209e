"""Frozen model configurations and their registry.

Every grid size is derived from the config (``img_size // patch_size`` and so on); nothing in the
model code hard-codes 14, 196 or 49.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from zse_gui.errors import ConfigError

__all__ = ["ZseConfig", "get_config", "list_configs", "register_config"]


@dataclass(frozen=True)
class ZseConfig:
    """Architecture, preprocessing and provenance of one ZSE-SBIR variant.

    Attributes:
        name: registry name (``arch.tag`` style), e.g. ``"zse_vitb16"``.
        img_size: square input side in pixels.
        patch_size: side of one patch token in pixels; a power of two (the conv stem halves it).
        embed_dim: token width of the self-attention (SA) encoder and the cross-attention (CA) module.
        depth: number of SA transformer blocks.
        num_heads: SA attention heads.
        mlp_ratio: SA MLP hidden width / embed_dim.
        stem_channels: widths of the learnable tokenizer's conv stem before its last conv to
            ``embed_dim``; ``len(stem_channels) + 1 == log2(patch_size)`` stride-2 convs.
        ln_eps: eps of the SA LayerNorms (1e-5 in the released model, not timm's 1e-6).
        drop_rate: dropout on the positional embedding, SA projections/MLP and CA (training only).
        ca_heads: CA attention heads.
        ca_ffn: CA feed-forward hidden width.
        ca_eps: eps added to the unbiased std in the CA LayerNorm.
        ca_null_key: give each CA stream a learnable "no match" key per head (value zero), so a
            token with no partner can put its attention there instead of on a sink patch; adds
            ``ca.encoder.layer{1,2}.0.null_key`` ([heads, head_dim]). Off in every released
            config, so their weight files (which have no such key) still load strictly.
        ca_unused_copy: keep the third, never-used CA layer copy of the official state dict
            (``ca.encoder.layers.0``), so the official key list matches exactly.
        anchor_kernel: kernel = stride of the conv that turns the token map into anchors.
        anchor_dim: output channels of that conv (width of an anchor).
        backbone: ``"vit"`` (patch conv + stem tokenizer, timm ViT encoder) or another
            tokenizer registered by a model variant.
        mean: per-channel normalisation mean (RGB, on [0, 1] pixels).
        std: per-channel normalisation std.
        sketch_preprocess: ``"official"`` = ink crop with 10 px padding, aspect resize, white pad.
        photo_preprocess: ``"official"`` = square resize (aspect not kept), RGB, composited on white.
        weights_file: default weight file name under ``models/`` (None = no bundled weights).
        sha256: expected sha256 of ``weights_file``.
        licence: licence / attribution of the weights.
        description: one line for humans.
    """

    name: str
    img_size: int = 224
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    stem_channels: tuple[int, ...] = (64, 128, 256)
    ln_eps: float = 1e-5
    drop_rate: float = 0.1
    ca_heads: int = 8
    ca_ffn: int = 1024
    ca_eps: float = 1e-6
    ca_unused_copy: bool = True
    ca_null_key: bool = False
    anchor_kernel: int = 2
    anchor_dim: int = 512
    backbone: str = "vit"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    sketch_preprocess: str = "official"
    photo_preprocess: str = "official"
    weights_file: str | None = None
    sha256: str | None = None
    licence: str = ""
    description: str = ""
    extra: tuple[tuple[str, object], ...] = field(default=())

    def __post_init__(self) -> None:
        problems = []
        if self.img_size % self.patch_size:
            problems.append(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.patch_size < 2 or self.patch_size & (self.patch_size - 1):
            problems.append(f"patch_size {self.patch_size} is not a power of two >= 2")
        elif len(self.stem_channels) + 1 != int(math.log2(self.patch_size)):
            problems.append(
                f"stem_channels {self.stem_channels} needs {int(math.log2(self.patch_size)) - 1} entries "
                f"for patch_size {self.patch_size}"
            )
        if self.grid_size % self.anchor_kernel:
            problems.append(f"grid {self.grid_size} is not divisible by anchor_kernel {self.anchor_kernel}")
        if self.embed_dim % self.num_heads:
            problems.append(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.embed_dim % self.ca_heads:
            problems.append(f"embed_dim {self.embed_dim} is not divisible by ca_heads {self.ca_heads}")
        if problems:
            raise ConfigError(f"config {self.name!r}: " + "; ".join(problems))

    @property
    def grid_size(self) -> int:
        """Patch tokens per side (14 for ViT-B/16 at 224 px)."""
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Patch tokens per image (196 for ViT-B/16 at 224 px)."""
        return self.grid_size**2

    @property
    def num_tokens(self) -> int:
        """Tokens per image including the [Ret] token (197)."""
        return self.num_patches + 1

    @property
    def anchor_grid(self) -> int:
        """Anchors per side after the anchor conv (7)."""
        return self.grid_size // self.anchor_kernel

    @property
    def num_anchors(self) -> int:
        """Anchors per image (49)."""
        return self.anchor_grid**2

    @property
    def rn_hidden(self) -> tuple[int, int]:
        """Relation MLP hidden widths: anchors^1.5 then anchors (343, 49)."""
        n = self.num_anchors
        return round(n**1.5), n

    def with_overrides(self, **changes: object) -> ZseConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


_REGISTRY: dict[str, ZseConfig] = {}


def register_config(cfg: ZseConfig) -> ZseConfig:
    """Add a config to the registry; names are unique."""
    if cfg.name in _REGISTRY and _REGISTRY[cfg.name] != cfg:
        raise ConfigError(f"a different config named {cfg.name!r} is already registered")
    _REGISTRY[cfg.name] = cfg
    return cfg


def get_config(name: str) -> ZseConfig:
    """Look up a registered config by name.

    Raises:
        ConfigError: the name is unknown; the message lists the known names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}") from None


def list_configs() -> list[str]:
    """Names of all registered configs, sorted."""
    return sorted(_REGISTRY)


register_config(
    ZseConfig(
        name="zse_vitb16",
        description=(
            "ZSE-SBIR as released (CVPR 2023): ViT-B/16, learnable tokenizer, 1-layer CA, 49-anchor RN"
        ),
        licence="MIT (official ZSE-SBIR release); weights from the official best_checkpoint.pth",
    )
)

register_config(
    ZseConfig(
        name="zse_test",
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        mlp_ratio=2.0,
        stem_channels=(8, 16),
        ca_heads=2,
        ca_ffn=48,
        anchor_kernel=2,
        anchor_dim=16,
        description="tiny random-weight config for tests (4x4 patch grid, 4 anchors)",
    )
)
