"""Per-stroke result types (numpy only, no torch, no Qt): attribution, replay, match strength.

A bottom-layer module beside ``zse_gui.results``: ``engine`` fills these, ``viz`` draws them, ``qt``
and ``cli`` pass them around. Stroke ``k`` always means ``sketch.strokes[k]`` of the input sketch,
in drawing order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MatchStrength",
    "OcclusionMap",
    "PatchContrast",
    "Replay",
    "StrokeAttribution",
    "StrokeContrast",
]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(x, np.float64))), np.float32)


@dataclass(frozen=True)
class StrokeAttribution:
    """What each stroke does to one result's relation score, measured by changing the input.

    Every variant sketch (all strokes but one, or one stroke alone) is preprocessed like any query
    (ink crop, resize, pad) and scored by the same cross-attention + relation network against the
    same cached photo tokens as the ranking, so the numbers are what the model does, not a proxy.

    S = number of strokes. Entries are NaN (logits, scores) or -1 (ranks) where the variant has no
    ink (removing the only stroke; a stroke without points).

    Attributes:
        target_index: gallery index of the explained result.
        target_path: its image path.
        base_logit: relation logit of the whole sketch with the target; ``base_score`` its sigmoid.
        base_rank: 0-based rank of the target among ``compared`` by relation logit (whole sketch).
        compared: gallery indices the ranks are taken among (the current results; target included).
        removed_logit: [S] float32, relation logit with stroke k removed.
        alone_logit: [S] float32, relation logit with stroke k alone.
        removed_rank, alone_rank: [S] int64 0-based rank of the target among ``compared``.
    """

    target_index: int
    target_path: str
    base_logit: float
    base_rank: int
    compared: tuple[int, ...]
    removed_logit: np.ndarray
    alone_logit: np.ndarray
    removed_rank: np.ndarray
    alone_rank: np.ndarray

    @property
    def stroke_count(self) -> int:
        return len(self.removed_logit)

    @property
    def base_score(self) -> float:
        return float(_sigmoid(np.asarray(self.base_logit)))

    @property
    def removed_score(self) -> np.ndarray:
        """[S] float32 relation score (sigmoid) with stroke k removed."""
        return _sigmoid(self.removed_logit)

    @property
    def alone_score(self) -> np.ndarray:
        """[S] float32 relation score with stroke k alone."""
        return _sigmoid(self.alone_logit)

    @property
    def contribution(self) -> np.ndarray:
        """[S] float32 ``base_logit - removed_logit``: how much the match loses without stroke k.

        Positive = the stroke supports this result, negative = the result is better without it.
        In logits, because the sigmoid score saturates near 1 and the ranking sorts by logit.
        """
        return np.asarray(np.float32(self.base_logit) - self.removed_logit, np.float32)

    def order(self) -> np.ndarray:
        """Stroke ids, most supporting first (NaN contributions last, ties by stroke id)."""
        c = np.nan_to_num(self.contribution.astype(np.float64), nan=-np.inf)
        return np.lexsort((np.arange(len(c)), -c))


@dataclass(frozen=True)
class StrokeContrast:
    """Why A and not B, per stroke: both results' attributions from one pass over the variants.

    Attributes:
        a, b: the attributions of results A and B (ranks among A and B only).
    """

    a: StrokeAttribution
    b: StrokeAttribution

    @property
    def difference(self) -> np.ndarray:
        """[S] float32 ``a.contribution - b.contribution``: positive = the stroke pulls towards A."""
        return np.asarray(self.a.contribution - self.b.contribution, np.float32)


@dataclass(frozen=True)
class PatchContrast:
    """Why A and not B, per sketch patch: both results' relation logits with each inked window of
    the model-input sketch painted white (``engine.contrast.contrast_patches``).

    The masking happens in the model's input pixels, after the ink crop, so every variant keeps the
    patch grid of the whole sketch and cell (r, c) always means the same part of the drawing (the
    stroke attribution, by contrast, crops each variant anew). g = patches per side.

    Attributes:
        grid: g. window: the masked window's side in patches (1 = each patch on its own).
        index_a, index_b: gallery indices of results A and B; path_a, path_b: their images.
        base_logit_a, base_logit_b: relation logits of the whole sketch with A and with B.
        masked_logit_a, masked_logit_b: [g, g] float32 logit with the window holding cell (r, c)
            masked (every cell of a window carries the window's number); NaN where the window
            has no ink (painting blank paper white changes nothing).
        ink: [g, g] bool, cells with at least one ink pixel.
        sketch_image: [S, S, 3] uint8 model-input sketch (unmasked).
    """

    grid: int
    window: int
    index_a: int
    index_b: int
    path_a: str
    path_b: str
    base_logit_a: float
    base_logit_b: float
    masked_logit_a: np.ndarray
    masked_logit_b: np.ndarray
    ink: np.ndarray
    sketch_image: np.ndarray

    @property
    def contribution_a(self) -> np.ndarray:
        """[g, g] float32 ``base_logit_a - masked_logit_a``: what A loses without the window."""
        return np.asarray(np.float32(self.base_logit_a) - self.masked_logit_a, np.float32)

    @property
    def contribution_b(self) -> np.ndarray:
        """[g, g] float32 ``base_logit_b - masked_logit_b``."""
        return np.asarray(np.float32(self.base_logit_b) - self.masked_logit_b, np.float32)

    @property
    def difference(self) -> np.ndarray:
        """[g, g] float32 ``contribution_a - contribution_b``: positive = the patch pulls towards A
        (masking it narrows A's lead over B), negative = towards B; NaN where there is no ink."""
        return np.asarray(self.contribution_a - self.contribution_b, np.float32)

    @property
    def windows(self) -> int:
        """How many inked windows were masked (sketch encodes, besides the whole sketch)."""
        w = int(self.window)
        starts = range(0, self.grid, w)
        return sum(bool(np.isfinite(self.masked_logit_a[r, c])) for r in starts for c in starts)


@dataclass(frozen=True)
class Replay:
    """Retrieval while drawing: the target's rank after each stroke prefix.

    Prefix ``k`` (1-based) is the first ``k`` strokes; S = number of strokes. Ranks are 0-based
    positions in the full two-stage ranking of the gallery (as ``Engine.search`` with
    ``top_k = len(gallery)`` orders it).

    Attributes:
        target: what was followed, e.g. ``"photo:<path>"``, ``"class:cat"`` or ``"rank:1"``.
        target_indices: gallery indices that count as the target (one photo, or a class's photos).
        gallery_size: N.
        mode, rerank_depth: the search settings replayed.
        ranks: [S] int64 best rank of a target photo after each prefix.
        top: [S, k] int64 gallery indices of the first k results after each prefix.
        top_scores: [S, k] float32 their relation scores (NaN where not re-ranked).
        stroke_points: [S] int64 point count of each stroke (for a table).
    """

    target: str
    target_indices: tuple[int, ...]
    gallery_size: int
    mode: str
    rerank_depth: int
    ranks: np.ndarray
    top: np.ndarray
    top_scores: np.ndarray
    stroke_points: np.ndarray

    @property
    def percentile(self) -> np.ndarray:
        """[S] float32 rank percentile ``1 - rank / (N - 1)``: 1 = first, 0 = last."""
        n = max(self.gallery_size - 1, 1)
        return np.asarray(1.0 - self.ranks.astype(np.float64) / n, np.float32)

    def strokes_to_reach(self, k: int) -> int | None:
        """Fewest strokes after which a target photo is in the top ``k`` (None: never)."""
        hits = np.nonzero(self.ranks < int(k))[0]
        return int(hits[0]) + 1 if len(hits) else None


@dataclass(frozen=True)
class MatchStrength:
    """How much a result stands out from this sketch's other scores (see ``engine.strength``).

    Attributes:
        z: robust standardised gap ``(logit - median) / (1.4826 * MAD)`` of the result's relation
            logit against the other scored results of the same sketch.
        percentile: share of the other scored results with a lower logit, in [0, 1].
        score: the raw relation score (sigmoid), for reference.
        label: ``"clear match"``, ``"no clear match"``, ``"not enough results to compare"`` or
            ``"too little drawn to judge"`` (z is NaN for the last two).
        pool: how many scores the distribution had (the re-ranked shortlist).
        tooltip: a plain-language explanation of the number.
    """

    z: float
    percentile: float
    score: float
    label: str
    pool: int
    tooltip: str


@dataclass(frozen=True)
class OcclusionMap:
    """Photo-side occlusion: the relation score drop when each window of the photo is masked.

    Attributes:
        grid: patches per side (g).
        window: window side in patches (1 = single patches).
        drop: [g, g] float32 relation-score drop per window position (centred on each patch),
            ``base_score - masked_score``; positive = the pixels there supported the match.
        base_score: relation score of the unmasked pair.
        deletion_scores: [n + 1] float32 score after masking the 0, 1, 2, ... most important
            patches (by ``drop``) together.
        deletion_auc: mean of ``deletion_scores`` (area under the deletion curve, x in [0, 1]);
            lower = the map found the pixels the score depends on.
        photo_image: [S, S, 3] uint8 model-input photo.
    """

    grid: int
    window: int
    drop: np.ndarray
    base_score: float
    deletion_scores: np.ndarray
    deletion_auc: float
    photo_image: np.ndarray
