"""Evaluate a model on a labelled test set under several ranking modes, side by side.

``evaluate_model`` -> ``EvalResult`` (metrics per mode, timings) -> ``format_table`` / JSON.
``RetrievalValidator`` is the same thing as a callable for ``zse_gui.train.Trainer``'s periodic
evaluation (pass it as ``evaluator=``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from zse_gui.data.collection import SbirData
from zse_gui.engine.engine import Engine
from zse_gui.eval.metrics import MetricReport, definition, evaluate_scores
from zse_gui.eval.scoring import MODES, encode_gallery, score_matrices
from zse_gui.model.network import ZseSbir

__all__ = [
    "EvalResult",
    "ModeResult",
    "RetrievalValidator",
    "evaluate_model",
    "format_table",
    "format_per_class",
]

log = logging.getLogger(__name__)

MODE_TITLES = {"ret": "Ret", "rerank": "Ret+RN rerank", "rn": "RN (exhaustive)"}


@dataclass(frozen=True)
class ModeResult:
    """Metrics and cost of one ranking mode.

    Attributes:
        mode: ``"ret"``, ``"rerank"`` or ``"rn"``.
        report: the metrics.
        seconds: wall time (query encoding + ranking all queries; gallery encoding excluded).
        rerank_depth: K of ``rerank`` (0 otherwise).
    """

    mode: str
    report: MetricReport
    seconds: float
    rerank_depth: int = 0


@dataclass(frozen=True)
class EvalResult:
    """Results of ``evaluate_model``.

    Attributes:
        data: description of the test set.
        n_queries: sketches. n_gallery: photos.
        gallery_seconds: time to encode the gallery once (shared by the modes).
        modes: ``{mode: ModeResult}`` in evaluation order.
        info: model name, weights, device, precision and other context.
    """

    data: str
    n_queries: int
    n_gallery: int
    gallery_seconds: float
    modes: dict[str, ModeResult]
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (NaN stays NaN; Python's json writes it as ``NaN``)."""
        return {
            "data": self.data,
            "n_queries": self.n_queries,
            "n_gallery": self.n_gallery,
            "gallery_seconds": self.gallery_seconds,
            "info": dict(self.info),
            "modes": {
                m: {"seconds": r.seconds, "rerank_depth": r.rerank_depth, **r.report.as_dict()}
                for m, r in self.modes.items()
            },
        }


def evaluate_model(
    engine: Engine,
    data: SbirData,
    modes: Sequence[str] = MODES,
    rerank_depth: int = 100,
    batch_size: int = 32,
    progress: bool = False,
) -> EvalResult:
    """Rank the photos of ``data`` for each of its sketches in every mode and score the rankings.

    Args:
        engine: wraps the model (device, precision).
        data: test set: sketches are queries, photos the gallery, same class = relevant.
        modes: subset of ``("ret", "rerank", "rn")``.
        rerank_depth: K of the two-stage mode.
        batch_size: images per forward pass when encoding.
        progress: show tqdm bars.

    Returns:
        ``EvalResult``.
    """
    mode_list = tuple(modes)
    t0 = time.perf_counter()
    gallery = encode_gallery(
        engine, data, batch_size, keep_tokens=any(m != "ret" for m in mode_list), progress=progress
    )
    g_sec = time.perf_counter() - t0
    scores = score_matrices(engine, data, gallery, mode_list, rerank_depth, batch_size, progress)
    q_labels, g_labels = data.sketch_labels(), data.photo_labels()
    results = {
        m: ModeResult(
            m, evaluate_scores(s.scores, q_labels, g_labels, data.classes), s.seconds, s.rerank_depth
        )
        for m, s in scores.items()
    }
    info = {
        "model": engine.config.name,
        "weights": engine.weights_info.source,
        "weights_sha256": engine.weights_info.sha256,
        "device": str(engine.device),
        "precision": str(engine.dtype).replace("torch.", ""),
    }
    return EvalResult(data.name, len(data.sketches), len(data.photos), g_sec, results, info)


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.4f}"


