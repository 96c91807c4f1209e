"""The released training objective (reference section 3).

For a batch of B quadruplets the model sees 2B pairs: B matching pairs (sketch, photo) and B
non-matching pairs (sketch_neg, photo_neg). With post-cross-attention [Ret] tokens:

    L_tri = TripletMargin(anchor = sketch, positive = photo, negative = photo_neg; margin 1, p 2)
    L_rn  = MSE(relation scores [2B], [0.99] * B + [0.01] * B)
    L     = 2 * L_tri + 4 * L_rn

The triplet works on unnormalised tokens; only the sketch -> photo direction is used.

Optionally (``TrainConfig.ret_triplet_weight`` > 0, not in the release) a second triplet with the
same anchor / positive / negative acts on the L2-normalised *pre*-CA [Ret] tokens, the feature
that stage-1 retrieval ranks by and that the release's loss reaches only through cross-attention:

    L = 2 * L_tri + 4 * L_rn + w * TripletMargin(norm(pre-CA [Ret]); margin m, p 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from zse_gui.train.config import TrainConfig

__all__ = ["LossOut", "zse_loss"]


@dataclass
class LossOut:
    """The total loss (with graph) and its two detached terms.

    Attributes:
        total: ``triplet_weight * triplet + relation_weight * relation``, scalar with grad.
        triplet: the triplet term (unweighted), detached.
        relation: the relation MSE term (unweighted), detached.
        ret_triplet: the pre-CA [Ret] triplet term (unweighted), detached; None when not computed.
    """

    total: Tensor
    triplet: Tensor
    relation: Tensor
    ret_triplet: Tensor | None = None


def zse_loss(
    features: Tensor, scores: Tensor, cfg: TrainConfig, ret_features: Tensor | None = None
) -> LossOut:
    """Loss of one batch from the model's training outputs.

    Args:
        features: [4B, C] post-CA [Ret] tokens as ``ZseSbir.forward(cat(sk, sk_neg), cat(ph, ph_neg))``
            returns them: sketch rows ``[:2B]`` then photo rows ``[2B:]``; within each half the
            first B rows are the matching pairs, the last B the non-matching pairs.
        scores: [2B, 1] relation scores (sigmoid) of the same pairs.
        cfg: weights, margin, norm degree and targets.
        ret_features: [4B, C] pre-CA [Ret] tokens in the same row order, for the optional
            ``ret_triplet_weight`` term; required when that weight is > 0.

    Returns:
        ``LossOut``; computed in fp32 even under autocast.
    """
    n4 = features.shape[0]
    if n4 % 4 or scores.shape[0] * 2 != n4:
        raise ValueError(
            f"expected features [4B, C] and scores [2B, 1], "
            f"got {tuple(features.shape)}, {tuple(scores.shape)}"
        )
    b = n4 // 4
    f = features.float()
    anchor, positive, negative = f[:b], f[2 * b : 3 * b], f[3 * b :]  # [B, C] each
    tri = F.triplet_margin_loss(anchor, positive, negative, margin=cfg.triplet_margin, p=cfg.triplet_p)
    target = torch.cat(
        [
            scores.new_full((b, 1), cfg.pos_target, dtype=torch.float32),
            scores.new_full((b, 1), cfg.neg_target, dtype=torch.float32),
        ]
    )  # [2B, 1]
    rel = F.mse_loss(scores.float(), target)
    total = cfg.triplet_weight * tri + cfg.relation_weight * rel
    if cfg.ret_triplet_weight <= 0:
        return LossOut(total, tri.detach(), rel.detach())
    if ret_features is None or ret_features.shape != features.shape:
        raise ValueError(
            "ret_triplet_weight > 0 needs the pre-CA [Ret] tokens [4B, C] "
            f"(got {None if ret_features is None else tuple(ret_features.shape)})"
        )
    r = F.normalize(ret_features.float(), dim=-1)
    ret_tri = F.triplet_margin_loss(r[:b], r[2 * b : 3 * b], r[3 * b :], margin=cfg.ret_triplet_margin, p=2.0)
    total = total + cfg.ret_triplet_weight * ret_tri
    return LossOut(total, tri.detach(), rel.detach(), ret_tri.detach())
