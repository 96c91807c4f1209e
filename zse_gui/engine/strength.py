"""An honest match strength: how far a result's relation score stands out from this sketch's others.

The raw relation score (a sigmoid) is near 1 for almost any pair the re-ranking sees: a scribble
and a photo of garlic can score 0.96. What tells a real match from the best of a bad lot is the
gap between the result and the sketch's other scores. So the strength is a robust z-score of the
result's relation logit against the logits of the other re-ranked results of the same search:

    z = (logit - median(others)) / max(1.4826 * MAD(others), MIN_SPREAD)

(1.4826 * MAD estimates a standard deviation while ignoring the few true matches among the others).
A top result with ``z < NO_CLEAR_MATCH_Z`` is reported as "no clear match". The threshold was fitted on
held-out doodles of seen classes and of classes missing from the demo gallery
(``benchmarks/strength.py``; numbers in ``docs/explanations.md``, method in ``docs/strokes.md``). numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zse_gui.results import RetrievalResult
from zse_gui.stroke_results import MatchStrength

__all__ = [
    "MIN_INK_SHARE",
    "MIN_POOL",
    "MIN_SPREAD",
    "NO_CLEAR_MATCH_Z",
    "TOO_LITTLE_INK",
    "match_strength",
    "result_strength",
    "strength_z",
]

# Fitted by benchmarks/strength.py for zse_lite v2; v3 fits 3.8 but barely separates (docs/explanations.md).
NO_CLEAR_MATCH_Z = 3.0
MIN_SPREAD = 0.05  # logits: a floor for the spread, so identical scores do not divide by zero
MIN_POOL = 5  # fewer other scores than this: no distribution to stand out from
# Ink whose bounding box is under this share of the canvas's longer side (a dot, a tick) is blown
# up to the whole model input by the ink crop: whatever scores best then stands out by chance.
MIN_INK_SHARE = 0.04
TOO_LITTLE_INK = "too little drawn to judge"


def strength_z(logit: float, others: Sequence[float] | np.ndarray) -> float:
    """Robust standardised gap of ``logit`` against ``others`` (see the module docstring)."""
    o = np.asarray(others, np.float64)
    o = o[np.isfinite(o)]
    if len(o) == 0:
        return float("nan")
    med = float(np.median(o))
    mad = float(np.median(np.abs(o - med)))
    return (float(logit) - med) / max(1.4826 * mad, MIN_SPREAD)


def match_strength(
    logit: float, others: Sequence[float] | np.ndarray, threshold: float = NO_CLEAR_MATCH_Z
) -> MatchStrength:
    """The strength of one result whose relation logit is ``logit``, against the sketch's ``others``.

    Args:
        logit: the result's relation logit.
        others: relation logits of the other results of the same search (the re-ranked shortlist).
        threshold: z below which the label says "no clear match".
    """
    o = np.asarray(others, np.float64)
    o = o[np.isfinite(o)]
    score = float(1.0 / (1.0 + np.exp(-float(logit))))
    if len(o) < MIN_POOL:
        return MatchStrength(
            float("nan"),
            float("nan"),
            score,
            "not enough results to compare",
            len(o),
            f"Relation score {score:.3f}. Only {len(o)} other re-ranked results: too few to say whether "
            "this one stands out. Re-rank more results (a larger re-rank depth) to get a strength.",
        )
    z = strength_z(logit, o)
    pct = float((o < logit).mean())
    label = "clear match" if z >= threshold else "no clear match"
    tip = (
        f"Stands out by {z:.1f} (robust z-score): its relation logit {logit:.2f} against the median "
        f"{np.median(o):.2f} of the {len(o)} other re-ranked results, in units of their spread. It beats "
        f"{pct:.0%} of them. The raw relation score ({score:.3f}) is near 1 for most pairs, so it does not "
        f"say much on its own. Below {threshold:g} the app says 'no clear match': nothing in the gallery "
        "stands out for this sketch (often because its class is not in the gallery; several photos of "
        "one class scoring alike also lower it)."
    )
    return MatchStrength(z, pct, score, label, len(o), tip)


def result_strength(
    result: RetrievalResult,
    position: int = 0,
    threshold: float = NO_CLEAR_MATCH_Z,
    ink_share: float | None = None,
) -> MatchStrength:
    """``match_strength`` of item ``position`` of a re-ranked result against its other re-ranked items.

    Items without a relation logit (stage 1 only) are not part of the distribution; an item
    without one gets the "not enough results" strength. ``ink_share`` (the sketch's ink extent over
    the canvas's longer side): under ``MIN_INK_SHARE`` the strength says "too little drawn to
    judge" instead of a z, however far the result stands out.
    """
    logits = [it.rn_logit for it in result.items]
    mine = logits[position]
    others = [v for k, v in enumerate(logits) if k != position and v is not None]
    if mine is None:
        return match_strength(float("nan"), [], threshold)
    s = match_strength(float(mine), others, threshold)
    if ink_share is not None and ink_share < MIN_INK_SHARE:
        return MatchStrength(
            float("nan"),
            s.percentile,
            s.score,
            TOO_LITTLE_INK,
            s.pool,
            f"The drawing is a dot or a tick ({ink_share:.0%} of the canvas across; under "
            f"{MIN_INK_SHARE:.0%}). The model enlarges the ink to fill its input, so any photo can stand "
            f"out for it (here by {s.z:.1f}). Draw more of the object to get a match strength.",
        )
    return s