def format_table(result: EvalResult) -> str:
    """Plain-text table: one row per metric, one column per mode, the definition at the right."""
    modes = list(result.modes)
    if not modes:
        return "(no modes evaluated)"
    names = list(result.modes[modes[0]].report.metrics)
    heads = [MODE_TITLES.get(m, m) for m in modes]
    width = max(16, *(len(h) for h in heads)) + 2
    info = result.info
    weights = str(info.get("weights", "?"))
    note = "  RANDOM WEIGHTS: these numbers mean nothing" if weights == "random-init" else ""
    lines = [
        f"{result.data}: {result.n_queries} sketch queries x {result.n_gallery} photos",
        f"model {info.get('model', '?')}, weights {weights} (sha256 {info.get('weights_sha256', '?')}){note}",
        "metric".ljust(18) + "".join(h.rjust(width) for h in heads) + "   definition",
    ]
    for n in names:
        vals = "".join(_fmt(result.modes[m].report.metrics[n]).rjust(width) for m in modes)
        lines.append(n.ljust(18) + vals + "   " + definition(n))
    secs = "".join(f"{result.modes[m].seconds:.2f}".rjust(width) for m in modes)
    lines.append(
        "time (s)".ljust(18)
        + secs
        + f"   query encoding + ranking; gallery encoded once in {result.gallery_seconds:.2f} s"
    )
    depth = [r.rerank_depth for r in result.modes.values() if r.rerank_depth]
    if depth:
        lines.append(f"rerank: top {depth[0]} of the Ret ranking re-ordered by relation logit")
    n_nopos = result.modes[modes[0]].report.n_without_positive
    if n_nopos:
        lines.append(f"{n_nopos} queries have no relevant photo (left out of the means, as officially)")
    return "\n".join(lines)


def format_per_class(result: EvalResult) -> str:
    """Per-class mAP@all, one row per class, one column per mode."""
    modes = list(result.modes)
    if not modes:
        return ""
    classes = list(result.modes[modes[0]].report.per_class)
    width = max(16, *(len(MODE_TITLES.get(m, m)) for m in modes)) + 2
    name_w = max(12, *(len(c) for c in classes)) + 2 if classes else 12
    lines = ["class".ljust(name_w) + "".join(MODE_TITLES.get(m, m).rjust(width) for m in modes)]
    for c in classes:
        lines.append(
            c.ljust(name_w) + "".join(_fmt(result.modes[m].report.per_class[c]).rjust(width) for m in modes)
        )
    return "\n".join(lines)


class RetrievalValidator:
    """A ``Trainer`` evaluator: metrics of one ranking mode on a (small) labelled test set.

    The release validates with exhaustive RN (``mode="rn"``) in fp32 on a subsampled unseen-class
    test set (e.g. ``data.subsample(20, 10)`` on Sketchy). ``mode="ret"`` is much cheaper.

    Args:
        data: the validation set.
        mode: ``"ret"``, ``"rerank"`` or ``"rn"``.
        rerank_depth: K of ``rerank``.
        batch_size: images per forward pass.
    """

    def __init__(
        self, data: SbirData, mode: str = "rn", rerank_depth: int = 100, batch_size: int = 32
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.data = data
        self.mode = mode
        self.rerank_depth = rerank_depth
        self.batch_size = batch_size

    def __call__(self, model: nn.Module) -> dict[str, float]:
        """Metrics (``map_all``, ``map_200``, ``prec_100``, ...) of ``model`` in fp32 on its device."""
        if not isinstance(model, ZseSbir):
            raise TypeError(f"RetrievalValidator needs a ZseSbir model, got {type(model).__name__}")
        device = next(model.parameters()).device
        # fp32, as the release validates; the engine then neither casts nor copies the model.
        engine = Engine(model, device=device, precision="fp32")
        with torch.no_grad():
            res = evaluate_model(engine, self.data, (self.mode,), self.rerank_depth, self.batch_size)
        return dict(res.modes[self.mode].report.metrics)
