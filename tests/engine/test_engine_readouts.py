"""Correspondence readouts: attention argmax, two-stream dual softmax, Sinkhorn, gradient relevance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zse_gui.engine.engine import Engine
from zse_gui.engine.explain import (
    READOUTS,
    correspondences,
    correspondences_and_strength,
    dual_softmax,
    neighbourhood_consensus,
    sinkhorn,
    top_pairs,
)
from zse_gui.engine.relevance import attention_relevance, pair_relevance
from zse_gui.errors import UsageError
from zse_gui.sketch import StrokeSketch

P = 12
DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo_gallery"


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _planted(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sketch/photo-stream maps whose true matches are a permutation, with a sink photo column
    (patch 0) that every sketch row prefers in the sketch stream."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(P)
    logits = rng.normal(0, 0.3, (P, P))
    logits[np.arange(P), perm] += 3.0
    logits[:, 0] += 4.0  # the sink: strongest column of every sketch row
    sk = _softmax(logits)
    ph_logits = rng.normal(0, 0.3, (P, P))
    ph_logits[perm, np.arange(P)] += 3.0  # photo patch perm[i] attends back to sketch patch i
    return sk, _softmax(ph_logits), perm


def test_planted_sink_captures_every_row_under_attention_argmax() -> None:
    sk, ph, _ = _planted()
    corr = correspondences(sk, ph, np.ones(P, bool), None, readout="attention")
    assert np.all(corr.sketch_to_photo == 0)  # the failure the other readouts address


@pytest.mark.parametrize("readout", ["dual_softmax", "sinkhorn", "dual_sinkhorn"])
def test_normalised_readouts_recover_the_planted_permutation(readout: str) -> None:
    for seed in range(5):
        sk, ph, perm = _planted(seed)
        corr = correspondences(sk, ph, np.ones(P, bool), None, readout=readout)
        np.testing.assert_array_equal(corr.sketch_to_photo, perm)
        assert corr.readout == readout
        assert np.all((corr.sketch_score >= 0) & (corr.sketch_score <= 1))


def test_dual_softmax_is_the_two_stream_product() -> None:
    sk, ph, _ = _planted()
    d = dual_softmax(sk, ph)
    assert d[3, 5] == pytest.approx(sk[3, 5] * ph[5, 3])


def test_sinkhorn_balances_columns_and_keeps_rows_stochastic() -> None:
    sk, _, _ = _planted()
    rows = np.zeros(P, bool)
    rows[:6] = True
    s = sinkhorn(sk, rows=rows)
    np.testing.assert_allclose(s[rows].sum(1), 1.0, atol=1e-9)
    np.testing.assert_allclose(s[rows].sum(0), 6 / P, atol=1e-3)  # no column holds more than its share
    np.testing.assert_array_equal(s[~rows], sk[~rows])  # rows outside the selection are untouched
    assert (np.argmax(s[rows], 1) == 0).sum() <= 1  # the sink no longer takes every row


def test_unknown_readout_is_a_value_error() -> None:
    sk, ph, _ = _planted()
    with pytest.raises(ValueError, match="unknown correspondence readout"):
        correspondences(sk, ph, np.ones(P, bool), None, readout="nope")
    with pytest.raises(ValueError, match="relevance"):
        correspondences(sk, ph, np.ones(P, bool), None, readout="gradient")


def test_gradient_relevance_is_zero_where_the_score_does_not_depend(engine: Engine) -> None:
    """A logit that reads only photo CA token 1 + 7 depends on the photo stream's row for photo
    patch 7 and on nothing in the sketch stream: every other pair gets zero relevance."""
    m = engine.model
    cfg = engine.config
    gen = torch.Generator().manual_seed(0)
    sk = torch.randn(1, 1 + cfg.num_patches, cfg.embed_dim, generator=gen)
    ph = torch.randn(1, 1 + cfg.num_patches, cfg.embed_dim, generator=gen)
    w = torch.randn(cfg.embed_dim, generator=gen)
    with torch.inference_mode():  # as the engine calls it
        sk_rel, ph_rel = attention_relevance(m, sk, ph, logit_fn=lambda s, p: p[:, 1 + 7] @ w)
    assert np.all(sk_rel == 0)
    assert ph_rel[:, 7].sum() > 0
    assert np.all(np.delete(ph_rel, 7, axis=1) == 0)
    rel = pair_relevance(sk_rel, ph_rel)  # [sketch, photo]
    assert rel[:, 7].sum() > 0 and np.all(np.delete(rel, 7, axis=1) == 0)


def test_gradient_readout_on_zse_lite_ranks_the_attention_lines_by_relevance(
    lite: Engine, sketch: StrokeSketch
) -> None:
    """On the bundled model the relation logit does depend on the attention: the gradient readout
    keeps the attention's lines, gives them relevance strengths (the strongest = 1) and ranks
    them differently from the attention weights."""
    photo = DEMO / "fish" / "clownfish.jpg"
    att = lite.explain(sketch, photo=str(photo), readout="attention")
    grad = lite.explain(sketch, photo=str(photo), readout="gradient")
    a, g = att.correspondences[0], grad.correspondences[0]
    np.testing.assert_array_equal(a.sketch_to_photo, g.sketch_to_photo)
    ink = g.ink
    assert float(g.sketch_score[ink].max()) == pytest.approx(1.0)
    assert np.all(g.sketch_score >= 0) and (g.sketch_score[ink] > 0).sum() > 5
    assert not np.array_equal(top_pairs(a, 15), top_pairs(g, 15))
    assert grad.relation_logit == pytest.approx(att.relation_logit, abs=1e-5)  # the model is unchanged


@pytest.mark.parametrize("readout", READOUTS)
def test_engine_explain_records_the_readout(engine: Engine, sketch: StrokeSketch, readout: str) -> None:
    photo = np.random.default_rng(3).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    ex = engine.explain(sketch, photo=photo, readout=readout, faithfulness_top=2)
    assert {c.readout for c in ex.correspondences} == {readout}
    mean = ex.correspondences[0]
    assert np.all((mean.sketch_score[mean.ink] >= 0) & (mean.sketch_score[mean.ink] <= 1 + 1e-6))
    if readout == "gradient":  # same lines as the attention
        att = engine.explain(sketch, photo=photo, readout="attention")
        np.testing.assert_array_equal(mean.sketch_to_photo, att.correspondences[0].sketch_to_photo)
    assert ex.faithfulness is not None
    np.testing.assert_array_equal(
        ex.faithfulness.photo_patch, mean.sketch_to_photo[ex.faithfulness.sketch_patch]
    )


def test_engine_explain_rejects_an_unknown_readout(engine: Engine, sketch: StrokeSketch) -> None:
    photo = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(UsageError, match="readout"):
        engine.explain(sketch, photo=photo, readout="argmax")


G = 8  # grid of the consensus tests


def _field(shift: tuple[int, int], mirrored: bool) -> np.ndarray:
    """[G*G] photo patch of each sketch patch under a shift (and a left-right mirror), -1 off-grid."""
    r, c = np.divmod(np.arange(G * G), G)
    tr, tc = r + shift[0], (G - 1 - c if mirrored else c) + shift[1]
    ok = (tr >= 0) & (tr < G) & (tc >= 0) & (tc < G)
    return np.where(ok, tr * G + tc, -1)


@settings(max_examples=40, deadline=None)
@given(
    shift=st.tuples(st.integers(-2, 2), st.integers(-2, 2)),
    mirrored=st.booleans(),
    ink_bits=st.lists(st.booleans(), min_size=G * G, max_size=G * G),
    seed=st.integers(0, 2**16),
)
def test_consensus_keeps_every_line_of_a_rigid_field(
    shift: tuple[int, int], mirrored: bool, ink_bits: list[bool], seed: int
) -> None:
    """When every ink patch's best match follows one shift (same way round or mirrored), the
    neighbours' support of the true pair is the largest in its row: consensus keeps every line."""
    truth = _field(shift, mirrored)
    m = np.random.default_rng(seed).random((G * G, G * G)) * 1e-3
    on = truth >= 0
    m[np.arange(G * G)[on], truth[on]] += 1.0
    ink = np.array(ink_bits)
    out = neighbourhood_consensus(m, ink)
    rows = ink & on
    np.testing.assert_array_equal(np.argmax(out[rows], axis=1), truth[rows])
    np.testing.assert_array_equal(out[~ink], m[~ink])  # rows without ink are returned as they are


