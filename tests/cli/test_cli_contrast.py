"""``zse-explain --contrast``: per-patch numbers equal the engine's, figures written, raster sketches too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zse_gui.cli import explain
from zse_gui.engine.contrast import contrast_patches
from zse_gui.engine.engine import Engine
from zse_gui.model import create_model
from zse_gui.sketch import quickdraw_sketch, read_quickdraw_ndjson
from zse_gui.viz import read_sidecar

Q = ["-q"]
MODEL = ["--model", "zse_test", "--seed", "0", "--device", "cpu", "--precision", "fp32"]


def _grid(rows: list[list[float | None]]) -> np.ndarray:
    return np.asarray([[np.nan if v is None else v for v in row] for row in rows], np.float64)


def test_contrast_writes_patch_and_correspondence_figures_with_the_engines_numbers(
    gallery: Path, ndjson: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [str(ndjson), "--rank", "1", "--contrast", "2", "--gallery", str(gallery), "--out", str(out)]
    assert explain.main([*args, "--views", "kernel", *Q, *MODEL]) == 0
    capsys.readouterr()
    for name in ("contrast.png", "contrast_patches.png", "contrast_correspondences.png", "contrast.svg"):
        assert (out / f"drawings__rank1_{name}").stat().st_size > 0, name
    rec = read_sidecar(out / "drawings__rank1.json")["contrast"]
    eng = Engine(create_model("zse_test", seed=0), device="cpu", precision="fp32")
    index = eng.index_gallery(gallery, cache_root=tmp_path / "c")
    drawing = quickdraw_sketch(read_quickdraw_ndjson(ndjson)[0])
    res = eng.search(drawing, index, top_k=10)
    con = contrast_patches(eng, drawing, index, res.items[0].index, res.items[1].index)
    np.testing.assert_allclose(_grid(rec["difference_logit"]), con.difference, atol=1e-4)
    assert rec["a"]["rank"] == 1 and rec["b"]["rank"] == 2 and rec["window_patches"] == 1
    assert rec["correspondences"]["a"] and rec["correspondences"]["b"]
    assert len(rec["per_stroke"]) == len(drawing.strokes)
    assert sorted(rec["figures"]) == sorted(p.name for p in out.glob("drawings__rank1_contrast*"))


def test_contrast_of_a_sketch_image_has_patches_but_no_strokes(
    gallery: Path, sketch_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [str(sketch_png), "--rank", "2", "--contrast", "1", "--gallery", str(gallery), "--out", str(out)]
    assert explain.main([*args, "--format", "png", "--views", "kernel", *Q, *MODEL]) == 0
    capsys.readouterr()
    rec = read_sidecar(out / f"{sketch_png.stem}__rank2.json")["contrast"]
    assert "per_stroke" not in rec and rec["a"]["rank"] == 2
    assert not (out / f"{sketch_png.stem}__rank2_contrast.png").exists()  # no strokes to colour
    assert (out / f"{sketch_png.stem}__rank2_contrast_patches.png").is_file()
    diff = _grid(rec["difference_logit"])
    assert np.isfinite(diff).any()


def test_report_contrast_page_numbers_equal_a_direct_contrast_of_results_1_and_2(
    gallery: Path, ndjson: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zse_gui.engine.strokes import contrast_strokes

    out = tmp_path / "out"
    args = [str(ndjson), "--rank", "1", "--report", "2", "--gallery", str(gallery), "--out", str(out)]
    assert explain.main([*args, "--format", "png", "--views", "kernel", *Q, *MODEL]) == 0
    capsys.readouterr()
    side = read_sidecar(out / "drawings__report.json")
    assert side["page_count"] == 1 + 2 * 3 + 1  # strip, 2 x (result, strokes, occlusion), contrast
    rec = side["contrast"]
    eng = Engine(create_model("zse_test", seed=0), device="cpu", precision="fp32")
    index = eng.index_gallery(gallery, cache_root=tmp_path / "c")
    drawing = quickdraw_sketch(read_quickdraw_ndjson(ndjson)[0])
    res = eng.search(drawing, index, top_k=10)
    a, b = res.items[0].index, res.items[1].index
    assert (rec["a"]["index"], rec["b"]["index"]) == (a, b)
    strokes = contrast_strokes(eng, drawing, index, a, b)
    got = [r["difference_logit"] for r in rec["per_stroke"]]
    assert got == pytest.approx([float(d) for d in strokes.difference], abs=1e-4)
    patches = contrast_patches(eng, drawing, index, a, b)
    np.testing.assert_allclose(_grid(rec["difference_logit"]), patches.difference, atol=1e-4)
