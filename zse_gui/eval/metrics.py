"""Retrieval metrics as the released evaluation computes them (reference section 4.2).

Everything works from a ``[Q, G]`` score matrix (larger = more similar) and class labels:
relevance is "same label". Each query ranks the whole gallery by descending score; ties are
broken by ascending gallery index (deterministic, unlike the release's unstable ``argsort``) and
NaN scores rank last. Per-query values are averaged with ``nanmean``: a query whose class has no
photo in the gallery (R = 0) gives NaN and is left out, as in the release.

With ``rel_k`` = 1 if the item at rank k (1-based) is relevant, ``R`` = relevant items in the
gallery, ``P(k)`` = precision of the top k and ``P~(k) = max_{j >= k} P(j)`` (the interpolated,
monotone precision, computed within the list being scored):

* ``map_all``: ``(1/R) sum_k rel_k P~(k)`` over the full ranking (VOC all-point interpolated AP).
* ``ap_all``: ``(1/R) sum_k rel_k P(k)`` (plain, non-interpolated AP).
* ``map_K`` (strict): ``(1/min(K, R)) sum_{k<=K} rel_k P~_K(k)``, with ``P~_K`` monotone over the
  top K only.
* ``map_K_lenient``: the same sum divided by the relevant items found in the top K (0 if none).
* ``prec_K``: ``(relevant in top min(K, R)) / min(K, R)``; equals R-precision when R < K.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "METRIC_DEFINITIONS",
    "MetricReport",
    "definition",
    "evaluate_scores",
    "per_query_metrics",
    "rank_gallery",
]

log = logging.getLogger(__name__)

METRIC_DEFINITIONS: dict[str, str] = {
    "map_all": "mAP@all: VOC all-point interpolated AP over the whole ranking, mean over queries (official)",
    "ap_all": "plain AP over the whole ranking (precision at each relevant rank, not interpolated)",
    "map_{k}": "mAP@{k} strict: interpolated AP of the top {k}, divided by min({k}, R) (official/SAKE)",
    "map_{k}_lenient": "mAP@{k} lenient: interpolated AP of the top {k}, divided by the relevant items in it",
    "prec_{k}": "Prec@{k}: relevant items in the top min({k}, R), divided by min({k}, R) (official)",
}

# Bound on the [rows, G] float64 work arrays of one chunk of queries.
_CHUNK_CELLS = 1 << 22


def definition(name: str) -> str:
    """The one-line definition of a metric name such as ``map_all``, ``map_200`` or ``prec_100``."""
    if name in METRIC_DEFINITIONS:
        return METRIC_DEFINITIONS[name]
    parts = name.split("_")
    if len(parts) >= 2 and parts[1].isdigit():
        key = "_".join([parts[0], "{k}", *parts[2:]])
        if key in METRIC_DEFINITIONS:
            return METRIC_DEFINITIONS[key].format(k=parts[1])
    return ""


def rank_gallery(scores: np.ndarray) -> np.ndarray:
    """[Q, G] scores -> [Q, G] gallery indices, best first; ties by ascending gallery index."""
    s = np.asarray(scores, np.float64)
    s = np.where(np.isnan(s), -np.inf, s)
    return np.argsort(-s, axis=1, kind="stable")


def _check_inputs(scores: np.ndarray, q_labels: np.ndarray, g_labels: np.ndarray) -> None:
    if scores.ndim != 2:
        raise ValueError(f"scores must be [Q, G], got shape {scores.shape}")
    if q_labels.shape != (scores.shape[0],) or g_labels.shape != (scores.shape[1],):
        raise ValueError(
            f"labels {q_labels.shape} / {g_labels.shape} do not fit scores {scores.shape}: "
            "expected [Q] and [G]"
        )


def per_query_metrics(
    scores: np.ndarray,
    query_labels: Sequence[int] | np.ndarray,
    gallery_labels: Sequence[int] | np.ndarray,
    map_ks: Sequence[int] = (200,),
    prec_ks: Sequence[int] = (100, 200),
) -> dict[str, np.ndarray]:
    """Every metric for every query.

    Args:
        scores: [Q, G] similarity (larger = better).
        query_labels: [Q] class ids of the queries.
        gallery_labels: [G] class ids of the gallery items.
        map_ks: cut-offs K of ``map_K`` / ``map_K_lenient``.
        prec_ks: cut-offs K of ``prec_K``.

    Returns:
        ``{name: [Q] float64}`` for ``map_all``, ``ap_all``, ``map_K``, ``map_K_lenient``,
        ``prec_K``, plus ``num_relevant`` (R per query). NaN where R = 0.
    """
    s = np.asarray(scores)
    ql = np.asarray(query_labels)
    gl = np.asarray(gallery_labels)
    _check_inputs(s, ql, gl)
    nq, ng = s.shape
    names = ["map_all", "ap_all"] + [f"map_{k}" for k in map_ks] + [f"map_{k}_lenient" for k in map_ks]
    names += [f"prec_{k}" for k in prec_ks]
    out = {n: np.full(nq, np.nan) for n in names}
    out["num_relevant"] = np.zeros(nq)
    if ng == 0:
        return out
    step = max(1, _CHUNK_CELLS // ng)
    ranks = np.arange(1, ng + 1, dtype=np.float64)  # [G]
    for a in range(0, nq, step):
        b = min(nq, a + step)
        order = rank_gallery(s[a:b])  # [q, G]
        rel = gl[order] == ql[a:b, None]  # [q, G] bool
        r = rel.sum(1).astype(np.float64)  # [q]
        cum = np.cumsum(rel, axis=1, dtype=np.float64)  # [q, G]
        prec = cum / ranks  # [q, G]
        mono = np.maximum.accumulate(prec[:, ::-1], axis=1)[:, ::-1]
        has = r > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            out["map_all"][a:b] = np.where(has, (mono * rel).sum(1) / r, np.nan)
            out["ap_all"][a:b] = np.where(has, (prec * rel).sum(1) / r, np.nan)
            for k in map_ks:
                kk = min(int(k), ng)
                rel_k = rel[:, :kk]
                mono_k = np.maximum.accumulate(prec[:, :kk][:, ::-1], axis=1)[:, ::-1]
                total = (mono_k * rel_k).sum(1)
                found = rel_k.sum(1)
                out[f"map_{k}"][a:b] = np.where(has, total / np.minimum(float(k), r), np.nan)
                lenient = np.where(found > 0, total / np.maximum(found, 1), 0.0)
                out[f"map_{k}_lenient"][a:b] = np.where(has, lenient, np.nan)
            for k in prec_ks:
                m = np.minimum(int(k), r.astype(np.int64))  # [q]
                hits = np.take_along_axis(cum, np.maximum(m - 1, 0)[:, None], axis=1)[:, 0]
                out[f"prec_{k}"][a:b] = np.where(has, hits / np.maximum(m, 1), np.nan)
        out["num_relevant"][a:b] = r
    return out


def _nanmean(x: np.ndarray) -> float:
    # np.nanmean warns on an all-NaN slice; the answer there is simply NaN.
    finite = x[~np.isnan(x)]
    return float(finite.mean()) if finite.size else float("nan")


@dataclass(frozen=True)
class MetricReport:
    """Aggregated retrieval metrics.

    Attributes:
        metrics: ``{name: value}`` (``nanmean`` over queries); names as in ``per_query_metrics``.
        per_class: ``{class name: mAP@all}`` over the queries of each class (NaN when the class
            has no relevant gallery item).
        n_queries: queries evaluated.
        n_gallery: gallery size.
        n_without_positive: queries with R = 0 (left out of every mean).
        definitions: ``{name: one-line definition}`` for each metric.
    """

    metrics: dict[str, float]
    per_class: dict[str, float]
    n_queries: int
    n_gallery: int
    n_without_positive: int
    definitions: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly dict."""
        return {
            "metrics": dict(self.metrics),
            "per_class_map_all": dict(self.per_class),
            "n_queries": self.n_queries,
            "n_gallery": self.n_gallery,
            "n_without_positive": self.n_without_positive,
            "definitions": dict(self.definitions),
        }


