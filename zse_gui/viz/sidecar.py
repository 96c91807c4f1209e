"""JSON sidecars: what a figure shows and how to make it again.

A sidecar records the model (name, weights sha256), the sketch strokes (when drawn on a canvas)
or its file, the photo, the scores, the rendering settings, the panel layout and every drawn
pair with its patch ids, rendered boxes and score. With the two model-input images the
correspondence figure can be redrawn from the sidecar alone (``redraw_correspondences``);
with the model, the weights and the strokes the whole explanation can be recomputed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zse_gui.errors import ZseError
from zse_gui.results import Explanation
from zse_gui.sketch import StrokeSketch, sketch_from_json, sketch_to_json
from zse_gui.viz.correspondence import CorrespondenceSettings, Pair, draw_pairs
from zse_gui.viz.layout import PanelLayout

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Provenance",
    "explanation_summary",
    "pairs_to_json",
    "write_sidecar",
    "read_sidecar",
    "redraw_correspondences",
]

log = logging.getLogger(__name__)

SCHEMA = "zse-gui/figure-sidecar"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Provenance:
    """Where an explanation came from (the caller knows; the renderers do not).

    Attributes:
        model: model registry name, e.g. ``"zse_lite"``.
        weights_sha256: sha256 of the weight file (or of the state dict for a random init).
        weights_source: weight file path or ``"random-init"``.
        sketch_source: sketch file path, or ``"<strokes>"`` for a canvas drawing.
        strokes: the drawing, when there is one.
        photo_path: the photo's file path.
        photo_label: the photo's class, when known.
        query_label: the sketch's class, when known.
        rank: 0-based final rank of the photo in the retrieval, when it came from one.
    """

    model: str = ""
    weights_sha256: str = ""
    weights_source: str = ""
    sketch_source: str = ""
    strokes: StrokeSketch | None = None
    photo_path: str = ""
    photo_label: str | None = None
    query_label: str | None = None
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; strokes as nested lists."""
        return {
            "model": {
                "name": self.model,
                "weights_sha256": self.weights_sha256,
                "weights_source": self.weights_source,
            },
            "sketch": {
                "source": self.sketch_source,
                "label": self.query_label,
                "drawing": sketch_to_json(self.strokes) if self.strokes is not None else None,
            },
            "photo": {"path": self.photo_path, "label": self.photo_label, "rank": self.rank},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Inverse of ``to_dict``."""
        model, sketch, photo = data.get("model", {}), data.get("sketch", {}), data.get("photo", {})
        drawing = sketch.get("drawing")
        return cls(
            model=str(model.get("name", "")),
            weights_sha256=str(model.get("weights_sha256", "")),
            weights_source=str(model.get("weights_source", "")),
            sketch_source=str(sketch.get("source", "")),
            strokes=sketch_from_json(drawing) if drawing else None,
            photo_path=str(photo.get("path", "")),
            photo_label=photo.get("label"),
            query_label=sketch.get("label"),
            rank=photo.get("rank"),
        )


def pairs_to_json(expl: Explanation, pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    """Drawn pairs with their rendered boxes plus model- and original-frame centres."""
    ps = expl.patch_size
    out = []
    for p in pairs:
        d = p.to_dict()
        for side, patch, centres in (
            ("sketch", p.sketch_patch, expl.sketch_centres),
            ("photo", p.photo_patch, expl.photo_centres),
        ):
            r, c = divmod(patch, expl.grid)
            d[f"{side}_box_model"] = [c * ps, r * ps, (c + 1) * ps, (r + 1) * ps]
            d[f"{side}_xy_original"] = [round(float(v), 2) for v in np.asarray(centres)[patch]]
        out.append(d)
    return out


def explanation_summary(expl: Explanation) -> dict[str, Any]:
    """Scores and geometry of an explanation, plus the masking test when it was run (no big arrays)."""
    f = expl.faithfulness
    faith = None
    if f is not None:
        faith = {
            "base_score": float(f.base_score),
            "sketch_patch": [int(v) for v in f.sketch_patch],
            "photo_patch": [int(v) for v in f.photo_patch],
            "masked_score": [round(float(v), 6) for v in f.masked_score],
            "drop": [round(float(v), 6) for v in f.drop],
        }
    return {
        "faithfulness": faith,
        # how the correspondence lines were read out of the cross-attention (engine.explain READOUTS)
        "correspondence_readout": expl.correspondences[0].readout if expl.correspondences else "",
        "grid": int(expl.grid),
        "patch_size": int(expl.patch_size),
        "image_size": int(expl.sketch_image.shape[0]),
        "ca_heads": int(expl.sketch_attn.shape[0]),
        "sa_heads": int(expl.ret_attn_sketch.shape[0]),
        "anchors": int(expl.kernel.shape[0]),
        "relation_score": float(expl.relation_score),
        "relation_logit": float(expl.relation_logit),
        "ret_score": float(expl.ret_score),
        "sketch_frame": {
            "size": list(expl.sketch_frame.size),
            "scale": list(expl.sketch_frame.scale),
            "offset": list(expl.sketch_frame.offset),
        },
        "photo_frame": {
            "size": list(expl.photo_frame.size),
            "scale": list(expl.photo_frame.scale),
            "offset": list(expl.photo_frame.offset),
        },
    }


def write_sidecar(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Write a sidecar (schema and version added), UTF-8, sorted keys, 1-space indent."""
    doc = {"schema": SCHEMA, "version": SCHEMA_VERSION, **data}
    out = Path(path)
    out.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    log.debug("wrote sidecar %s", out)
    return out


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a sidecar.

    Raises:
        ZseError: not JSON, or not a zse-gui sidecar of a version this code reads.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ZseError(f"{p}: cannot read the sidecar ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ZseError(f"{p}: not a zse-gui figure sidecar (schema {SCHEMA!r} missing)")
    if int(doc.get("version", 0)) > SCHEMA_VERSION:
        raise ZseError(
            f"{p}: sidecar version {doc['version']} is newer than this zse-gui reads ({SCHEMA_VERSION})"
        )
    return doc


def redraw_correspondences(
    record: Mapping[str, Any], sketch_image: np.ndarray, photo_image: np.ndarray
) -> np.ndarray:
    """Redraw a correspondence PNG from its sidecar record and the two model-input images.

    Args:
        record: ``sidecar["views"]["correspondences"]`` as written by ``export_explanation``.
        sketch_image, photo_image: [S, S, 3] uint8 model inputs (``Explanation.sketch_image`` ...).

    Returns:
        The same pixels as the exported PNG.
    """
    settings = CorrespondenceSettings.from_dict(record["settings"])
    layout = PanelLayout.from_dict(record["layout"])
    pairs = [Pair.from_dict(p) for p in record["pairs"]]
    lo, hi = record["score_range"]
    hl = record.get("highlight")
    highlight = (str(hl[0]), int(hl[1])) if hl else None
    return draw_pairs(
        sketch_image,
        photo_image,
        layout,
        pairs,
        float(lo),
        float(hi),
        settings,
        highlight,
        str(record.get("colorbar_label", "attention")),
    )
