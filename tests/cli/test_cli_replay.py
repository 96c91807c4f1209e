"""``zse-replay`` end to end on ``zse_test``: files written, numbers equal the engine's, typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from zse_gui.cli import replay
from zse_gui.cli.common import EXIT_SKETCH, EXIT_USAGE
from zse_gui.engine.engine import Engine
from zse_gui.model import create_model
from zse_gui.sketch import StrokeSketch, quickdraw_sketch, read_quickdraw_ndjson

Q = ["-q"]
MODEL = ["--model", "zse_test", "--seed", "0", "--device", "cpu", "--precision", "fp32"]


def test_replay_writes_curve_table_and_animation(
    gallery: Path, ndjson: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rep"
    args = [
        str(ndjson),
        "--drawing",
        "1",
        "--gallery",
        str(gallery),
        "--target-class",
        "owl",
        "--out",
        str(out),
    ]
    assert replay.main([*args, "--rerank-depth", "4", *Q, *MODEL]) == 0
    assert "class:owl" in capsys.readouterr().out
    for fmt in ("png", "svg", "pdf", "json"):
        assert (out / f"replay_curve.{fmt}").is_file()
    curve = json.loads((out / "replay_curve.json").read_text())
    drawing = quickdraw_sketch(read_quickdraw_ndjson(ndjson)[1])
    n = len(drawing.strokes)
    assert len(curve["ranks"]) == n and curve["gallery_size"] == 9
    # The last point of the curve is the rank a plain search gives the whole drawing.
    eng = Engine(create_model("zse_test", seed=0), device="cpu", precision="fp32")
    index = eng.index_gallery(gallery, cache_root=tmp_path / "c2")
    res = eng.search(drawing, index, top_k=9, rerank_depth=4)
    best = min(k for k, it in enumerate(res.items) if it.label == "owl")
    assert curve["ranks"][-1] == best + 1
    table = json.loads((out / "strokes.json").read_text())["strokes"]
    assert [row["stroke"] for row in table] == list(range(n))
    with Image.open(out / "replay.gif") as gif:
        assert gif.n_frames == n


def test_replay_writes_an_mp4_with_one_frame_per_stroke(
    gallery: Path, ndjson: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2

    out = tmp_path / "rep"
    args = [str(ndjson), "--gallery", str(gallery), "--target-class", "owl", "--out", str(out)]
    assert replay.main([*args, "--animation", "mp4", "--rerank-depth", "2", *Q, *MODEL]) == 0
    assert "replay.mp4" in capsys.readouterr().out and not (out / "replay.gif").exists()
    video = cv2.VideoCapture(str(out / "replay.mp4"))
    frames = 0
    while video.read()[0]:
        frames += 1
    video.release()
    strokes = len(quickdraw_sketch(read_quickdraw_ndjson(ndjson)[0]).strokes)
    assert frames == strokes + 3  # one per stroke, the last held four times as long


def test_target_rank_counts_like_the_results_grid(
    gallery: Path, ndjson: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--gallery", str(gallery), "--rerank-depth", "4", *Q, *MODEL]
    out = tmp_path / "top"
    assert replay.main([str(ndjson), "--target-rank", "1", "--out", str(out), *base]) == 0
    printed = capsys.readouterr().out
    curve = json.loads((out / "replay_curve.json").read_text())
    assert curve["ranks"][-1] == 1, "rank 1 is the whole drawing's top result, so it ends first"
    assert "rank:1: rank 1 of 9" in printed
    assert replay.main([str(ndjson), "--target-rank", "0", "--out", str(out), *base]) == EXIT_USAGE
    assert "1 .. 9" in capsys.readouterr().err


def test_replay_refuses_images_bad_targets_and_files_as_out(
    gallery: Path, ndjson: Path, sketch_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--gallery", str(gallery), *Q, *MODEL]
    assert (
        replay.main([str(sketch_png), "--target-rank", "1", "--out", str(tmp_path / "o"), *base])
        == EXIT_SKETCH
    )
    assert (
        replay.main([str(ndjson), "--target-class", "zebra", "--out", str(tmp_path / "o"), *base])
        == EXIT_USAGE
    )
    assert (
        replay.main([str(ndjson), "--target-rank", "99", "--out", str(tmp_path / "o"), *base]) == EXIT_USAGE
    )
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert replay.main([str(ndjson), "--target-rank", "1", "--out", str(afile), *base]) == EXIT_USAGE
    with pytest.raises(SystemExit):
        replay.main([str(ndjson), "--out", str(tmp_path / "o"), *base])  # a target is required
    capsys.readouterr()
    assert isinstance(quickdraw_sketch(read_quickdraw_ndjson(ndjson)[0]), StrokeSketch)


def test_explain_strokes_writes_one_sidecar_entry_per_input_stroke(
    gallery: Path, ndjson: Path, sketch_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zse_gui.cli import explain
    from zse_gui.engine.strokes import attribute_strokes
    from zse_gui.viz import read_sidecar

    out = tmp_path / "out"
    args = [str(ndjson), "--rank", "2", "--gallery", str(gallery), "--out", str(out), "--format", "png"]
    assert explain.main([*args, "--strokes", "--views", "kernel", *Q, *MODEL]) == 0
    capsys.readouterr()
    doc = read_sidecar(out / "drawings__rank2.json")
    rows = doc["strokes"]["per_stroke"]
    drawing = quickdraw_sketch(read_quickdraw_ndjson(ndjson)[0])
    assert [r["stroke"] for r in rows] == list(range(len(drawing.strokes)))
    assert (out / "drawings__rank2_strokes.png").is_file()
    # The numbers are the engine's: recompute the attribution of the same result directly.
    eng = Engine(create_model("zse_test", seed=0), device="cpu", precision="fp32")
    index = eng.index_gallery(gallery, cache_root=tmp_path / "c3")
    res = eng.search(drawing, index, top_k=10)
    attr = attribute_strokes(eng, drawing, index, res.items[1].index)
    for r, c in zip(rows, attr.contribution, strict=True):
        assert r["contribution_logit"] == pytest.approx(float(c), abs=1e-4)
    # A raster sketch has no strokes to attribute: a typed error, exit code 4.
    bad = [str(sketch_png), "--rank", "1", "--gallery", str(gallery), "--out", str(out), "--strokes"]
    assert explain.main([*bad, *Q, *MODEL]) == EXIT_SKETCH


def test_explain_contrast_writes_the_per_stroke_difference(
    gallery: Path, ndjson: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zse_gui.cli import explain
    from zse_gui.engine.strokes import contrast_strokes
    from zse_gui.viz import read_sidecar

    out = tmp_path / "out"
    args = [str(ndjson), "--rank", "1", "--contrast", "3", "--gallery", str(gallery), "--out", str(out)]
    assert explain.main([*args, "--format", "png", "--views", "kernel", *Q, *MODEL]) == 0
    capsys.readouterr()
    doc = read_sidecar(out / "drawings__rank1.json")
    rows = doc["contrast"]["per_stroke"]
    drawing = quickdraw_sketch(read_quickdraw_ndjson(ndjson)[0])
    eng = Engine(create_model("zse_test", seed=0), device="cpu", precision="fp32")
    index = eng.index_gallery(gallery, cache_root=tmp_path / "c4")
    res = eng.search(drawing, index, top_k=10)
    con = contrast_strokes(eng, drawing, index, res.items[0].index, res.items[2].index)
    assert [r["difference_logit"] for r in rows] == pytest.approx(
        [float(d) for d in con.difference], abs=1e-4
    )
    assert (out / "drawings__rank1_contrast.png").is_file()
    same = [str(ndjson), "--rank", "2", "--contrast", "2", "--gallery", str(gallery), "--out", str(out)]
    assert explain.main([*same, *Q, *MODEL]) == EXIT_USAGE


def test_explain_occlusion_records_the_map_and_its_deletion_area(
    gallery: Path, sketch_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zse_gui.cli import explain
    from zse_gui.viz import read_sidecar

    out = tmp_path / "out"
    photo = gallery / "dog" / "dog_0.png"
    args = [str(sketch_png), str(photo), "--out", str(out), "--format", "png", "--views", "kernel"]
    assert explain.main([*args, "--occlusion", "2", *Q, *MODEL]) == 0
    capsys.readouterr()
    occ = read_sidecar(out / "cross__dog_0.json")["occlusion"]
    assert len(occ["drop"]) == 4 and len(occ["deletion_scores"]) == 11
    assert occ["deletion_scores"][0] == pytest.approx(occ["base_score"], abs=1e-5)
    assert (out / "cross__dog_0_occlusion.png").is_file()
    assert explain.main([*args, "--occlusion", "9", *Q, *MODEL]) == EXIT_USAGE  # wider than the 4 x 4 grid
