"""End-to-end runs of zse-index, zse-search and zse-explain on the tiny random-weight model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zse_gui.cli import explain, index, search
from zse_gui.cli.common import EXIT_GALLERY, EXIT_INPUT, EXIT_MODEL, EXIT_SKETCH, EXIT_USAGE
from zse_gui.viz import read_sidecar, redraw_correspondences

Q = ["-q"]
MODEL = ["--model", "zse_test", "--seed", "0", "--device", "cpu", "--precision", "fp32"]


def test_index_builds_then_reuses_the_cache(gallery: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert index.main([str(gallery), "--json", *Q, *MODEL]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["images"], first["classes"], first["encoded"], first["reused"]) == (9, 3, 9, 0)
    assert first["model"] == "zse_test" and len(first["weights_sha256"]) == 64
    (gallery / "dog" / "dog_0.png").unlink()
    assert index.main([str(gallery), *Q, *MODEL]) == 0
    out = capsys.readouterr().out
    assert "8 images in 3 classes (0 encoded, 8 from cache, 0 skipped)" in out


def test_index_tokens_int8_is_kept_and_searched(
    gallery: Path, sketch_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert index.main([str(gallery), "--json", "--tokens", "int8", *Q, *MODEL]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["tokens"], first["encoded"]) == ("int8", 9)
    assert index.main([str(gallery), "--json", *Q, *MODEL]) == 0  # auto keeps the cache's policy
    again = json.loads(capsys.readouterr().out)
    assert (again["tokens"], again["encoded"], again["reused"]) == ("int8", 0, 9)
    args = [str(sketch_png), "--gallery", str(gallery), "--top-k", "3", "--json", *Q, *MODEL]
    assert search.main(args) == 0  # the re-rank reads the int8 tokens of its shortlist
    doc = json.loads(capsys.readouterr().out)
    assert all(it["rn_score"] is not None for it in doc["items"])


def test_index_reports_unreadable_files_and_bad_galleries(
    gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (gallery / "cat" / "broken.png").write_bytes(b"not an image")
    assert index.main([str(gallery), "--json", *Q, *MODEL]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["images"] == 9 and [Path(s["path"]).name for s in doc["skipped"]] == ["broken.png"]
    assert index.main([str(tmp_path / "missing"), *Q, *MODEL]) == EXIT_GALLERY
    assert "not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert index.main([str(empty), *Q, *MODEL]) == EXIT_GALLERY
    assert "zse-index: error:" in capsys.readouterr().err


def test_search_table_and_json(gallery: Path, sketch_png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(sketch_png), "--gallery", str(gallery), "--top-k", "4", *Q, *MODEL]
    assert search.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:4] == ["rank", "rn", "ret", "s1"]
    assert [int(row.split()[0]) for row in lines[1:5]] == [1, 2, 3, 4]
    assert search.main([*args, "--json", "--mode", "ret"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "ret" and doc["gallery_size"] == 9 and len(doc["items"]) == 4
    assert all(it["rn_score"] is None for it in doc["items"])
    scores = [it["ret_score"] for it in doc["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(Path(it["path"]).is_file() for it in doc["items"])


def test_search_ndjson_marks_the_drawings_class(
    gallery: Path, ndjson: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(ndjson), "--drawing", "1", "--gallery", str(gallery), "--top-k", "9", "--json", *Q, *MODEL]
    assert search.main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["label"] == "dog" and doc["sketch"].endswith("#1")
    assert [it["match"] for it in doc["items"]] == [it["label"] == "dog" for it in doc["items"]]
    assert sum(it["match"] for it in doc["items"]) == 3
    assert search.main([str(ndjson), "--drawing", "5", "--gallery", str(gallery), *Q, *MODEL]) == EXIT_INPUT


def test_explain_a_photo_writes_figures_and_sidecar(
    gallery: Path, sketch_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    photo = gallery / "owl" / "owl_1.png"
    args = [str(sketch_png), str(photo), "--out", str(out), "--pairs", "5", "--all-patches", *Q, *MODEL]
    assert explain.main(args) == 0
    printed = capsys.readouterr().out
    assert "(5 pairs" in printed
    stem = "cross__owl_1"
    for view in ("correspondences", "attention", "synthesis", "kernel"):
        for fmt in ("png", "svg", "pdf"):
            assert (out / f"{stem}_{view}.{fmt}").is_file()
    doc = read_sidecar(out / f"{stem}.json")
    assert doc["model"]["name"] == "zse_test" and doc["photo"]["path"] == str(photo)
    assert doc["explanation"]["grid"] == 4 and doc["explanation"]["image_size"] == 32
    record = doc["views"]["correspondences"]
    assert len(record["pairs"]) == 5 and record["settings"]["ink_only"] is False
    svg = ET.parse(out / f"{stem}_correspondences.svg").getroot()
    ids = [
        g.get("id")
        for g in svg.iter("{http://www.w3.org/2000/svg}g")
        if (g.get("id") or "").startswith("pair-")
    ]
    assert len(ids) == 5
    assert (out / f"{stem}_kernel.pdf").read_bytes().startswith(b"%PDF-")
    # The PNG is reproducible from the sidecar: redraw it with the model inputs of the same run.
    from zse_gui.engine.engine import Engine
    from zse_gui.model import create_model

    eng = Engine(create_model("zse_test", seed=0), device="cpu", precision="fp32")
    expl = eng.explain(str(sketch_png), photo=str(photo))
    png = np.asarray(Image.open(out / f"{stem}_correspondences.png").convert("RGB"))
    assert np.array_equal(redraw_correspondences(record, expl.sketch_image, expl.photo_image), png)


def test_explain_readout_option_reaches_the_sidecar(gallery: Path, sketch_png: Path, tmp_path: Path) -> None:
    photo = gallery / "owl" / "owl_1.png"
    for readout in ("attention", "sinkhorn"):
        out = tmp_path / readout
        args = [str(sketch_png), str(photo), "--out", str(out), "--views", "correspondences"]
        assert explain.main([*args, "--format", "png", "--readout", readout, *Q, *MODEL]) == 0
        doc = read_sidecar(out / "cross__owl_1.json")
        assert doc["explanation"]["correspondence_readout"] == readout
        assert doc["views"]["correspondences"]["readout"] == readout
    with pytest.raises(SystemExit):
        explain.main([str(sketch_png), str(photo), "--readout", "argmax", *MODEL])


def test_explain_rank_with_report_from_ndjson(
    gallery: Path, ndjson: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [str(ndjson), "--rank", "2", "--gallery", str(gallery), "--out", str(out), "--format", "png,svg"]
    assert explain.main([*args, "--report", "3", "--views", "correspondences,synthesis", *Q, *MODEL]) == 0
    capsys.readouterr()
    doc = read_sidecar(out / "drawings__rank2.json")
    assert doc["photo"]["rank"] == 1 and doc["sketch"]["label"] == "cat"
    drawing = doc["sketch"]["drawing"]
    assert drawing["canvas_size"] == [256, 256] and len(drawing["strokes"]) == 2
    assert sorted(p.name for p in out.glob("drawings__rank2_*")) == [
        "drawings__rank2_correspondences.png",
        "drawings__rank2_correspondences.svg",
        "drawings__rank2_synthesis.png",
        "drawings__rank2_synthesis.svg",
    ]
    report = (out / "drawings__report.pdf").read_bytes()
    # strip + 3 results, each with its stroke and occlusion pages, + why #1 and not #2
    assert len(re.findall(rb"/Type\s*/Page\b", report)) == 11
    side = read_sidecar(out / "drawings__report.json")
    assert side["page_count"] == 11
    assert [len(p["strokes"]["per_stroke"]) for p in side["pages"]] == [2, 2, 2]  # one row per input stroke
    assert all(0.0 <= p["occlusion"]["deletion_auc"] <= 1.0 for p in side["pages"])
    con = side["contrast"]  # the closing page: why #1 and not #2, per patch of the 4 x 4 grid
    assert con["a"]["name"].startswith("#1") and con["b"]["name"].startswith("#2")
    assert len(con["difference_logit"]) == 4 and len(con["per_stroke"]) == 2


@pytest.mark.parametrize(
    ("make_args", "code", "message"),
    [
        (lambda d: [str(d["tmp"] / "nope.png"), str(d["photo"])], EXIT_INPUT, "not found"),
        (lambda d: [str(d["sketch"]), str(d["tmp"] / "nope.jpg")], EXIT_INPUT, "photo file"),
        (lambda d: [str(d["blank"]), str(d["photo"])], EXIT_SKETCH, "no ink"),
        (
            lambda d: [str(d["sketch"]), "--rank", "1", "--gallery", str(d["tmp"] / "nogal")],
            EXIT_GALLERY,
            "gallery",
        ),
        (lambda d: [str(d["sketch"]), "--rank", "99", "--gallery", str(d["gallery"])], EXIT_USAGE, "only 9"),
        (lambda d: [str(d["sketch"]), str(d["photo"]), "--head", "5"], EXIT_USAGE, "CA heads"),
        (lambda d: [str(d["sketch"]), str(d["photo"]), "--palette", "nope"], EXIT_USAGE, "colour map"),
        (lambda d: [str(d["sketch"]), str(d["photo"]), "--keep-mass", "0"], EXIT_USAGE, "keep_mass"),
    ],
)
def test_explain_errors(
    make_args, code: int, message: str, gallery: Path, sketch_png: Path, blank_png: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    d = {"tmp": tmp_path, "photo": gallery / "cat" / "cat_0.png", "sketch": sketch_png, "blank": blank_png,
         "gallery": gallery}  # fmt: skip
    assert explain.main([*make_args(d), "--out", str(tmp_path / "o"), *Q, *MODEL]) == code
    err = capsys.readouterr().err
    assert err.startswith("zse-explain: error:") and message in err


def test_model_errors(
    sketch_png: Path, gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [str(sketch_png), "--gallery", str(gallery), *Q]
    assert search.main([*base, "--model", "no_such_model", "--seed", "0"]) == EXIT_MODEL
    assert "known models" in capsys.readouterr().err
    assert search.main([*base, "--model", "zse_test"]) == EXIT_MODEL
    assert "--weights" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"junk")
    assert search.main([*base, "--model", "zse_test", "--weights", str(bad)]) == EXIT_MODEL
    assert search.main([*base, "--model", "zse_test", "--weights", str(tmp_path / "gone.pth")]) == EXIT_MODEL
    assert "not found" in capsys.readouterr().err


def test_usage_errors_exit_2(sketch_png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        explain.main([str(sketch_png), *MODEL])  # neither PHOTO nor --rank
    assert e.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as e:
        explain.main([str(sketch_png), "x.png", "--format", "gif", *MODEL])
    assert e.value.code == EXIT_USAGE
    assert "choose from png,svg,pdf" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["index", "search", "explain"])
def test_help_has_examples(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", f"zse_gui.cli.{module}", "--help"], capture_output=True, text=True, check=True
    )
    assert f"zse-{module}" in out.stdout and "examples:" in out.stdout and "Exit codes" in out.stdout


def test_without_model_options_the_bundled_default_is_required(
    sketch_png: Path,
    gallery: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from zse_gui.cli import common

    monkeypatch.setattr(common, "_default_model", lambda: None)  # as on a machine without models/
    assert search.main([str(sketch_png), "--gallery", str(gallery), *Q]) == EXIT_MODEL
    assert "pass --model NAME --weights FILE" in capsys.readouterr().err
    # With a default available, the tools use it without any model option.
    from zse_gui.model import create_model, save_safetensors

    weights = tmp_path / "tiny.safetensors"
    sha = save_safetensors(create_model("zse_test", seed=1), weights, "zse_test")
    monkeypatch.setattr(common, "_default_model", lambda: ("zse_test", str(weights)))
    assert search.main([str(sketch_png), "--gallery", str(gallery), "--json", "--device", "cpu", *Q]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == "zse_test" and doc["weights_sha256"] == sha


def test_search_reads_the_apps_stroke_files(
    gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zse_gui.sketch import Stroke, StrokeSketch, sketch_to_json

    sk = StrokeSketch((Stroke(np.array([[20, 20], [200, 180], [60, 220]], np.float32), 5.0),), (256, 256))
    path = tmp_path / "apple.json"
    path.write_text(json.dumps(sketch_to_json(sk)))
    assert search.main([str(path), "--gallery", str(gallery), "--json", *Q, *MODEL]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sketch"] == str(path) and len(doc["items"]) == 9


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        (lambda t: t, EXIT_INPUT, "is a folder"),
        (lambda t: (t / "notes.txt", (t / "notes.txt").write_text("hello"))[0], EXIT_INPUT, "cannot read"),
        (lambda t: t / "missing.png", EXIT_INPUT, "not found"),
        (lambda t: t / ("x" * 300 + ".png"), EXIT_INPUT, "sketch"),
        (lambda t: (t / "e.json", (t / "e.json").write_text('{"strokes": []}'))[0], EXIT_SKETCH, "strokes"),
    ],
)
def test_bad_sketches_fail_before_the_model_loads(
    make, code: int, message: str, gallery: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def no_model(*args: object) -> None:
        raise AssertionError("the model was loaded before the sketch was checked")

    monkeypatch.setattr(search, "build_engine", no_model)
    monkeypatch.setattr(explain, "build_engine", no_model)
    sketch = str(make(tmp_path))
    assert search.main([sketch, "--gallery", str(gallery), *Q, *MODEL]) == code
    err = capsys.readouterr().err
    assert err.startswith("zse-search: error:") and message in err
    assert explain.main([sketch, "--rank", "1", "--gallery", str(gallery), *Q, *MODEL]) == code


def test_progress_bars_only_for_real_work_on_a_terminal(
    gallery: Path, capsys: pytest.CaptureFixture[str], sketch_png: Path
) -> None:
    # not a terminal (pytest captures stderr): no bar and no carriage returns, even without -q
    assert search.main([str(sketch_png), "--gallery", str(gallery), *MODEL]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "img" not in err


def test_progress_callback_draws_only_unfinished_work_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from zse_gui.cli.common import progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    fake = Tty()
    monkeypatch.setattr(sys, "stderr", fake)
    with progress("indexing", True) as cb:
        cb(0, 0)
        cb(9, 9)  # all cached: nothing to show
    assert fake.getvalue() == ""
    with progress("indexing", True) as cb:
        cb(0, 4)
        cb(4, 4)
    assert "indexing" in fake.getvalue()
