"""Building blocks of ZSE-SBIR that timm does not provide.

Module and parameter names (``seq``, ``self_attn.linears``, ``feed_forward.w_1``, ``sublayer``,
``norm.a``/``norm.b``) follow the released checkpoint's key names so that the cross-attention,
anchor conv and relation network load without a key map.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ConvStem",
    "CaLayerNorm",
    "CrossAttentionLayer",
    "CrossProjections",
    "CrossAttention",
    "RelationNetwork",
    "cosine_kernel",
    "raw_token_map",
]


class ConvStem(nn.Module):
    """The "learnable tokenizer" conv stem: stride-2 convs without bias or norm, ReLU between.

    The first conv is 7x7, the others 3x3; the last maps to ``embed_dim`` with no ReLU after it.
    ``patch_size == 2 ** (len(channels) + 1)``, so the output grid equals the patch grid.
    """

    def __init__(self, channels: tuple[int, ...], embed_dim: int, in_chans: int = 3) -> None:
        super().__init__()
        widths = [in_chans, *channels, embed_dim]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            k = 7 if i == 0 else 3
            layers.append(nn.Conv2d(c_in, c_out, kernel_size=k, stride=2, padding=k // 2, bias=False))
            if i < len(widths) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """[B, 3, S, S] images -> [B, embed_dim, S / patch, S / patch] token map."""
        return self.seq(x)  # type: ignore[no-any-return]


class CaLayerNorm(nn.Module):
    """The cross-attention LayerNorm of the release: ``a * (x - mean) / (std + eps) + b``.

    ``std`` is the unbiased (N-1) standard deviation and eps is added to the std, not the
    variance, so ``nn.LayerNorm`` is not bit-compatible.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(dim))
        self.b = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """Normalise the last axis of ``x`` [..., C]."""
        # Written out rather than with x.std(): this norm runs four times per pair in a re-rank,
        # and on the CPU torch's std/var reductions are several times slower than these passes.
        centred = x - x.mean(-1, keepdim=True)  # [..., C]
        var = centred.pow(2).sum(-1, keepdim=True) / (x.shape[-1] - 1)  # [..., 1], unbiased (N - 1)
        inv = 1.0 / (var.sqrt() + self.eps)  # [..., 1]: eps is added to the std, as released
        return torch.addcmul(self.b, centred * inv, self.a)


