"""zse-index --ann and --export: the exported files load back with numpy, pyarrow and FAISS."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from zse_gui.cli import index
from zse_gui.cli.common import EXIT_USAGE

pq = pytest.importorskip("pyarrow.parquet")

Q = ["-q"]
MODEL = ["--model", "zse_test", "--seed", "0", "--device", "cpu", "--precision", "fp32"]


@pytest.mark.parametrize("ann", ["exact", "hnsw"])
def test_export_round_trips(
    gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ann: str
) -> None:
    out = tmp_path / "vectors"
    assert index.main([str(gallery), "--json", "--ann", ann, "--export", str(out), *Q, *MODEL]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stage1"] == ann
    emb = np.load(out / "embeddings.npy")
    meta = pq.read_table(out / "metadata.parquet").to_pylist()
    info = json.loads((out / "export.json").read_text())
    assert emb.dtype == np.float32 and emb.shape == (9, info["dim"])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert [m["row"] for m in meta] == list(range(9))
    assert [Path(m["path"]).parent.name for m in meta] == [m["class"] for m in meta]
    assert {m["weights_sha256"] for m in meta} == {summary["weights_sha256"]}
    assert {m["model"] for m in meta} == {"zse_test"}
    # the same embeddings as the cache the app uses
    manifest = json.loads((Path(summary["cache_dir"]) / "manifest.json").read_text())
    np.testing.assert_array_equal(emb, np.load(Path(summary["cache_dir"]) / manifest["arrays"]["embeddings"]))
    fidx = faiss.read_index(str(out / "index.faiss"))
    assert fidx.ntotal == 9 and info["kind"] == ("flat" if ann == "exact" else "hnsw")
    dist, rows = fidx.search(emb[[4]], 3)
    assert rows[0, 0] == 4  # every item is its own nearest neighbour
    exact = np.argsort(-(emb @ emb[4]), kind="stable")[:3]
    assert set(rows[0]) == set(exact)


def test_export_into_a_file_is_refused_before_indexing(
    gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "a_file"
    target.write_text("keep me")
    assert index.main([str(gallery), "--export", str(target), *Q, *MODEL]) == EXIT_USAGE
    assert "not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_unknown_ann_choice_is_a_usage_error(gallery: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:  # argparse refuses it before anything loads
        index.main([str(gallery), "--ann", "annoy", *Q, *MODEL])
    assert exc.value.code == EXIT_USAGE
    assert "--ann" in capsys.readouterr().err
