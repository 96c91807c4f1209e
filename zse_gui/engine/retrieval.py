"""Ranking primitives: chunked cosine top-k (stage 1), result assembly, and the projection LRU.

The numpy functions here work on plain arrays so evaluation code can rank without an ``Engine``:
``cosine_scores`` for full score matrices (mAP@all needs the whole ranking) and ``cosine_topk``
for shortlists. Ties are broken by ascending gallery index, so every ranking is deterministic.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import torch

from zse_gui.model.layers import CrossProjections
from zse_gui.results import RankedItem

__all__ = [
    "ProjectionCache",
    "cosine_scores",
    "cosine_topk",
    "l2_normalize",
    "order_desc",
    "ranked_items",
]

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 65536  # gallery rows per matrix product; bounds the [Q, chunk] score buffer


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows divided by their L2 norm (zero rows stay zero), as float32."""
    x = np.asarray(x, np.float32)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return np.asarray(x / np.maximum(n, 1e-12), np.float32)


def _as_queries(query: np.ndarray) -> tuple[np.ndarray, bool]:
    q = np.asarray(query, np.float32)
    single = q.ndim == 1
    return (q[None] if single else q), single


def cosine_scores(query: np.ndarray, embeddings: np.ndarray, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Dot products of normalised queries with normalised gallery embeddings (= cosine).

    Args:
        query: [C] or [Q, C] float32, L2-normalised.
        embeddings: [N, C] float32, L2-normalised (may be a memmap; read in chunks).
        chunk: gallery rows per matrix product.

    Returns:
        [N] (for a [C] query) or [Q, N] float32 scores.
    """
    q, single = _as_queries(query)
    n = len(embeddings)
    out = np.empty((len(q), n), np.float32)
    for s in range(0, n, chunk):
        block = np.asarray(embeddings[s : s + chunk], np.float32)  # [n_chunk, C]
        out[:, s : s + len(block)] = q @ block.T
    return out[0] if single else out


def order_desc(scores: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """Positions that sort ``scores`` descending, ties by ascending ``index`` (default position)."""
    idx = np.arange(len(scores)) if index is None else np.asarray(index)
    return np.lexsort((idx, -np.asarray(scores, np.float64)))


def cosine_topk(
    query: np.ndarray, embeddings: np.ndarray, k: int, chunk: int = DEFAULT_CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery items by cosine, best first, without materialising all scores.

    Each chunk keeps its own top-k with ``argpartition`` and is merged with the running top-k,
    so memory is O(Q * (k + chunk)) for any gallery size.

    Args:
        query: [C] or [Q, C] float32, L2-normalised.
        embeddings: [N, C] float32, L2-normalised (memmap fine).
        k: shortlist length (clipped to N).
        chunk: gallery rows per matrix product.

    Returns:
        ``(indices, scores)``: [k] int64 and [k] float32 (or [Q, k] each for a [Q, C] query).
    """
    q, single = _as_queries(query)
    n = len(embeddings)
    k = max(0, min(int(k), n))
    best_i = np.zeros((len(q), 0), np.int64)
    best_s = np.zeros((len(q), 0), np.float32)
    for s in range(0, n, chunk):
        block = np.asarray(embeddings[s : s + chunk], np.float32)
        sc = q @ block.T  # [Q, n_chunk]
        if sc.shape[1] > k:
            part = np.argpartition(-sc, k - 1, axis=1)[:, :k] if k else np.zeros((len(q), 0), np.int64)
        else:
            part = np.broadcast_to(np.arange(sc.shape[1]), sc.shape)
        cand_i = np.concatenate([best_i, part + s], axis=1)
        cand_s = np.concatenate([best_s, np.take_along_axis(sc, part, axis=1)], axis=1)
        if cand_i.shape[1] > k:
            keep = np.argpartition(-cand_s, k - 1, axis=1)[:, :k] if k else np.zeros((len(q), 0), np.int64)
            cand_i = np.take_along_axis(cand_i, keep, axis=1)
            cand_s = np.take_along_axis(cand_s, keep, axis=1)
        best_i, best_s = cand_i, cand_s
    # argpartition leaves the k winners unordered: sort them, ties by index.
    for r in range(len(q)):
        o = order_desc(best_s[r], best_i[r])
        best_i[r], best_s[r] = best_i[r][o], best_s[r][o]
    return (best_i[0], best_s[0]) if single else (best_i, best_s)


def ranked_items(
    indices: Sequence[int] | np.ndarray,
    ret_scores: Sequence[float] | np.ndarray,
    paths: Sequence[str],
    labels: Sequence[str | None],
    stage1_ranks: Sequence[int] | np.ndarray | None = None,
    rn_logits: Sequence[float] | np.ndarray | None = None,
) -> tuple[RankedItem, ...]:
    """Build ``RankedItem``s in the given (final) order.

    ``rn_logits`` (float32 logits, possibly shorter than ``indices``) become both ``rn_logit``
    and ``rn_score = sigmoid(logit)``, computed in float64 so a displayed score is not rounded
    to 1.0 early.
    """
    out = []
    for pos, gi in enumerate(indices):
        gi = int(gi)
        # Items past the end of ``rn_logits`` were not re-scored.
        logit = None if rn_logits is None or pos >= len(rn_logits) else float(rn_logits[pos])
        score = None if logit is None else float(1.0 / (1.0 + np.exp(-np.float64(logit))))
        s1 = pos if stage1_ranks is None else int(stage1_ranks[pos])
        out.append(
            RankedItem(
                index=gi,
                path=paths[gi],
                label=labels[gi],
                ret_score=float(ret_scores[pos]),
                rn_score=score,
                rn_logit=logit,
                stage1_rank=s1,
                final_rank=pos,
            )
        )
    return tuple(out)


class ProjectionCache:
    """Bounded LRU of per-gallery-item cross-attention projections.

    A photo's Q/K/V projections depend on that photo only, so they are computed once and
    reused for every sketch; a re-rank then pays only the pair-dependent part. Keys are
    ``(gallery key, item index)``; values are ``CrossProjections`` of one item, each tensor
    [1, h, T, d] on the engine's device and dtype.

    Args:
        capacity: maximum number of items kept (0 disables caching).
    """

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = max(0, int(capacity))
        self._items: OrderedDict[Hashable, CrossProjections] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    def get_many(
        self,
        gallery_key: str,
        indices: Sequence[int],
        compute: Callable[[list[int]], CrossProjections],
    ) -> CrossProjections:
        """Projections of ``indices`` stacked in that order ([K, h, T, d] each).

        Missing items are computed in one batch with ``compute(missing_indices)`` (which must
        return them stacked in the same order) and inserted.
        """
        missing = [i for i in dict.fromkeys(int(j) for j in indices) if (gallery_key, i) not in self._items]
        fresh: dict[int, CrossProjections] = {}
        if missing:
            batch = compute(missing)
            for pos, i in enumerate(missing):
                # clone() so a cached item does not keep the whole batch tensor alive
                fresh[i] = CrossProjections(*(t[pos : pos + 1].clone() for t in batch))
        self.misses += len(missing)
        self.hits += len(indices) - len(missing)
        parts = []
        for i in indices:
            key = (gallery_key, int(i))
            item = fresh.get(int(i)) or self._items.get(key)
            assert item is not None
            parts.append(item)
            if self.capacity:
                self._items[key] = item
                self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return CrossProjections(*(torch.cat([p[f] for p in parts]) for f in range(3)))