def evaluate_scores(
    scores: np.ndarray,
    query_labels: Sequence[int] | np.ndarray,
    gallery_labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str] | None = None,
    map_ks: Sequence[int] = (200,),
    prec_ks: Sequence[int] = (100, 200),
) -> MetricReport:
    """All metrics of a score matrix, averaged over queries, plus per-class mAP@all.

    Args:
        scores: [Q, G] similarity (larger = better).
        query_labels: [Q] class ids of the queries.
        gallery_labels: [G] class ids of the gallery items.
        class_names: names of the class ids (default: the ids as text).
        map_ks: cut-offs of mAP@K. prec_ks: cut-offs of Prec@K.

    Returns:
        ``MetricReport``.
    """
    ql = np.asarray(query_labels)
    pq = per_query_metrics(scores, ql, gallery_labels, map_ks, prec_ks)
    metrics = {k: _nanmean(v) for k, v in pq.items() if k != "num_relevant"}
    per_class: dict[str, float] = {}
    for c in np.unique(ql):
        name = class_names[int(c)] if class_names is not None else str(c)
        per_class[name] = _nanmean(pq["map_all"][ql == c])
    return MetricReport(
        metrics=metrics,
        per_class=per_class,
        n_queries=int(len(ql)),
        n_gallery=int(np.asarray(scores).shape[1]),
        n_without_positive=int((pq["num_relevant"] == 0).sum()),
        definitions={k: definition(k) for k in metrics},
    )
