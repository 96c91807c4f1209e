"""Deletion faithfulness as a training signal (``TrainConfig.faith_weight``; off as released).

The deletion benchmark (``benchmarks/explain_quality.py``) paints photo patches white in the order
an explanation ranks them and watches the relation score: a faithful explanation's order lowers
it faster than a random order. With the release's loss nothing asks for that, and the bundled
model's lines lower it no faster than random (ratio 0.83x).

This term asks for it directly. For each matching pair of a batch, the photo patches are ranked
(detached: the ranking is not differentiated) in one of two orders (``TrainConfig.faith_order``):

* ``attention``: by the attention mass the sketch's ink patches put on them (head mean; the
  benchmark's "explanation" order);
* a correspondence readout such as ``dual_sinkhorn`` or ``consensus`` (the app's default): the
  photo patches its lines end on, by summed line strength
  (``zse_gui.engine.explain.line_photo_order``; the order the benchmark masks that readout's
  lines in, so the term trains the lines the app draws).

Then two copies of the photo are made: one with the ``k`` highest-ranked patches painted white,
one with ``k`` random patches painted white. The loss is a hinge on the relation logits of the
two copies,

    L_faith = mean( relu(margin - (logit_random - logit_explained)) ),

which is zero once masking the explained patches costs at least ``margin`` more logit than
masking as many random ones. The gradient flows into whatever the relation score is computed
from (cross-attention and relation network; the self-attention encoder too when it trains).

``PatchMasker`` paints the patches the way the benchmark does (pixel value 255). For packed
frozen-feature inputs (``zse_gui.model.lite.pack_cached_features``) it either runs the frozen
backbone again on the painted pixels (``features``; exact, what the benchmark does) or puts the
backbone features of an all-white image at those cells (``white_features``; cheaper, but an
approximation: the real backbone also changes the neighbouring cells' features through its
receptive field, and a model can learn to tell the two apart).

Measured (``docs/explanations.md``, "The term on the app's lines"): trained on the
``dual_sinkhorn`` order from the bundled v3 (600 steps, real masking), the lines' order lowered the
relation score 11x as fast as random, but two-stage retrieval fell under the card's floor. The hinge
only asks for a gap, and a model can also open it by scoring randomly masked photos *higher* (one
run did: +2.85 logit); an anchor on the randomly masked logit is not implemented.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from zse_gui.engine.explain import line_photo_order, readout_maps, strip_ret
from zse_gui.model.lite import pack_cached_features, replace_cached_features
from zse_gui.sketch import INK_THRESHOLD
from zse_gui.train.config import FAITH_ORDERS

__all__ = [
    "FAITH_ORDERS",
    "PatchMasker",
    "anchor_loss",
    "explained_order",
    "faith_order_mass",
    "faithfulness_loss",
    "readout_order",
    "top_and_random_cells",
]


class PatchMasker:
    """Ink detection and white painting of patch cells on normalised model inputs.

    Args:
        grid: patches per side.
        patch: patch side in pixels.
        mean, std: the model's per-channel normalisation (``ZseConfig.mean`` / ``std``).
        white_features: [C, g, g] backbone features of an all-white image, for packed 4-channel
            inputs (the approximation above).
        features: the frozen backbone, [B, 3, S, S] -> [B, C, g, g], for packed inputs (exact;
            used instead of ``white_features`` when both are given).
    """

    def __init__(
        self,
        grid: int,
        patch: int,
        mean: Sequence[float],
        std: Sequence[float],
        white_features: Tensor | None = None,
        features: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.grid, self.patch = grid, patch
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.white_features = white_features
        self.features = features

    def _pixels(self, x: Tensor) -> Tensor:
        """[B, 3+, S, S] normalised -> [B, 3, S, S] pixel values 0..255."""
        return (x[:, :3].float() * self.std.to(x.device) + self.mean.to(x.device)) * 255.0

    def ink(self, sketches: Tensor) -> Tensor:
        """[B, P] bool: cells with at least one ink pixel (R + G + B <= ``INK_THRESHOLD``, the
        app's rule)."""
        dark = self._pixels(sketches).sum(1) <= INK_THRESHOLD  # [B, S, S]
        b, g, p = dark.shape[0], self.grid, self.patch
        return dark.view(b, g, p, g, p).any(dim=4).any(dim=2).reshape(b, g * g)

    def mask(self, photos: Tensor, cells: Tensor) -> Tensor:
        """Photos [B, 3|4, S, S] with the cells ``cells`` ([B, P] bool) painted white; a new tensor."""
        b, g, p = photos.shape[0], self.grid, self.patch
        white = ((1.0 - self.mean) / self.std).to(photos.device, photos.dtype)  # [1, 3, 1, 1]
        pix = cells.view(b, g, 1, g, 1).expand(b, g, p, g, p).reshape(b, 1, g * p, g * p)
        img = torch.where(pix, white, photos[:, :3])
        if photos.shape[1] == 3:
            return img
        if self.features is not None:
            with torch.no_grad():
                return pack_cached_features(img, self.features(img))
        if self.white_features is None:
            raise ValueError("packed 4-channel inputs need features (the backbone) or white_features")
        return replace_cached_features(torch.cat([img, photos[:, 3:]], dim=1), cells, self.white_features)


def explained_order(sketch_attn: Tensor, ink: Tensor) -> Tensor:
    """[B, P] attention mass the ink rows put on each photo patch (head mean; [Ret] row and
    column dropped, extra key columns such as a "no match" key ignored), detached.

    Args:
        sketch_attn: [B, h, T, T'] sketch-stream cross-attention (T = 1 + P).
        ink: [B, P] bool ink cells of the sketches; a sketch without ink counts every row.
    """
    p = ink.shape[1]
    a = sketch_attn.detach()[:, :, 1:, 1 : 1 + p].float().mean(1)  # [B, P rows, P cols]
    rows = ink.float()
    rows = torch.where(rows.sum(1, keepdim=True) > 0, rows, torch.ones_like(rows))
    return (a * rows[:, :, None]).sum(1)  # [B, P]


def _patch_maps(attn: Tensor, p: int) -> np.ndarray:
    """[B, h, T, T'] attention -> [B, P, P] head-mean patch maps, as the engine reads them
    (``strip_ret`` per head, then the mean; extra key columns such as a "no match" key dropped)."""
    a = attn.detach()[:, :, : 1 + p, : 1 + p].float().cpu().numpy()
    return np.stack([strip_ret(x).mean(0) for x in a])


def readout_order(sketch_attn: Tensor, photo_attn: Tensor, ink: Tensor, readout: str) -> Tensor:
    """[B, P] float rank scores: the photo patches in a readout's line order
    (``line_photo_order``), first patch highest, so that the top ``k`` of a row are the first
    ``k`` patches the benchmark masks for that readout. Detached; computed in numpy.

    Args:
        sketch_attn, photo_attn: [B, h, T, T'] the two streams' cross-attention (T = 1 + P).
        ink: [B, P] bool ink cells; a sketch without ink counts every row.
        readout: a correspondence readout without gradients (``FAITH_ORDERS`` minus ``attention``).
    """
    b, p = ink.shape
    sm, pm = _patch_maps(sketch_attn, p), _patch_maps(photo_attn, p)
    rows_all = ink.cpu().numpy().astype(bool)
    out = np.zeros((b, p), np.float32)
    for i in range(b):
        rows = rows_all[i] if rows_all[i].any() else np.ones(p, bool)
        match, strength = readout_maps(readout, sm[i], pm[i], rows)  # as ``correspondences`` reads it
        s2p = np.argmax(match, axis=1)
        order = line_photo_order(s2p, strength[np.arange(p), s2p], rows, strength)
        out[i, order] = np.arange(p, 0, -1, dtype=np.float32)
    return torch.from_numpy(out).to(ink.device)


def faith_order_mass(sketch_attn: Tensor, photo_attn: Tensor, ink: Tensor, order: str) -> Tensor:
    """[B, P] scores whose top ``k`` cells are the first ``k`` of ``order`` (``FAITH_ORDERS``)."""
    if order == "attention":
        return explained_order(sketch_attn, ink)
    if order not in FAITH_ORDERS:
        raise ValueError(f"unknown faithfulness order {order!r} (one of {', '.join(FAITH_ORDERS)})")
    return readout_order(sketch_attn, photo_attn, ink, order)


def top_and_random_cells(mass: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """[2B, P] bool: the ``k`` cells of highest ``mass`` per row (first B rows), then ``k`` random
    cells per row (last B rows)."""
    b, p = mass.shape
    k = max(1, min(k, p))
    top = torch.zeros(b, p, dtype=torch.bool, device=mass.device)
    top.scatter_(1, mass.topk(k, dim=1).indices, True)
    noise = torch.rand(b, p, generator=generator).to(mass.device)
    rnd = torch.zeros_like(top)
    rnd.scatter_(1, noise.topk(k, dim=1).indices, True)
    return torch.cat([top, rnd])


def faithfulness_loss(logit_explained: Tensor, logit_random: Tensor, margin: float) -> Tensor:
    """Hinge: zero when masking the explained cells lowers the logit ``margin`` more than random."""
    return F.relu(margin - (logit_random.float() - logit_explained.float())).mean()


def anchor_loss(logit_random: Tensor, logit_clean: Tensor) -> Tensor:
    """The hinge's anchor: zero while masking random cells does not raise the logit above the
    clean pair's (``logit_clean``, detached by the caller)."""
    return F.relu(logit_random.float() - logit_clean.float()).mean()
