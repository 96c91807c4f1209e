"""The ZSE-SBIR network: self-attention encoder, cross-attention, anchor conv, relation network.

Named stages can be used on their own:

* ``forward_tokens(img)``: SA tokens ``[B, T, C]`` (index 0 is [Ret]), optionally the [Ret]
  token's attention per head in the last SA block.
* ``forward_cross(sk, ph)``: cross-attended tokens of paired sketches/photos, optionally both
  cross-attention maps per head.
* ``forward_relation(sk_ca, ph_ca)``: relation logit, score and optionally the anchor kernel.
* ``forward_pair(sk_img, ph_img)``: all of the above for image pairs.

Attention maps are returned on request, never stored on modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

import timm
import torch
from timm.layers.attention import Attention
from timm.models.vision_transformer import Block, VisionTransformer
from torch import Tensor, nn

from zse_gui.model.config import ZseConfig
from zse_gui.model.layers import (
    ConvStem,
    CrossAttention,
    CrossProjections,
    RelationNetwork,
    cosine_kernel,
    raw_token_map,
)

if TYPE_CHECKING:
    from zse_gui.model.factory import WeightsInfo

__all__ = ["SelfAttentionEncoder", "ZseSbir", "TokensOut", "CrossOut", "RelationOut", "PairOut"]


@dataclass
class TokensOut:
    """Output of the SA encoder.

    Attributes:
        tokens: [B, 1 + P, C]; row 0 is the [Ret] token, rows 1.. the patches in row-major order.
        ret_attn: [B, heads, P] attention of [Ret] to each patch in the last SA block, or None.
    """

    tokens: Tensor
    ret_attn: Tensor | None = None

    @property
    def ret(self) -> Tensor:
        """[B, C] pre-cross-attention [Ret] embedding (the "Ours-Ret" retrieval feature)."""
        return self.tokens[:, 0]


@dataclass
class CrossOut:
    """Output of the CA module for paired items.

    Attributes:
        sketch: [B, T, C] cross-attended sketch tokens.
        photo: [B, T, C] cross-attended photo tokens.
        sketch_attn: [B, h, T_sketch, T_photo] sketch-stream attention (rows sketch queries,
            columns photo keys), or None.
        photo_attn: [B, h, T_photo, T_sketch] photo-stream attention, or None.
    """

    sketch: Tensor
    photo: Tensor
    sketch_attn: Tensor | None = None
    photo_attn: Tensor | None = None


@dataclass
class RelationOut:
    """Relation network output: ``logit`` [B, 1], ``score`` = sigmoid(logit) [B, 1],
    ``kernel`` [B, A, A] anchor cosine matrix or None."""

    logit: Tensor
    score: Tensor
    kernel: Tensor | None = None


@dataclass
class PairOut:
    """Everything ``forward_pair`` computes for sketch/photo image pairs."""

    sketch_tokens: TokensOut
    photo_tokens: TokensOut
    cross: CrossOut
    relation: RelationOut


class SelfAttentionEncoder(nn.Module):
    """Learnable tokenizer + timm ViT encoder, shared by both modalities.

    Patch tokens are ``(patch_conv(img) + stem(img)) / 2`` flattened row-major; then the [Ret]
    (cls) token is prepended, the positional embedding added, and the pre-norm blocks and final
    LayerNorm (eps from the config) applied to all tokens.
    """

    def __init__(self, cfg: ZseConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vit = VisionTransformer(
            img_size=cfg.img_size,
            patch_size=cfg.patch_size,
            embed_dim=cfg.embed_dim,
            depth=cfg.depth,
            num_heads=cfg.num_heads,
            mlp_ratio=cfg.mlp_ratio,
            qkv_bias=True,
            num_classes=0,
            class_token=True,
            global_pool="token",
            norm_layer=partial(nn.LayerNorm, eps=cfg.ln_eps),
            pos_drop_rate=cfg.drop_rate,
            proj_drop_rate=cfg.drop_rate,
            attn_drop_rate=0.0,
            drop_rate=0.0,
        )
        self.stem = ConvStem(cfg.stem_channels, cfg.embed_dim)

    def load_pretrained_vit(self, timm_name: str = "vit_base_patch16_224.sam_in1k") -> None:
        """Initialise the ViT from timm's pretrained weights (needs internet; never used by default).

        The released model starts from ImageNet-1k SAM-optimised ViT-B/16, which timm names
        ``vit_base_patch16_224.sam_in1k``. The conv stem keeps its random init, as released.
        """
        src = timm.create_model(timm_name, pretrained=True, num_classes=0)
        missing, unexpected = self.vit.load_state_dict(src.state_dict(), strict=False)
        if missing or unexpected:
            raise RuntimeError(
                f"timm weights {timm_name} do not fit: missing {missing}, unexpected {unexpected}"
            )

    def tokenize(self, img: Tensor) -> Tensor:
        """[B, 3, H, W] normalised images -> [B, P, C] patch tokens (no [Ret], no position)."""
        patch_conv = cast(nn.Conv2d, self.vit.patch_embed.proj)
        grid: Tensor = (patch_conv(img) + self.stem(img)) / 2  # [B, C, g, g]
        return grid.flatten(2).transpose(1, 2)  # [B, P, C], row-major

    def forward(self, img: Tensor, return_attn: bool = False) -> TokensOut:
        """[B, 3, S, S] normalised images -> tokens [B, 1 + P, C] (+ [Ret] attention on request)."""
        s = self.cfg.img_size
        if img.ndim != 4 or tuple(img.shape[1:]) != (3, s, s):
            # The learned positional embedding fixes the grid: resize before, do not resample here.
            raise ValueError(f"expected images [B, 3, {s}, {s}], got {list(img.shape)}")
        vit = self.vit
        x = vit._pos_embed(self.tokenize(img))  # [B, 1 + P, C] with [Ret], positions, pos dropout
        x = vit.patch_drop(x)  # identity for the released config, kept to mirror timm's order
        x = vit.norm_pre(x)  # identity (no pre-norm in the release)
        x, ret_attn = run_blocks([cast(Block, b) for b in vit.blocks], x, return_attn)
        return TokensOut(vit.norm(x), ret_attn)


def run_blocks(blocks: Sequence[Block], x: Tensor, return_attn: bool) -> tuple[Tensor, Tensor | None]:
    """Run SA blocks over [B, T, C] tokens; with ``return_attn``, also the [Ret] row of the last
    block's attention, [B, heads, P] (only that block takes the explicit path, the others keep
    timm's fused attention)."""
    last = len(blocks) - 1 if return_attn else len(blocks)
    for blk in blocks[:last]:
        x = blk(x)
    if not return_attn:
        return x, None
    x, attn = _block_with_attn(blocks[-1], x)  # attn [B, h, T, T]
    return x, attn[:, :, 0, 1:]