class _Sublayer(nn.Module):
    """Post-norm residual wrapper: ``norm(x + dropout(f(...)))``."""

    def __init__(self, dim: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.norm = CaLayerNorm(dim, eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, residual: Tensor, branch: Tensor) -> Tensor:
        return self.norm(residual + self.dropout(branch))  # type: ignore[no-any-return]


class _MultiHeadLinears(nn.Module):
    """Holds the four projections (q, k, v, out) under the release's ``linears.{0..3}`` names."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        one = nn.Linear(dim, dim)
        # The release deep-copies one Linear four times, so q, k, v and out start equal.
        self.linears = nn.ModuleList([copy.deepcopy(one) for _ in range(4)])
        self.heads = heads
        self.dropout = nn.Dropout(dropout)


class _FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.w_1 = nn.Linear(dim, hidden)
        self.w_2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """[B, T, C] -> [B, T, C] through the ReLU hidden layer [B, T, ffn]."""
        return self.w_2(self.dropout(F.relu(self.w_1(x))))  # type: ignore[no-any-return]


class CrossProjections(NamedTuple):
    """The pair-independent part of one stream's cross-attention, for a batch of items.

    For the stream that updates these items (``own``): queries and values, both ``[B, h, T, d]``.
    For the other stream, which uses these items as keys: ``key_for_other`` ``[B, h, T, d]``.
    Caching these per gallery image makes a re-rank cost only the pair-dependent part.
    """

    query: Tensor
    value: Tensor
    key_for_other: Tensor


class CrossAttentionLayer(nn.Module):
    """One post-norm cross-attention layer of one stream (sketch or photo).

    Query and value come from the stream's own tokens, the key from the other modality's tokens:

        A = softmax(Q_own K_other^T / sqrt(d))            # [B, h, T_own, T_other]
        Y = LN1(X_own + Drop(concat_h(A V_own) W_o))      # needs T_own == T_other
        Z = LN2(Y + Drop(FFN(Y)))

    With ``null_key`` a learnable key per head (``null_key`` [h, d], value zero) joins the softmax
    as an extra column: a query with no good partner can put its mass there. The attention maps
    returned keep only the real columns, so their rows then sum to less than 1.
    """

    def __init__(
        self, dim: int, heads: int, ffn: int, eps: float, dropout: float, null_key: bool = False
    ) -> None:
        super().__init__()
        self.self_attn = _MultiHeadLinears(dim, heads, dropout)
        self.feed_forward = _FeedForward(dim, ffn, dropout)
        self.sublayer = nn.ModuleList([_Sublayer(dim, eps, dropout) for _ in range(2)])
        self.heads = heads
        # Only created when asked for: a model without it has exactly the released state dict.
        self.null_key = nn.Parameter(torch.randn(heads, dim // heads) * 0.02) if null_key else None

    def _split(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        return x.view(b, t, self.heads, c // self.heads).transpose(1, 2)  # [B, h, T, d]

    def project_own(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Queries and values of this stream's own tokens ``x`` [B, T, C] -> 2 x [B, h, T, d]."""
        lin = self.self_attn.linears
        return self._split(lin[0](x)), self._split(lin[2](x))

    def project_key(self, x_other: Tensor) -> Tensor:
        """Keys from the other modality's tokens [B, T, C] -> [B, h, T, d]."""
        return self._split(self.self_attn.linears[1](x_other))

    def attend(
        self, x_own: Tensor, query: Tensor, key: Tensor, value: Tensor, return_attn: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """The pair-dependent part: attention, output projection, residual, LN, FFN, LN.

        Args:
            x_own: own tokens [B, T, C] (the residual base).
            query, key, value: [B, h, T, d] projections (see ``project_own``/``project_key``).
            return_attn: also return the attention probabilities [B, h, T_own, T_other].
        """
        d = query.shape[-1]
        scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(d)  # [B, h, T, T]
        if self.null_key is not None:
            null = torch.matmul(query, self.null_key.to(query.dtype)[None, :, :, None]) / math.sqrt(
                d
            )  # [B, h, T, 1]
            probs = torch.cat([scores, null], dim=-1).softmax(dim=-1)[..., :-1]  # the null value is 0
        else:
            probs = scores.softmax(dim=-1)
        mixed = torch.matmul(self.self_attn.dropout(probs), value)  # [B, h, T, d]
        b, h, t, _ = mixed.shape
        mixed = mixed.transpose(1, 2).reshape(b, t, h * d)  # [B, T, C]
        y = self.sublayer[0](x_own, self.self_attn.linears[3](mixed))
        z = self.sublayer[1](y, self.feed_forward(y))
        return z, (probs if return_attn else None)

    def attend_all(self, x_own: Tensor, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
        """``attend`` for every (own item i, other item j) pair at once: [N, M, T, C].

        The same arithmetic as ``attend`` on the N * M explicit pairs, arranged so that no
        operand is copied per pair: per head, the queries of all N own items meet the keys of all
        M other items in one [N T, M T] product (instead of N * M products of [T, T]), the softmax
        runs over each (i, j) block's T keys, and the values of item i are multiplied with its M
        blocks in one [M T, T] product. The logits equal ``attend``'s up to float rounding.

        Args:
            x_own: own tokens [N, T, C] (the residual base).
            query, value: own projections [N, h, T, d]; key: the other items' keys [M, h, T, d].
        """
        n, h, t, d = query.shape
        m = key.shape[0]
        q = query.transpose(0, 1).reshape(h, n * t, d)  # [h, N T, d]
        k = key.transpose(0, 1).reshape(h, m * t, d)  # [h, M T, d]
        scores = torch.matmul(q, k.transpose(-2, -1)).div_(math.sqrt(d)).view(h, n, t, m, t)
        if self.null_key is not None:
            null = torch.matmul(query, self.null_key.to(query.dtype)[None, :, :, None]) / math.sqrt(d)
            null = null.transpose(0, 1)[:, :, :, :, None].expand(h, n, t, m, 1)  # [h, N, T, M, 1]
            probs = torch.cat([scores, null], dim=-1).softmax(dim=-1)[..., :-1]  # the null value is 0
        else:
            probs = scores.softmax(dim=-1)  # [h, N, T, M, T]: over each pair's T keys
        probs = self.self_attn.dropout(probs).reshape(h * n, t * m, t)
        v = value.transpose(0, 1).reshape(h * n, t, d)  # [h N, T, d]
        mixed = torch.bmm(probs, v).view(h, n, t, m, d)  # [h, N, T, M, d]
        mixed = mixed.permute(1, 3, 2, 0, 4).reshape(n, m, t, h * d)  # [N, M, T, C]
        # the residual broadcasts over the M partners: the own tokens are never tiled out
        y = self.sublayer[0](x_own[:, None], self.self_attn.linears[3](mixed))
        z = self.sublayer[1](y, self.feed_forward(y))
        return z  # type: ignore[no-any-return]

    def forward(
        self, x_own: Tensor, x_other: Tensor, return_attn: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Full layer for own tokens [B, T, C] attending over the other modality's [B, T, C]."""
        query, value = self.project_own(x_own)
        return self.attend(x_own, query, self.project_key(x_other), value, return_attn)


class CrossAttention(nn.Module):
    """The two-stream cross-attention module (``ca.encoder`` in the release).

    ``layer1`` updates the sketch tokens, ``layer2`` the photo tokens; both read the other
    modality's pre-layer tokens. ``layers`` is the release's third copy, never used in forward,
    kept only when ``keep_unused`` so the state dict has the official keys.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        ffn: int,
        eps: float,
        dropout: float,
        keep_unused: bool = True,
        null_key: bool = False,
    ) -> None:
        super().__init__()
        proto = CrossAttentionLayer(dim, heads, ffn, eps, dropout, null_key=null_key)
        # The release builds one layer and deep-copies it, so every copy starts identical.
        self.layer1 = nn.ModuleList([copy.deepcopy(proto)])
        self.layer2 = nn.ModuleList([copy.deepcopy(proto)])
        self.layers = nn.ModuleList([copy.deepcopy(proto)]) if keep_unused else None

    @property
    def sketch_layer(self) -> CrossAttentionLayer:
        """The sketch stream (``layer1.0``): sketch queries/values, photo keys."""
        return cast(CrossAttentionLayer, self.layer1[0])

    @property
    def photo_layer(self) -> CrossAttentionLayer:
        """The photo stream (``layer2.0``): photo queries/values, sketch keys."""
        return cast(CrossAttentionLayer, self.layer2[0])

    def project_sketch(self, sk: Tensor) -> CrossProjections:
        """Pair-independent projections of sketch SA tokens [B, T, C]."""
        q, v = self.sketch_layer.project_own(sk)
        return CrossProjections(q, v, self.photo_layer.project_key(sk))

    def project_photo(self, ph: Tensor) -> CrossProjections:
        """Pair-independent projections of photo SA tokens [B, T, C]."""
        q, v = self.photo_layer.project_own(ph)
        return CrossProjections(q, v, self.sketch_layer.project_key(ph))

    def forward(
        self,
        sk: Tensor,
        ph: Tensor,
        sk_proj: CrossProjections | None = None,
        ph_proj: CrossProjections | None = None,
        return_attn: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Cross-attend paired sketch and photo tokens (item i with item i).

        Args:
            sk, ph: SA tokens [B, T, C] each.
            sk_proj, ph_proj: precomputed projections of ``sk`` / ``ph`` (must match them).
            return_attn: also return the per-head attention maps.

        Returns:
            (sketch tokens [B, T, C], photo tokens [B, T, C],
             sketch-stream attention [B, h, T_sketch, T_photo] or None,
             photo-stream attention [B, h, T_photo, T_sketch] or None)
        """
        sp = sk_proj if sk_proj is not None else self.project_sketch(sk)
        pp = ph_proj if ph_proj is not None else self.project_photo(ph)
        sk_out, a_s = self.sketch_layer.attend(sk, sp.query, pp.key_for_other, sp.value, return_attn)
        ph_out, a_p = self.photo_layer.attend(ph, pp.query, sp.key_for_other, pp.value, return_attn)
        return sk_out, ph_out, a_s, a_p

    def forward_all(
        self, sk: Tensor, ph: Tensor, sk_proj: CrossProjections, ph_proj: CrossProjections
    ) -> tuple[Tensor, Tensor]:
        """Cross-attend every sketch (N) with every photo (M): no pair is tiled out in memory.

        Args:
            sk: sketch SA tokens [N, T, C]; ph: photo SA tokens [M, T, C].
            sk_proj, ph_proj: their projections (``project_sketch`` / ``project_photo``).

        Returns:
            (sketch tokens [N M, T, C], photo tokens [N M, T, C]), pair (i, j) at row i * M + j,
            equal to ``forward`` on the explicit pairs up to float rounding.
        """
        n, m = sk.shape[0], ph.shape[0]
        sk_out = self.sketch_layer.attend_all(sk, sk_proj.query, ph_proj.key_for_other, sk_proj.value)
        ph_out = self.photo_layer.attend_all(ph, ph_proj.query, sk_proj.key_for_other, ph_proj.value)
        t, c = sk.shape[1], sk.shape[2]
        return sk_out.reshape(n * m, t, c), ph_out.transpose(0, 1).reshape(n * m, t, c)


def raw_token_map(tokens: Tensor, grid: int) -> Tensor:
    """The release's raw memory reshape of patch tokens [B, P, C] to [B, C, g, g].

    This is a ``view`` of token-major memory as channel-major, NOT a permute: every output
    "pixel" mixes many tokens. The released anchor conv was trained on exactly this layout.
    """
    b, p, c = tokens.shape
    if p != grid * grid:
        raise ValueError(f"{p} patch tokens do not fill a {grid}x{grid} grid")
    # [B, P, C] token-major memory reinterpreted as [B, C, g, g]; contiguous() only copies a
    # sliced input, it does not change the element order.
    return tokens.contiguous().view(b, c, grid, grid)


def cosine_kernel(sk_anchors: Tensor, ph_anchors: Tensor) -> Tensor:
    """Cosine similarity of every sketch anchor with every photo anchor.

    ``p q^T / (|p| |q|)`` with no eps, NaN (zero-norm anchors) set to 0, as released.

    Args:
        sk_anchors, ph_anchors: [B, A, D].

    Returns:
        [B, A_sketch, A_photo].
    """
    dots = torch.matmul(sk_anchors, ph_anchors.transpose(-2, -1))  # [B, A, A]
    norms = sk_anchors.norm(dim=-1).unsqueeze(-1) * ph_anchors.norm(dim=-1).unsqueeze(-2)  # [B, A, A]
    kernel = dots / norms
    # Only NaN (0/0 from an all-zero anchor) is replaced, as released; nan_to_num would also
    # clamp infinities, which the release does not do.
    return torch.where(torch.isnan(kernel), torch.zeros_like(kernel), kernel)


class RelationNetwork(nn.Module):
    """The relation MLP over the flattened anchor kernel: A^2 -> A^1.5 -> A -> 1 (a logit).

    The relation score is ``sigmoid(logit)``; ranking uses the logit, which does not saturate.
    """

    def __init__(self, num_anchors: int, hidden: tuple[int, int], dropout: float) -> None:
        super().__init__()
        self.rn = nn.Sequential(
            nn.Linear(num_anchors * num_anchors, hidden[0]),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden[0], hidden[1]),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden[1], 1),
        )

    def forward(self, kernel: Tensor) -> Tensor:
        """[B, A, A] kernel -> [B, 1] logit (row-major flatten, index i*A + j)."""
        return self.rn(kernel.flatten(1))  # type: ignore[no-any-return]
