"""The numpy-only result types that the engine computes and viz draws (no torch, no Qt).

A bottom-layer module: ``engine`` fills these, ``viz`` renders them, ``qt`` and ``cli`` pass them
around, and none of them needs to import another to do so.

Coordinate frames:

* **model frame**: pixels of the square model input (``S = cfg.img_size``), x right, y down;
  patch ``p`` (row-major, ``p = r * g + c``) covers ``[c*ps, (c+1)*ps) x [r*ps, (r+1)*ps)``.
* **original frame**: pixels of the canvas a sketch was drawn on, or of the original photo file.
  ``ImageFrame`` maps model -> original.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CORRESPONDENCE_READOUTS",
    "DEFAULT_READOUT",
    "ImageFrame",
    "PreparedImage",
    "RankedItem",
    "RetrievalResult",
    "SearchStage",
    "Correspondences",
    "Synthesis",
    "Faithfulness",
    "Explanation",
]


@dataclass(frozen=True)
class ImageFrame:
    """Affine map from the model frame to an image's original frame, per axis.

    ``original = model * scale + offset``. For a photo (square resize) ``offset`` is 0 and
    ``scale = (W / S, H / S)``; for a sketch it undoes the pad, resize and ink crop.

    Attributes:
        size: (width, height) of the original image / canvas in pixels.
        scale: (sx, sy).
        offset: (ox, oy).
    """

    size: tuple[int, int]
    scale: tuple[float, float]
    offset: tuple[float, float] = (0.0, 0.0)

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """[N, 2] model-frame (x, y) -> [N, 2] float32 original-frame (x, y)."""
        pts = np.asarray(xy, dtype=np.float32)
        out = pts * np.asarray(self.scale, np.float32) + np.asarray(self.offset, np.float32)
        return out.astype(np.float32)

    def to_model(self, xy: np.ndarray) -> np.ndarray:
        """[N, 2] original-frame (x, y) -> [N, 2] float32 model-frame (x, y)."""
        pts = np.asarray(xy, dtype=np.float32)
        out = (pts - np.asarray(self.offset, np.float32)) / np.asarray(self.scale, np.float32)
        return out.astype(np.float32)


@dataclass(frozen=True)
class PreparedImage:
    """A sketch or photo ready for the model.

    Attributes:
        tensor: [3, S, S] float32, normalised with the config's mean/std.
        display: [S, S, 3] uint8 RGB, the same pixels before normalisation (what the model sees).
        frame: model -> original coordinate map.
        source: file path, ``"<strokes>"`` or ``"<array>"``.
    """

    tensor: np.ndarray
    display: np.ndarray
    frame: ImageFrame
    source: str = "<array>"


@dataclass(frozen=True)
class RankedItem:
    """One gallery item in a ranking.

    Attributes:
        index: position in the gallery index.
        path: image file path.
        label: class label (folder name) or None.
        ret_score: cosine similarity of the [Ret] embeddings, in [-1, 1].
        rn_score: relation score sigmoid(logit) in (0, 1), or None when not re-ranked.
        rn_logit: relation logit (what re-ranking sorts by), or None.
        stage1_rank: 0-based rank by ``ret_score``.
        final_rank: 0-based rank after re-ranking (== stage1_rank when not re-ranked).
    """

    index: int
    path: str
    label: str | None
    ret_score: float
    rn_score: float | None
    rn_logit: float | None
    stage1_rank: int
    final_rank: int

    @property
    def moved(self) -> int:
        """Places gained by re-ranking (positive = moved up)."""
        return self.stage1_rank - self.final_rank


@dataclass(frozen=True)
class RetrievalResult:
    """A ranking of the gallery for one sketch.

    Attributes:
        items: ranked items in final order (best first), at most ``top_k``.
        mode: ``"ret"`` (stage 1 only), ``"rerank"`` (stage 1 + RN on the top K) or ``"rn"``
            (exhaustive RN, the paper's ``-r rn``).
        rerank_depth: K, the number of stage-1 candidates re-scored by the RN (0 for ``"ret"``).
        timings_ms: wall time per stage in milliseconds (e.g. ``encode``, ``stage1``, ``stage2``).
        gallery_size: number of items ranked.
    """

    items: tuple[RankedItem, ...]
    mode: str
    rerank_depth: int
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    gallery_size: int = 0

    def reranked_indices(self, limit: int = 10) -> list[int]:
        """Gallery indices of the first ``limit`` items the relation network scored, in rank order
        (what the stroke views rank a result among)."""
        return [it.index for it in self.items if it.rn_logit is not None][:limit]


@dataclass(frozen=True)
class SearchStage:
    """One stage of a two-stage search, as ``Engine.search_stages`` yields it.

    Attributes:
        result: the ranking after this stage.
        final: True for the last stage (the answer); False for the stage-1 ranking that a
            re-ranked one will replace.
    """

    result: RetrievalResult
    final: bool


# How correspondence lines are read out of the cross-attention (computed in
# ``zse_gui.engine.explain.readout_maps``; here so that settings can name them without torch).
CORRESPONDENCE_READOUTS = ("attention", "dual_softmax", "sinkhorn", "dual_sinkhorn", "consensus", "gradient")
DEFAULT_READOUT = "consensus"


@dataclass(frozen=True)
class Correspondences:
    """Patch matches read from the cross-attention maps, for one head or the head mean.

    P = number of patches; patch ids are row-major on the g x g grid.

    Attributes:
        head: head index, or None for the mean over heads.
        sketch_to_photo: [P] int64, best photo patch for each sketch patch (sketch-stream argmax).
        sketch_score: [P] float32, its strength in the readout (the attention weight for
            ``"attention"``; see ``zse_gui.engine.explain.readout_maps``).
        photo_to_sketch: [P] int64, best sketch patch for each photo patch (photo-stream argmax).
        photo_score: [P] float32, its attention weight.
        mutual: [P] bool, sketch patch i and photo patch sketch_to_photo[i] are mutual best matches.
        ink: [P] bool, sketch patch i contains ink.
        readout: how the sketch -> photo lines were read out of the cross-attention.
    """

    head: int | None
    sketch_to_photo: np.ndarray
    sketch_score: np.ndarray
    photo_to_sketch: np.ndarray
    photo_score: np.ndarray
    mutual: np.ndarray
    ink: np.ndarray
    readout: str = "attention"


@dataclass(frozen=True)
class Synthesis:
    """Patch-replacement synthesis (paper Fig. 1c): each sketch cell filled with its best photo cell.

    Attributes:
        image: [S, S, 3] uint8 mosaic in the model frame.
        source_cell: [P] int64, photo patch copied into each sketch cell.
        score: [P] float32, the match score of that choice.
    """

    image: np.ndarray
    source_cell: np.ndarray
    score: np.ndarray


@dataclass(frozen=True)
class Faithfulness:
    """How much the top matched pairs matter: relation score drop when the photo patch is masked.

    Attributes:
        sketch_patch: [n] int64 sketch patch ids of the tested pairs.
        photo_patch: [n] int64 matched photo patch ids.
        base_score: relation score of the unmasked pair.
        masked_score: [n] float32 relation score with that photo patch masked.
        drop: [n] float32, ``base_score - masked_score`` (positive = the patch supported the match).
    """

    sketch_patch: np.ndarray
    photo_patch: np.ndarray
    base_score: float
    masked_score: np.ndarray
    drop: np.ndarray


@dataclass(frozen=True)
class Explanation:
    """Why one sketch matched one photo: everything the explanation views draw.

    Attributes:
        grid: patches per side (g); P = g * g.
        patch_size: patch side in model pixels.
        sketch_image, photo_image: [S, S, 3] uint8 model inputs.
        sketch_frame, photo_frame: model -> original frame maps.
        sketch_centres: [P, 2] float32 patch centres in original canvas pixels.
        photo_centres: [P, 2] float32 patch centres in original photo pixels.
        sketch_attn: [h, P, P] float32 sketch-stream CA attention (rows sketch patches, columns
            photo patches, [Ret] row/column removed, rows renormalised to sum to 1).
        photo_attn: [h, P, P] float32 photo-stream CA attention (rows photo, columns sketch).
        correspondences: head mean first, then one per CA head.
        ret_attn_sketch, ret_attn_photo: [H, P] float32 [Ret] attention per SA head, last block.
        kernel: [A, A] float32 relation anchor cosine kernel.
        relation_score: sigmoid relation score; relation_logit: its logit.
        ret_score: cosine of the two [Ret] embeddings.
        synthesis: patch-replacement synthesis from the head-mean correspondences.
        faithfulness: masking test of the top pairs, or None when not computed.
    """

    grid: int
    patch_size: int
    sketch_image: np.ndarray
    photo_image: np.ndarray
    sketch_frame: ImageFrame
    photo_frame: ImageFrame
    sketch_centres: np.ndarray
    photo_centres: np.ndarray
    sketch_attn: np.ndarray
    photo_attn: np.ndarray
    correspondences: tuple[Correspondences, ...]
    ret_attn_sketch: np.ndarray
    ret_attn_photo: np.ndarray
    kernel: np.ndarray
    relation_score: float
    relation_logit: float
    ret_score: float
    synthesis: Synthesis
    faithfulness: Faithfulness | None = None

    def for_head(self, head: int | None) -> Correspondences:
        """Correspondences of one CA head, or of the head mean for None."""
        for c in self.correspondences:
            if c.head == head:
                return c
        raise KeyError(f"no correspondences for head {head!r}")
