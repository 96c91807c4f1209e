"""Stage 1 at scale: exact below the threshold, FAISS shortlist + exact re-scoring above it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from zse_gui.engine import ann
from zse_gui.engine.ann import AnnIndexError, ExactStage1, FaissStage1, load_ann_file, open_stage1
from zse_gui.engine.engine import Engine
from zse_gui.engine.retrieval import cosine_topk, l2_normalize
from zse_gui.errors import ConfigError
from zse_gui.sketch import StrokeSketch


def clustered(n: int, d: int, seed: int = 0, clusters: int = 20) -> np.ndarray:
    """Normalised vectors around random centres (real embeddings are clustered, not uniform)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    x = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, d))
    return l2_normalize(x.astype(np.float32))


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact, strict=True)]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    emb = clustered(3000, 32)
    noise = np.random.default_rng(1).standard_normal((20, 32)).astype(np.float32)
    queries = l2_normalize(emb[:20] + 0.3 * noise)  # from the same distribution as the gallery
    return emb, queries


def test_small_gallery_stays_exact(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    emb, q = data
    s1 = open_stage1(tmp_path, "gen000000001", emb, threshold=10_000)
    assert isinstance(s1, ExactStage1)
    got_i, got_s = s1.search(q, 10)
    want_i, want_s = cosine_topk(q, emb, 10)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)
    assert not list(tmp_path.glob("ann-*"))  # nothing written for an exact scan


@pytest.mark.parametrize("kind", ["ivfpq", "hnsw"])
def test_faiss_shortlist_is_rescored_exactly(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], kind: str
) -> None:
    emb, q = data
    s1 = open_stage1(tmp_path, "gen000000001", emb, mode=kind, shortlist=300)
    assert isinstance(s1, FaissStage1) and s1.kind == kind
    got_i, got_s = s1.search(q, 20)
    want_i, _ = cosine_topk(q, emb, 20)
    assert recall(got_i, want_i) >= 0.9
    for r in range(len(q)):
        assert len(set(got_i[r])) == 20
        np.testing.assert_allclose(got_s[r], emb[got_i[r]] @ q[r], rtol=0, atol=1e-6)  # true cosines
        assert np.all(np.diff(got_s[r]) <= 0)  # best first
    one_i, one_s = s1.search(q[3], 20)  # a single [C] query gives [k] arrays
    np.testing.assert_array_equal(one_i, got_i[3])
    assert (tmp_path / f"ann-gen000000001-{kind}.faiss").is_file()


def test_shortlist_covering_the_gallery_equals_exact(data: tuple[np.ndarray, np.ndarray]) -> None:
    emb, q = data
    index, params = ann.build_faiss("ivfpq", emb)
    s1 = FaissStage1(index, params, emb, shortlist=len(emb))
    got_i, got_s = s1.search(q, 15)
    want_i, want_s = cosine_topk(q, emb, 15)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_s, want_s, atol=1e-6)