def test_consensus_lifts_a_weak_geometric_signal_but_invents_none() -> None:
    """Noisy maps with a weak true match per row (a mirrored shift): the plain argmax finds few
    true partners, consensus most. Maps without any signal: consensus does not land on an
    arbitrary truth more often than chance would (it imposes smoothness, not the answer)."""
    rng = np.random.default_rng(0)
    truth = _field((0, 0), mirrored=True)
    ink = np.ones(G * G, bool)
    m = rng.random((G * G, G * G)) ** 8
    m[np.arange(G * G), truth] += 0.3
    m /= m.sum(1, keepdims=True)
    plain = np.mean(np.argmax(m, 1) == truth)
    cons = np.mean(np.argmax(neighbourhood_consensus(m, ink), 1) == truth)
    assert plain < 0.3 and cons > 0.8
    hits = [
        np.mean(np.argmax(neighbourhood_consensus(rng.random((G * G, G * G)) ** 8, ink), 1) == truth)
        for _ in range(10)
    ]
    assert np.mean(hits) < 5 / (G * G)  # chance is 1 / 64


def test_consensus_needs_a_square_grid() -> None:
    with pytest.raises(ValueError, match="square grid"):
        neighbourhood_consensus(np.ones((12, 12)), np.ones(12, bool))


@pytest.mark.parametrize("readout", [r for r in READOUTS if r != "gradient"])
def test_correspondences_and_strength_returns_the_map_the_lines_were_read_from(readout: str) -> None:
    rng = np.random.default_rng(3)  # 16 patches: a 4 x 4 grid, as the consensus readout needs
    sm, pm = _softmax(rng.normal(0, 1, (16, 16))), _softmax(rng.normal(0, 1, (16, 16)))
    ink = np.ones(16, bool)
    ink[[2, 7]] = False
    corr, strength = correspondences_and_strength(sm, pm, ink, None, readout)
    plain = correspondences(sm, pm, ink, None, readout=readout)
    assert np.array_equal(corr.sketch_to_photo, plain.sketch_to_photo)
    assert np.allclose(corr.sketch_score, plain.sketch_score)
    assert np.allclose(strength[np.arange(16), corr.sketch_to_photo], corr.sketch_score, atol=1e-6)
