"""Metrics of explanation quality where the truth is known (``benchmarks/explain_quality.py``).

All functions are plain numpy. Points are (x, y) in pixels of one image side ``size``; thresholds
are shares of that (longer) side. Patch ids are row-major on the grid.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "background_share",
    "deletion_summary",
    "pck",
    "random_pck",
    "sink_share",
]


def pck(pred: np.ndarray, true: np.ndarray, thresholds: tuple[float, ...], size: float) -> dict[float, float]:
    """Share of matches whose predicted point lies within ``t * size`` of the true point.

    Args:
        pred, true: [N, 2] points (N >= 1).
        thresholds: shares of ``size``.
        size: the image's longer side in the same units.

    Raises:
        ValueError: shapes differ or N = 0.
    """
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    if pred.shape != true.shape or pred.ndim != 2 or len(pred) == 0:
        raise ValueError(f"expected two equal non-empty [N, 2] arrays, got {pred.shape} and {true.shape}")
    d = np.linalg.norm(pred - true, axis=1)
    return {t: float((d <= t * size).mean()) for t in thresholds}


def random_pck(
    true: np.ndarray, centres: np.ndarray, thresholds: tuple[float, ...], size: float
) -> dict[float, float]:
    """Expected PCK of a matcher that picks a uniformly random patch: for each true point, the share
    of patch ``centres`` [P, 2] within the threshold, averaged over the N true points."""
    true, centres = np.asarray(true, np.float64), np.asarray(centres, np.float64)
    d = np.linalg.norm(true[:, None, :] - centres[None, :, :], axis=2)  # [N, P]
    return {t: float((d <= t * size).mean()) for t in thresholds}


def sink_share(matches: np.ndarray, k: int = 5) -> float:
    """Share of ``matches`` (chosen patch ids, [N]) that land on the ``k`` most-chosen patches
    (1.0 when every match picks the same patch; about k / P for an even spread)."""
    m = np.asarray(matches, np.int64)
    if len(m) == 0:
        raise ValueError("no matches")
    counts = np.bincount(m)
    return float(np.sort(counts)[::-1][:k].sum() / len(m))


def background_share(matches: np.ndarray, foreground: np.ndarray) -> float:
    """Share of ``matches`` (patch ids) on patches where ``foreground`` [P] is False."""
    m = np.asarray(matches, np.int64)
    if len(m) == 0:
        raise ValueError("no matches")
    return float((~np.asarray(foreground, bool)[m]).mean())


def deletion_summary(curves: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Summaries of deletion curves: relation score after masking 0, k1, k2, ... patches.

    Args:
        curves: order name -> [n_pairs, n_points] scores; column 0 (nothing masked) is the same
            for every order.

    Returns:
        Per order: ``auc`` (mean score over the points: lower = the score falls faster),
        ``drop_area`` (mean of ``score_0 - score_k``: higher = faster) and, when a ``"random"``
        order is present, ``ratio_vs_random`` = its drop_area / random's drop_area.
    """
    out: dict[str, dict[str, float]] = {}
    for name, c in curves.items():
        c = np.asarray(c, np.float64)
        out[name] = {"auc": float(c.mean()), "drop_area": float((c[:, :1] - c).mean())}
    if "random" in out:
        base = out["random"]["drop_area"]
        for v in out.values():
            v["ratio_vs_random"] = float(v["drop_area"] / base) if base > 0 else float("nan")
    return out