def test_refined_index_rescores_the_8bit_best_exactly_and_round_trips(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    emb, q = data
    index, params = ann.build_faiss("ivfpq", emb, refine_from=1000)  # forced: real use starts at 2M
    assert params.factory.endswith(",Refine(SQ8)") and params.refine == 1000
    assert ann.build_faiss("ivfpq", emb)[1].refine == 0  # the default keeps small galleries unrefined
    want_i, _ = cosine_topk(q, emb, 20)
    coarse = FaissStage1(index, params, emb, shortlist=300, exact=False)
    got_i, got_s = coarse.search(q, 20)
    assert got_i.shape == got_s.shape == (len(q), 20)
    for r in range(len(q)):
        assert len(set(got_i[r])) == 20 and np.all(np.diff(got_s[r]) <= 0)
        # cosines of the 8-bit reconstructions: close to, but not bit-equal with, the exact ones
        np.testing.assert_allclose(got_s[r], emb[got_i[r]] @ q[r], rtol=0, atol=0.02)
    assert np.any(np.abs(got_s - np.stack([emb[got_i[r]] @ q[r] for r in range(len(q))])) > 1e-6)
    default = FaissStage1(index, params, emb, shortlist=300)  # the 8-bit top 80 re-scored exactly
    ex_i, ex_s = default.search(q, 20)
    assert recall(ex_i, want_i) >= recall(got_i, want_i) and recall(ex_i, want_i) >= 0.95
    for r in range(len(q)):
        np.testing.assert_allclose(ex_s[r], emb[ex_i[r]] @ q[r], rtol=0, atol=1e-6)  # true cosines
        assert np.all(np.diff(ex_s[r]) <= 0)
    # Re-scoring only the 8-bit top 20 keeps the 8-bit set; a longer re-score can only add true neighbours.
    same = FaissStage1(index, params, emb, shortlist=300, rescore=20).search(q[5], 20)[0]
    assert set(same) == set(got_i[5])
    path = tmp_path / "ann-g1-ivfpq.faiss"
    ann.save_ann_file(path, index, params, "g1")
    loaded, lparams = load_ann_file(path, generation="g1", n=len(emb), d=emb.shape[1])
    assert lparams == params
    assert loaded.k_factor == pytest.approx(1000 / 50)  # searching did not change the saved default
    np.testing.assert_array_equal(FaissStage1(loaded, lparams, emb, shortlist=300).search(q, 20)[0], ex_i)


def test_index_file_of_the_previous_format_is_rebuilt(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    emb, _ = data
    open_stage1(tmp_path, "g1", emb, mode="ivfpq")
    path = tmp_path / "ann-g1-ivfpq.faiss"
    raw = path.read_bytes()
    assert raw.startswith(b"ZSEANN2\n")
    path.write_bytes(b"ZSEANN1\n" + raw[len(b"ZSEANN2\n") :])  # a file written before "refine" existed
    with pytest.raises(AnnIndexError, match="not a zse-gui stage-1 index"):
        load_ann_file(path)
    assert open_stage1(tmp_path, "g1", emb, mode="ivfpq").kind == "ivfpq"  # logged and rebuilt
    assert "unusable" in caplog.text
    assert path.read_bytes().startswith(b"ZSEANN2\n")


def test_auto_goes_approximate_above_threshold(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    emb, _ = data
    monkeypatch.setenv(ann.ENV_THRESHOLD, "1000")
    assert open_stage1(tmp_path, "g1", emb).kind == "ivfpq"
    monkeypatch.setenv(ann.ENV_THRESHOLD, "5000")
    assert open_stage1(tmp_path, "g1", emb).kind == "exact"
    monkeypatch.setenv(ann.ENV_THRESHOLD, "lots")
    with pytest.raises(ConfigError, match="ZSE_ANN_THRESHOLD"):
        open_stage1(tmp_path, "g1", emb)
    with pytest.raises(ConfigError, match="unknown stage-1 index"):
        open_stage1(tmp_path, "g1", emb, mode="lsh")


def test_saved_index_is_loaded_not_rebuilt(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    emb, q = data
    first = open_stage1(tmp_path, "g1", emb, mode="ivfpq")

    def no_build(*a: object, **k: object) -> None:
        raise AssertionError("rebuilt although a valid file exists")

    monkeypatch.setattr(ann, "build_faiss", no_build)
    again = open_stage1(tmp_path, "g1", emb, mode="ivfpq")
    np.testing.assert_array_equal(first.search(q, 10)[0], again.search(q, 10)[0])


def test_damaged_or_foreign_file_is_rebuilt(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    emb, q = data
    open_stage1(tmp_path, "g1", emb, mode="ivfpq")
    path = tmp_path / "ann-g1-ivfpq.faiss"
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(AnnIndexError, match="checksum"):
        load_ann_file(path)
    open_stage1(tmp_path, "g1", emb, mode="ivfpq")  # rebuilds over the damaged file
    with pytest.raises(AnnIndexError, match="generation"):
        load_ann_file(path, generation="other")
    path.write_bytes(b"garbage" * 10)
    s1 = open_stage1(tmp_path, "g1", emb, mode="ivfpq")  # logs and rebuilds, no exception
    assert "unusable" in caplog.text
    load_ann_file(path, generation="g1", n=len(emb), d=emb.shape[1])  # valid again
    assert s1.search(q, 5)[0].shape == (len(q), 5)
    with pytest.raises(AnnIndexError, match="expected 5"):
        load_ann_file(path, n=5)


def test_new_generation_reuses_training_and_drops_old_file(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    emb, q = data
    open_stage1(tmp_path, "g1", emb, mode="ivfpq")
    trained: list[int] = []
    real_factory = ann._faiss().index_factory

    def counting_factory(*a: object, **k: object) -> object:
        trained.append(1)
        return real_factory(*a, **k)

    monkeypatch.setattr(ann._faiss(), "index_factory", counting_factory)
    grown = np.concatenate([emb, clustered(500, 32, seed=7)])
    s1 = open_stage1(tmp_path, "g2", grown, mode="ivfpq")
    assert trained == []  # the previous generation's quantisers were reused
    assert [p.name for p in tmp_path.glob("ann-*")] == ["ann-g2-ivfpq.faiss"]
    got, _ = s1.search(q, 10)
    assert recall(got, cosine_topk(q, grown, 10)[0]) >= 0.9


def test_tiny_gallery_cannot_train_ivfpq_and_stays_exact(tmp_path: Path) -> None:
    emb = clustered(50, 16)
    assert open_stage1(tmp_path, "g1", emb, mode="ivfpq").kind == "exact"


def test_engine_uses_forced_index_and_keeps_the_choice(
    engine: Engine,
    make_gallery: Callable[..., Path],
    cache_root: Path,
    sketch: StrokeSketch,
) -> None:
    root = make_gallery(per_class=4)
    exact = engine.search(sketch, engine.index_gallery(root, cache_root), top_k=5, mode="ret")
    gal = engine.index_gallery(root, cache_root, ann="hnsw")
    assert gal.stage1().kind == "hnsw"
    assert len(list(gal.cache_dir.glob("ann-*-hnsw.faiss"))) == 1
    again = engine.index_gallery(root, cache_root)  # no flag: the kept choice applies
    assert again.stage1().kind == "hnsw"
    got = engine.search(sketch, again, top_k=5, mode="ret")
    # the shortlist covers this tiny gallery, so the ranking is the exact one
    assert [it.index for it in got.items] == [it.index for it in exact.items]
    np.testing.assert_allclose(
        [it.ret_score for it in got.items], [it.ret_score for it in exact.items], atol=1e-6
    )
    assert engine.index_gallery(root, cache_root, ann="auto").stage1().kind == "exact"
    with pytest.raises(ConfigError, match="unknown stage-1"):
        engine.index_gallery(root, cache_root, ann="annoy")
