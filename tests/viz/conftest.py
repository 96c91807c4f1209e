"""Hand-built explanations with known answers, so renderers are tested without the engine."""

from __future__ import annotations

import numpy as np
import pytest
from explanation_fixtures import make_explanation

from zse_gui.results import (
    Explanation,
    RankedItem,
    RetrievalResult,
)
from zse_gui.sketch import Stroke, StrokeSketch


@pytest.fixture
def expl() -> Explanation:
    return make_explanation()


@pytest.fixture
def expl14() -> Explanation:
    return make_explanation(grid=14, patch=16, heads=8, sa_heads=12)


@pytest.fixture
def strokes() -> StrokeSketch:
    pts = np.array([[10, 10], [50, 60], [90, 20]], np.float32)
    return StrokeSketch((Stroke(pts, 3.0), Stroke(pts[:1] + 5, 2.0)), (100, 80))


@pytest.fixture
def result() -> RetrievalResult:
    items = tuple(
        RankedItem(
            index=i,
            path=f"/g/{'cat' if i % 2 == 0 else 'dog'}/{i}.png",
            label="cat" if i % 2 == 0 else "dog",
            ret_score=0.9 - 0.1 * i,
            rn_score=0.8 - 0.1 * i,
            rn_logit=1.0 - i,
            stage1_rank=(i + 1) % 4,
            final_rank=i,
        )
        for i in range(4)
    )
    return RetrievalResult(items, "rerank", 4, {"encode": 1.0}, 10)


@pytest.fixture
def make_expl():  # type: ignore[no-untyped-def]
    """The factory itself, for tests that need a custom grid."""
    return make_explanation
