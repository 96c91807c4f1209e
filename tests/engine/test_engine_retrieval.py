"""Stage 1 against brute force, re-ranking against exhaustive RN, the projection cache, modes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from zse_gui.engine.engine import Engine
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.retrieval import ProjectionCache, cosine_scores, cosine_topk, l2_normalize
from zse_gui.errors import CancelledError, ConfigError, GalleryError
from zse_gui.model import create_model
from zse_gui.model.layers import CrossProjections
from zse_gui.sketch import StrokeSketch


@pytest.fixture
def gallery(engine: Engine, make_gallery: Callable[..., Path], cache_root: Path) -> GalleryIndex:
    return engine.index_gallery(make_gallery(per_class=4, root_files=2), cache_root=cache_root)


def _brute_order(scores: np.ndarray) -> np.ndarray:
    return np.lexsort((np.arange(len(scores)), -scores.astype(np.float64)))


@pytest.mark.parametrize("chunk", [7, 64, 100_000])
def test_cosine_topk_matches_brute_force(chunk: int) -> None:
    rng = np.random.default_rng(0)
    emb = l2_normalize(rng.normal(size=(500, 24)))
    queries = l2_normalize(rng.normal(size=(3, 24)))
    idx, sc = cosine_topk(queries, emb, 17, chunk=chunk)
    assert idx.shape == sc.shape == (3, 17)
    for q in range(3):
        full = emb @ queries[q]
        expected = _brute_order(full)[:17]
        np.testing.assert_array_equal(idx[q], expected)
        np.testing.assert_allclose(sc[q], full[expected], rtol=1e-6)
    one_i, one_s = cosine_topk(queries[0], emb, 5, chunk=chunk)
    np.testing.assert_array_equal(one_i, idx[0, :5])
    np.testing.assert_allclose(
        cosine_scores(queries, emb, chunk=chunk), queries @ emb.T, rtol=1e-5, atol=1e-6
    )


def test_cosine_topk_ties_and_bounds() -> None:
    emb = l2_normalize(np.array([[1, 0], [0, 1], [1, 0], [1, 0]], np.float32))
    idx, sc = cosine_topk(np.array([1.0, 0.0], np.float32), emb, 10, chunk=2)
    np.testing.assert_array_equal(idx, [0, 2, 3, 1])  # equal scores keep index order
    assert len(cosine_topk(np.array([1.0, 0.0], np.float32), emb, 0)[0]) == 0


def test_stage1_equals_brute_force_cosine(
    engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch
) -> None:
    q = engine.encode_sketch(sketch)
    res = engine.search_stage1(q, gallery, top_k=6)
    full = np.asarray(gallery.embeddings) @ q.ret
    expected = _brute_order(full)[:6]
    assert [it.index for it in res.items] == expected.tolist()
    assert res.mode == "ret" and res.gallery_size == len(gallery)
    for rank, it in enumerate(res.items):
        assert it.ret_score == pytest.approx(float(full[it.index]), abs=1e-6)
        assert it.stage1_rank == it.final_rank == rank and it.rn_score is None
        assert it.path == gallery.paths[it.index] and it.label == gallery.labels[it.index]
    # The shortlist can be longer than top_k for a later re-rank.
    assert len(engine.search_stage1(q, gallery, top_k=3, candidates=9).items) == 9


def test_rerank_full_depth_equals_exhaustive_rn(
    engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch
) -> None:
    n = len(gallery)
    exhaustive = engine.search(sketch, gallery, top_k=n, mode="rn")
    reranked = engine.search(sketch, gallery, top_k=n, rerank_depth=n, mode="rerank")
    assert exhaustive.mode == "rn" and reranked.mode == "rerank" and reranked.rerank_depth == n
    assert [it.index for it in reranked.items] == [it.index for it in exhaustive.items]
    np.testing.assert_allclose(
        [it.rn_logit for it in reranked.items], [it.rn_logit for it in exhaustive.items], rtol=0, atol=1e-6
    )
    # Both modes report the same stage-1 rank per item.
    assert [it.stage1_rank for it in reranked.items] == [it.stage1_rank for it in exhaustive.items]
    logits = [it.rn_logit for it in exhaustive.items]
    assert logits == sorted(logits, reverse=True)  # type: ignore[type-var]
    for it in exhaustive.items:
        assert it.rn_score == pytest.approx(1 / (1 + np.exp(-it.rn_logit)))  # type: ignore[operator]


def test_partial_rerank_keeps_the_tail_in_stage1_order(
    engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch
) -> None:
    q = engine.encode_sketch(sketch)
    s1 = engine.search_stage1(q, gallery, top_k=10)
    res = engine.rerank(q, gallery, s1, depth=4)
    assert res.rerank_depth == 4 and len(res.items) == 10
    head, tail = res.items[:4], res.items[4:]
    assert {it.index for it in head} == {it.index for it in s1.items[:4]}
    assert all(it.rn_logit is not None for it in head) and all(it.rn_logit is None for it in tail)
    assert [it.index for it in tail] == [it.index for it in s1.items[4:]]
    assert [it.final_rank for it in res.items] == list(range(10))
    assert sum(it.moved for it in head) == 0  # a permutation of the first four ranks
    assert "stage2" in res.timings_ms and "stage1" in res.timings_ms


def test_cached_projections_give_the_same_scores(
    engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch
) -> None:
    q = engine.encode_sketch(sketch)
    engine.projections.clear()
    idx = np.arange(len(gallery))[::-1]
    uncached = engine.rn_logits(q, gallery, idx, use_cache=False)
    assert len(engine.projections) == 0
    first = engine.rn_logits(q, gallery, idx)
    hits = engine.projections.hits
    second = engine.rn_logits(q, gallery, idx)
    assert engine.projections.hits - hits == len(idx)  # every item came from the cache
    np.testing.assert_allclose(first, uncached, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(first, second)
    # Pairs scored one at a time through the model's own path agree too.
    with torch.inference_mode():
        ph = torch.from_numpy(np.asarray(gallery.tokens[idx[:3]])).float()
        cross = engine.model.forward_cross(q.tokens.expand(3, -1, -1), ph)
        rel = engine.model.forward_relation(cross.sketch, cross.photo)
    np.testing.assert_allclose(rel.logit[:, 0].numpy(), first[:3], atol=1e-5)


def test_projection_cache_is_a_bounded_lru() -> None:
    cache = ProjectionCache(capacity=3)
    computed: list[list[int]] = []

    def compute(miss: list[int]) -> CrossProjections:
        computed.append(miss)
        t = torch.tensor(miss, dtype=torch.float32).view(-1, 1, 1, 1)
        return CrossProjections(t, t + 0.5, -t)

    out = cache.get_many("g", [1, 2, 3], compute)
    assert out.query.flatten().tolist() == [1, 2, 3] and len(cache) == 3
    cache.get_many("g", [1], compute)  # 1 becomes most recent
    cache.get_many("g", [4], compute)  # evicts 2, the least recent
    assert computed == [[1, 2, 3], [4]]
    cache.get_many("g", [2, 1], compute)
    assert computed[-1] == [2]
    out = cache.get_many("other", [1], compute)  # another gallery never shares entries
    assert computed[-1] == [1] and out.value.item() == 1.5
    assert len(cache) <= 3


def test_modes_and_errors(engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch) -> None:
    ret = engine.search(sketch, gallery, top_k=5, mode="ret")
    assert ret.mode == "ret" and len(ret.items) == 5 and ret.items[0].rn_score is None
    assert "encode" in ret.timings_ms
    with pytest.raises(ConfigError, match="unknown search mode"):
        engine.search(sketch, gallery, mode="fast")
    other = Engine(create_model("zse_test", seed=1), device="cpu")
    with pytest.raises(GalleryError, match="index it again"):
        other.search(sketch, gallery)
    with pytest.raises(ConfigError, match="another model"):
        other.search(engine.encode_sketch(sketch), gallery)


def test_cancel_between_stages(engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch) -> None:
    polls = {"n": 0}

    def counting() -> bool:
        polls["n"] += 1
        return False

    engine.search(sketch, gallery, top_k=5, rerank_depth=len(gallery), cancel=counting)
    total = polls["n"]
    assert total >= 3  # encode, stage 1, stage 2 (and RN batches)
    for stop_at in range(1, total + 1):
        polls["n"] = 0

        def cancel_at(k: int = stop_at) -> bool:
            polls["n"] += 1
            return polls["n"] >= k

        with pytest.raises(CancelledError):
            engine.search(sketch, gallery, top_k=5, rerank_depth=len(gallery), cancel=cancel_at)
    with pytest.raises(CancelledError):
        engine.search(sketch, gallery, mode="rn", cancel=lambda: True)


def test_bf16_engine_ranks_with_fp32_logits(
    gallery: GalleryIndex, sketch: StrokeSketch, cache_root: Path
) -> None:
    eng = Engine(create_model("zse_test", seed=0), device="cpu", precision="bf16")
    assert eng.dtype == torch.bfloat16
    assert next(eng.model.rn.parameters()).dtype == torch.float32
    assert next(eng.model.sa.parameters()).dtype == torch.bfloat16
    idx = eng.index_gallery(gallery.root, cache_root=cache_root)  # same weights: the cache is reused
    assert idx.num_encoded == 0
    res = eng.search(sketch, idx, top_k=5, rerank_depth=8)
    assert len(res.items) == 5 and all(np.isfinite(it.rn_logit) for it in res.items)  # type: ignore[arg-type]
