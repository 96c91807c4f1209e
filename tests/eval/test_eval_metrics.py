"""Metrics against an independent brute-force reference on hand-made and random rankings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zse_gui.eval.metrics import definition, evaluate_scores, per_query_metrics, rank_gallery

# ---- an independent reference: plain Python loops, VOC-style curve with sentinels -------------


def _ranking(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda j: (-scores[j], j))


def _voc_ap(rel: list[bool], denom: int) -> float:
    """VOC all-point AP of a ranked relevance list, recall normalised by ``denom``."""
    hits = 0
    rec, prec = [], []
    for k, r in enumerate(rel, start=1):
        hits += r
        rec.append(hits / denom)
        prec.append(hits / k)
    mrec = [0.0, *rec, 1.0]
    mpre = [0.0, *prec, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def _plain_ap(rel: list[bool], n_rel: int) -> float:
    hits, total = 0, 0.0
    for k, r in enumerate(rel, start=1):
        if r:
            hits += 1
            total += hits / k
    return total / n_rel


def _reference(
    scores: np.ndarray, ql: np.ndarray, gl: np.ndarray, k_map: int, k_prec: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {n: [] for n in ("map_all", "ap_all", "map_k", "map_k_len", "prec_k")}
    for q in range(scores.shape[0]):
        order = _ranking(scores[q].tolist())
        rel = [bool(gl[j] == ql[q]) for j in order]
        n_rel = sum(rel)
        if n_rel == 0:
            for v in out.values():
                v.append(math.nan)
            continue
        top = rel[:k_map]
        out["map_all"].append(_voc_ap(rel, n_rel))
        out["ap_all"].append(_plain_ap(rel, n_rel))
        # A truncated VOC curve whose recall is normalised by min(K, R) (strict) ...
        out["map_k"].append(_voc_ap(top, min(k_map, n_rel)) if any(top) else 0.0)
        # ... or by the relevant items actually found in the top K (lenient).
        out["map_k_len"].append(_voc_ap(top, sum(top)) if any(top) else 0.0)
        m = min(k_prec, n_rel)
        out["prec_k"].append(sum(rel[:m]) / m)
    return out


def _nanmean(v: list[float]) -> float:
    x = [a for a in v if not math.isnan(a)]
    return sum(x) / len(x) if x else math.nan


# ---- hand-made rankings -------------------------------------------------------------------------


def test_hand_computed_values_interpolated_vs_plain() -> None:
    # One query of class 1; scores give the ranking (gallery index order): rel = [0, 1, 1].
    scores = np.array([[0.9, 0.5, 0.1, 0.8]])
    q = np.array([1])
    g = np.array([0, 1, 1, 0])  # ranking 0, 3, 1, 2 -> relevance 0, 0, 1, 1
    pq = per_query_metrics(scores, q, g, map_ks=(2,), prec_ks=(2,))
    # precision at the hits: 1/3 and 2/4; interpolated: max over later ranks -> 1/2 and 1/2.
    assert pq["ap_all"][0] == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert pq["map_all"][0] == pytest.approx(0.5)
    assert pq["map_2"][0] == 0.0 and pq["map_2_lenient"][0] == 0.0  # nothing relevant in the top 2
    assert pq["prec_2"][0] == 0.0
    # rel = [1, 0, 1]: plain AP (1 + 2/3) / 2, no interpolation gain.
    pq = per_query_metrics(np.array([[3.0, 2.0, 1.0]]), np.array([0]), np.array([0, 1, 0]))
    assert pq["map_all"][0] == pytest.approx(5 / 6) and pq["ap_all"][0] == pytest.approx(5 / 6)


def test_perfect_ranking_scores_one_and_reversed_is_known() -> None:
    g = np.array([0, 0, 1, 1, 1])
    q = np.array([0, 1])
    perfect = np.where(g[None, :] == q[:, None], 1.0, 0.0)
    rep = evaluate_scores(perfect, q, g, ["a", "b"], map_ks=(3,), prec_ks=(2, 3))
    assert all(v == pytest.approx(1.0) for v in rep.metrics.values())
    assert rep.per_class == {"a": pytest.approx(1.0), "b": pytest.approx(1.0)}
    # Class 0 query with its two positives ranked last (4th and 5th of 5).
    worst = per_query_metrics(-perfect[:1], q[:1], g, map_ks=(3,), prec_ks=(2,))
    assert worst["ap_all"][0] == pytest.approx((1 / 4 + 2 / 5) / 2)
    assert worst["map_all"][0] == pytest.approx((2 / 5 + 2 / 5) / 2)
    assert worst["map_3"][0] == 0.0 and worst["prec_2"][0] == 0.0


def test_ties_break_by_gallery_index() -> None:
    scores = np.array([[0.5, 0.5, 0.5, 0.9]])
    assert rank_gallery(scores)[0].tolist() == [3, 0, 1, 2]
    # With a tie, the earlier gallery item wins: relevant item 2 tied with irrelevant 0 and 1.
    pq = per_query_metrics(scores, np.array([1]), np.array([0, 0, 1, 0]))
    assert pq["ap_all"][0] == pytest.approx(1 / 4)
    # NaN scores rank last.
    assert rank_gallery(np.array([[np.nan, 0.1, -5.0]]))[0].tolist() == [1, 2, 0]


def test_fewer_positives_than_k_strict_vs_lenient_and_precision() -> None:
    # Class 0 has 2 positives in a gallery of 6; K = 4 > R.
    g = np.array([1, 0, 1, 1, 1, 0])
    scores = np.array([[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])  # ranking = gallery order: rel 0,1,0,0,0,1
    pq = per_query_metrics(scores, np.array([0]), g, map_ks=(4,), prec_ks=(4,))
    # top 4 holds one hit at rank 2 (precision 1/2): strict divides by min(4, 2) = 2, lenient by 1.
    assert pq["map_4"][0] == pytest.approx(0.25)
    assert pq["map_4_lenient"][0] == pytest.approx(0.5)
    # Prec@4 over min(4, R) = 2 items: one of the top 2 is relevant.
    assert pq["prec_4"][0] == pytest.approx(0.5)


def test_class_without_positive_is_nan_and_left_out() -> None:
    g = np.array([0, 0, 1])
    q = np.array([0, 2])  # no gallery item of class 2
    scores = np.array([[1.0, 0.9, 0.1], [0.3, 0.2, 0.1]])
    rep = evaluate_scores(scores, q, g, ["a", "b", "c"])
    assert rep.n_without_positive == 1
    assert rep.metrics["map_all"] == pytest.approx(1.0)  # nanmean over the one valid query
    assert math.isnan(rep.per_class["c"])
    none = evaluate_scores(scores[1:], q[1:], g)
    assert all(math.isnan(v) for v in none.metrics.values())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_rankings_with_ties_match_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_q, n_g, n_cls = 17, 40, 5
    g = rng.integers(0, n_cls, n_g)
    g[g == 4] = 3  # class 4 has no gallery item: those queries are NaN
    q = rng.integers(0, n_cls, n_q)
    scores = np.round(rng.normal(size=(n_q, n_g)), 1)  # coarse values -> many ties
    scores[:, :5] += (g[None, :5] == q[:, None]) * 0.7  # some signal
    k_map, k_prec = 7, 6  # smaller than most classes' R, larger than some
    ref = _reference(scores, q, g, k_map, k_prec)
    pq = per_query_metrics(scores, q, g, map_ks=(k_map,), prec_ks=(k_prec,))
    pairs = [
        ("map_all", "map_all"),
        ("ap_all", "ap_all"),
        ("map_k", f"map_{k_map}"),
        ("map_k_len", f"map_{k_map}_lenient"),
        ("prec_k", f"prec_{k_prec}"),
    ]
    for ref_name, name in pairs:
        np.testing.assert_allclose(pq[name], np.array(ref[ref_name]), rtol=1e-12, atol=1e-12, err_msg=name)
    rep = evaluate_scores(scores, q, g, map_ks=(k_map,), prec_ks=(k_prec,))
    for ref_name, name in pairs:
        assert rep.metrics[name] == pytest.approx(_nanmean(ref[ref_name]))


def test_chunking_does_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    import zse_gui.eval.metrics as metrics

    rng = np.random.default_rng(5)
    scores, q, g = rng.normal(size=(9, 30)), rng.integers(0, 3, 9), rng.integers(0, 3, 30)
    whole = per_query_metrics(scores, q, g)
    monkeypatch.setattr(metrics, "_CHUNK_CELLS", 31)  # one query per chunk
    parts = per_query_metrics(scores, q, g)
    for k in whole:
        np.testing.assert_array_equal(whole[k], parts[k])


def test_definitions_and_input_checks() -> None:
    assert "min(200, R)" in definition("map_200")
    assert "relevant items in the top min(100, R)" in definition("prec_100")
    assert "interpolated" in definition("map_all") and "lenient" in definition("map_200_lenient")
    rep = evaluate_scores(np.eye(3), np.arange(3), np.arange(3))
    assert set(rep.definitions) == set(rep.metrics) and all(rep.definitions.values())
    with pytest.raises(ValueError, match="do not fit scores"):
        per_query_metrics(np.zeros((2, 3)), np.zeros(3), np.zeros(3))
