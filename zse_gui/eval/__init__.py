"""Retrieval evaluation: official metrics from score matrices, model rankings by mode, ``zse-eval``.

``zse_gui.eval.metrics`` is numpy-only; ``scoring`` and ``runner`` drive a model through the
engine.
"""

from zse_gui.eval.metrics import (
    METRIC_DEFINITIONS,
    MetricReport,
    definition,
    evaluate_scores,
    per_query_metrics,
)
from zse_gui.eval.runner import (
    EvalResult,
    ModeResult,
    RetrievalValidator,
    evaluate_model,
    format_per_class,
    format_table,
)
from zse_gui.eval.scoring import MODES, ModeScores, encode_gallery, score_matrices

__all__ = [
    "METRIC_DEFINITIONS",
    "MODES",
    "EvalResult",
    "MetricReport",
    "ModeResult",
    "ModeScores",
    "RetrievalValidator",
    "definition",
    "encode_gallery",
    "evaluate_model",
    "evaluate_scores",
    "format_per_class",
    "format_table",
    "per_query_metrics",
    "score_matrices",
]
