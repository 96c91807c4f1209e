"""zse-index --ray on a local Ray instance writes the same cache as the single-process indexer.

One test only: starting Ray costs several seconds even for two workers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from zse_gui.cli import index
from zse_gui.engine.cache import load_cache

ray = pytest.importorskip("ray")

Q = ["-q", "--json", "--batch-size", "4"]
MODEL = ["--model", "zse_test", "--seed", "0", "--device", "cpu", "--precision", "fp32"]


@pytest.fixture
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _cache(summary: dict[str, object]) -> tuple[dict[str, object], np.ndarray, np.ndarray]:
    cdir = Path(str(summary["cache_dir"]))
    doc = json.loads((cdir / "manifest.json").read_text())
    state = load_cache(cdir, {"config": "zse_test"})
    assert state is not None and state.intact
    return doc, np.asarray(state.embeddings), np.asarray(state.tokens)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")  # Ray's own internal deprecations
def test_ray_index_equals_single_process(
    gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], local_ray: None
) -> None:
    (gallery / "owl" / "broken.png").write_bytes(b"not an image")
    assert index.main([str(gallery), "--cache-dir", str(tmp_path / "one"), *Q, *MODEL]) == 0
    single = json.loads(capsys.readouterr().out)
    ray_args = ["--cache-dir", str(tmp_path / "ray"), "--ray", "--workers", "2"]
    assert index.main([str(gallery), *ray_args, *Q, *MODEL]) == 0
    dist = json.loads(capsys.readouterr().out)
    assert (dist["images"], dist["encoded"], dist["reused"]) == (9, 9, 0)
    assert [Path(s["path"]).name for s in dist["skipped"]] == ["broken.png"]
    doc_1, emb_1, tok_1 = _cache(single)
    doc_r, emb_r, tok_r = _cache(dist)
    assert doc_r["entries"] == doc_1["entries"] and doc_r["skipped"] == doc_1["skipped"]
    np.testing.assert_allclose(emb_r, emb_1, rtol=0, atol=1e-6)
    # fp16 tokens: equal up to one rounding step of float16 (relative 2**-10)
    np.testing.assert_allclose(tok_r.astype(np.float32), tok_1.astype(np.float32), rtol=2**-10, atol=1e-4)
    # the merged cache is an ordinary one: a plain zse-index run finds every file cached
    assert index.main([str(gallery), "--cache-dir", str(tmp_path / "ray"), *Q, *MODEL]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["encoded"], again["reused"]) == (0, 9)
    assert not list(Path(str(dist["cache_dir"])).glob("shards-*"))  # shards removed after the merge