def _block_with_attn(block: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """Run one timm ViT block explicitly, returning its softmax attention [B, h, T, T].

    Mirrors timm's ``Block.forward`` and ``Attention.forward`` (non-fused branch: pre-norm
    attention and MLP with layer scale and drop path); a test checks it against the block's own
    forward. timm's fused attention never materialises the probabilities, hence this copy.
    """
    blk = cast(Block, block)  # any module with timm Block's structure (also used by zse_lite)
    a = cast(Attention, blk.attn)
    if getattr(a, "gate", None) is not None:
        raise NotImplementedError("gated attention blocks are not supported")
    h = blk.norm1(x)  # [B, T, C]
    b, t, _ = h.shape
    qkv = a.qkv(h).reshape(b, t, 3, a.num_heads, a.head_dim).permute(2, 0, 3, 1, 4)  # [3, B, h, T, d]
    q, k, v = qkv.unbind(0)  # [B, h, T, d] each
    q, k = a.q_norm(q), a.k_norm(k)
    probs = ((q * a.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # [B, h, T, T]
    out = (a.attn_drop(probs) @ v).transpose(1, 2).reshape(b, t, a.attn_dim)  # [B, T, h * d]
    out = a.proj_drop(a.proj(a.norm(out)))  # [B, T, C]
    x = x + blk.drop_path1(blk.ls1(out))
    x = x + blk.drop_path2(blk.ls2(blk.mlp(blk.norm2(x))))
    return x, probs


class ZseSbir(nn.Module):
    """ZSE-SBIR with the released architecture; see ``docs`` and the reference for details.

    Submodule names follow the released checkpoint where it does not need a key map:
    ``ca.encoder.{layer1,layer2,layers}``, ``conv2d`` and ``rn.rn``. The SA encoder lives under
    ``sa`` with timm names; ``zse_gui.model.checkpoint`` maps it to the release's names.
    """

    weights_info: WeightsInfo | None
    """Provenance of the weights, set by ``create_model`` (None for a bare constructor call)."""

    def __init__(self, cfg: ZseConfig, sa: nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.weights_info = None
        self.sa = sa if sa is not None else SelfAttentionEncoder(cfg)
        self.ca = nn.Module()
        self.ca.encoder = CrossAttention(
            cfg.embed_dim,
            cfg.ca_heads,
            cfg.ca_ffn,
            cfg.ca_eps,
            cfg.drop_rate,
            keep_unused=cfg.ca_unused_copy,
            null_key=cfg.ca_null_key,
        )
        k = cfg.anchor_kernel
        self.conv2d = nn.Conv2d(cfg.embed_dim, cfg.anchor_dim, kernel_size=k, stride=k)
        self.rn = RelationNetwork(cfg.num_anchors, cfg.rn_hidden, cfg.drop_rate)

    @property
    def cross(self) -> CrossAttention:
        """The two-stream CA module (``ca.encoder``)."""
        return cast(CrossAttention, self.ca.encoder)

    # ---- stages -------------------------------------------------------------------------------
    def forward_tokens(self, img: Tensor, return_attn: bool = False) -> TokensOut:
        """SA encoder on normalised images [B, 3, S, S] -> tokens [B, 1 + P, C]."""
        out: TokensOut = self.sa(img, return_attn=return_attn)
        return out

    def project_sketch(self, sk_tokens: Tensor) -> CrossProjections:
        """Pair-independent CA projections of sketch SA tokens (cacheable per sketch)."""
        return self.cross.project_sketch(sk_tokens)

    def project_photo(self, ph_tokens: Tensor) -> CrossProjections:
        """Pair-independent CA projections of photo SA tokens (cacheable per gallery image)."""
        return self.cross.project_photo(ph_tokens)

    def forward_cross(
        self,
        sk_tokens: Tensor,
        ph_tokens: Tensor,
        sk_proj: CrossProjections | None = None,
        ph_proj: CrossProjections | None = None,
        return_attn: bool = False,
    ) -> CrossOut:
        """Cross-attention of paired SA tokens [B, T, C] (sketch i with photo i)."""
        sk, ph, a_s, a_p = self.cross(sk_tokens, ph_tokens, sk_proj, ph_proj, return_attn)
        return CrossOut(sk, ph, a_s, a_p)

    def forward_cross_all(
        self, sk_tokens: Tensor, ph_tokens: Tensor, sk_proj: CrossProjections, ph_proj: CrossProjections
    ) -> CrossOut:
        """Cross-attention of every sketch [N, T, C] with every photo [M, T, C] -> N M pairs,
        pair (i, j) at row i * M + j (no attention maps); ``forward_cross`` of those pairs up to
        float rounding, without tiling the photo side out per pair."""
        sk, ph = self.cross.forward_all(sk_tokens, ph_tokens, sk_proj, ph_proj)
        return CrossOut(sk, ph, None, None)

    def anchors(self, ca_tokens: Tensor) -> Tensor:
        """CA tokens [B, 1 + P, C] -> anchors [B, A, D] via the raw reshape and the anchor conv."""
        fmap = raw_token_map(ca_tokens[:, 1:], self.cfg.grid_size)  # [B, C, g, g] (a view)
        a: Tensor = self.conv2d(fmap)  # [B, D, g/k, g/k]
        return a.flatten(2).transpose(1, 2)  # [B, A, D]

    def forward_relation(self, sk_ca: Tensor, ph_ca: Tensor, return_kernel: bool = False) -> RelationOut:
        """Relation logit/score of paired CA tokens [B, 1 + P, C] -> [B, 1]."""
        kernel = cosine_kernel(self.anchors(sk_ca), self.anchors(ph_ca))  # [B, A, A]
        logit: Tensor = self.rn(kernel)  # [B, 1]
        return RelationOut(logit, torch.sigmoid(logit), kernel if return_kernel else None)

    def forward_pair(self, sk_img: Tensor, ph_img: Tensor, return_attn: bool = False) -> PairOut:
        """All stages for image pairs [B, 3, S, S] each (sketch i with photo i)."""
        both = self.forward_tokens(torch.cat([sk_img, ph_img]), return_attn=return_attn)
        n = sk_img.shape[0]
        sk_t = TokensOut(both.tokens[:n], None if both.ret_attn is None else both.ret_attn[:n])
        ph_t = TokensOut(both.tokens[n:], None if both.ret_attn is None else both.ret_attn[n:])
        cross = self.forward_cross(sk_t.tokens, ph_t.tokens, return_attn=return_attn)
        rel = self.forward_relation(cross.sketch, cross.photo, return_kernel=return_attn)
        return PairOut(sk_t, ph_t, cross, rel)

    def forward(self, sk_img: Tensor, ph_img: Tensor) -> tuple[Tensor, Tensor]:
        """Training path of the release: post-CA [Ret] features [2B, C] and relation scores [B, 1].

        The returned features are ``cat(sketch_cls, photo_cls)`` after cross-attention.
        """
        out = self.forward_pair(sk_img, ph_img)
        return torch.cat([out.cross.sketch[:, 0], out.cross.photo[:, 0]]), out.relation.score

    def forward_with_ret(self, sk_img: Tensor, ph_img: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``forward`` plus the pre-CA [Ret] tokens [2B, C] (sketch rows, then photo rows), which
        stage-1 retrieval ranks by: (post-CA features, pre-CA features, relation scores)."""
        out = self.forward_pair(sk_img, ph_img)
        post = torch.cat([out.cross.sketch[:, 0], out.cross.photo[:, 0]])
        pre = torch.cat([out.sketch_tokens.tokens[:, 0], out.photo_tokens.tokens[:, 0]])
        return post, pre, out.relation.score
