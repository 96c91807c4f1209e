"""Relevance of cross-attention pairs to the relation score: one backward pass per explanation.

Gradient-weighted attention after Chefer, Gur and Wolf, "Generic Attention-model Explainability
for Interpreting Bi-Modal and Encoder-Decoder Transformers" (ICCV 2021): the relevance of the
attention ``A[i, j]`` to the relation logit is ``max(0, A[i, j] * dlogit/dA[i, j])``, per head.
Only the pair-dependent part (cross-attention and relation network) is differentiated; the
self-attention tokens are inputs, so this costs about one cross-attention + relation forward
and backward, not a re-encoding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from zse_gui.engine.explain import gradient_relevance
from zse_gui.model.layers import CrossProjections
from zse_gui.model.network import ZseSbir

__all__ = ["attention_relevance", "pair_relevance"]


def attention_relevance(
    model: ZseSbir,
    sk_tokens: Tensor,
    ph_tokens: Tensor,
    sk_proj: CrossProjections | None = None,
    logit_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-head relevance maps of both streams for one pair (batch item 0).

    Works inside ``torch.inference_mode``/``no_grad`` callers: the inputs are cloned into a
    graph of their own.

    Args:
        model: the network (its cross-attention and relation network are used).
        sk_tokens, ph_tokens: [1, T, C] self-attention tokens of the sketch and the photo.
        sk_proj: the sketch's cached cross-attention projections (must match ``sk_tokens``).
        logit_fn: (sketch CA tokens, photo CA tokens) -> [B] relation logits; default
            ``model.forward_relation(...).logit[:, 0]``.

    Returns:
        (sketch stream [h, P, P] rows sketch / columns photo, photo stream [h, P, P] rows photo /
        columns sketch), float64, [Ret] dropped.
    """
    with torch.inference_mode(False), torch.enable_grad():
        sk = sk_tokens[:1].detach().clone().requires_grad_(True)
        ph = ph_tokens[:1].detach().clone().requires_grad_(True)
        sp = None
        if sk_proj is not None:
            sp = CrossProjections(*(t[:1].detach().clone().requires_grad_(True) for t in sk_proj))
        cross = model.forward_cross(sk, ph, sk_proj=sp, return_attn=True)
        assert cross.sketch_attn is not None and cross.photo_attn is not None
        if logit_fn is None:
            logit = model.forward_relation(cross.sketch, cross.photo).logit[:, 0]
        else:
            logit = logit_fn(cross.sketch, cross.photo)
        attn = (cross.sketch_attn, cross.photo_attn)
        grads = torch.autograd.grad(logit.sum(), attn, allow_unused=True)
        out = []
        for a, g in zip(attn, grads, strict=True):
            a_np = a[0].detach().float().cpu().numpy()
            # an unused map (the logit does not read that stream) has zero gradient everywhere
            g_np = np.zeros_like(a_np) if g is None else g[0].float().cpu().numpy()
            out.append(gradient_relevance(a_np, g_np))
        return out[0], out[1]


def pair_relevance(sk_rel: np.ndarray, ph_rel: np.ndarray, head: int | None = None) -> np.ndarray:
    """[P, P] relevance of sketch patch i <-> photo patch j through both streams:
    ``sk_rel[h, i, j] + ph_rel[h, j, i]``, for one head or the mean over heads (``head=None``)."""
    both = np.asarray(sk_rel, np.float64) + np.asarray(ph_rel, np.float64).transpose(0, 2, 1)
    out: np.ndarray = both.mean(0) if head is None else both[head]
    return out
