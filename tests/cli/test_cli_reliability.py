"""Ordinary command-line mistakes give one line on stderr and the documented exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zse_gui.cli import explain, index, search
from zse_gui.cli.common import EXIT_GALLERY, EXIT_INPUT, EXIT_MODEL, EXIT_USAGE
from zse_gui.cli.text import json_safe, one_line

Q = ["-q"]
MODEL = ["--model", "zse_test", "--seed", "0", "--device", "cpu", "--precision", "fp32"]
LONG = "x" * 300  # one path component over the 255-byte limit


def _one_line_error(err: str, prog: str) -> None:
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith(f"{prog}: error:"), err


@pytest.mark.parametrize(
    ("where", "code"),
    [("sketch", EXIT_INPUT), ("gallery", EXIT_GALLERY), ("cache", EXIT_GALLERY), ("weights", EXIT_MODEL)],
)
def test_names_over_255_bytes(
    where: str, code: int, gallery: Path, sketch_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = str(tmp_path / LONG)
    args = {
        "sketch": [long, "--gallery", str(gallery), *MODEL],
        "gallery": [str(sketch_png), "--gallery", long, *MODEL],
        "cache": [str(sketch_png), "--gallery", str(gallery), "--cache-dir", long, *MODEL],
        "weights": [str(sketch_png), "--gallery", str(gallery), "--model", "zse_test", "--weights", long],
    }[where]
    assert search.main([*args, *Q]) == code
    err = capsys.readouterr().err
    _one_line_error(err, "zse-search")
    assert "255" in err or "too long" in err


def test_index_cache_dir_over_255_bytes(
    gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert index.main([str(gallery), "--cache-dir", str(tmp_path / LONG), *Q, *MODEL]) == EXIT_GALLERY
    _one_line_error(capsys.readouterr().err, "zse-index")
    assert index.main([str(tmp_path / LONG), *Q, *MODEL]) == EXIT_GALLERY
    _one_line_error(capsys.readouterr().err, "zse-index")


def test_binary_ndjson_and_negative_drawing(
    gallery: Path, ndjson: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "photo.ndjson"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    assert search.main([str(binary), "--gallery", str(gallery), *Q, *MODEL]) == EXIT_INPUT
    err = capsys.readouterr().err
    _one_line_error(err, "zse-search")
    assert "not a text file" in err
    assert search.main([str(ndjson), "--drawing", "-1", "--gallery", str(gallery), *Q, *MODEL]) == EXIT_USAGE
    err = capsys.readouterr().err
    _one_line_error(err, "zse-search")
    assert "--drawing" in err


def test_explain_out_naming_a_file_and_stem_escaping_out(
    sketch_png: Path, gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = gallery / "cat" / "cat_0.png"
    a_file = tmp_path / "figures"
    a_file.write_text("I am a file")
    assert explain.main([str(sketch_png), str(photo), "--out", str(a_file), *Q, *MODEL]) == EXIT_USAGE
    _one_line_error(capsys.readouterr().err, "zse-explain")
    assert a_file.read_text() == "I am a file"

    out = tmp_path / "out"
    for stem in ("../escaped", "/abs/x", "sub/x", ".hidden", "..", ""):
        code = explain.main([str(sketch_png), str(photo), "--out", str(out), "--stem", stem, *Q, *MODEL])
        assert code == EXIT_USAGE, stem
        _one_line_error(capsys.readouterr().err, "zse-explain")
    assert not list(tmp_path.glob("escaped*")) and not out.exists()


def test_long_sketch_name_gets_a_short_default_stem(
    gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = np.full((64, 64, 3), 255, np.uint8)
    img[10:54, 30:34] = 0
    sketch = tmp_path / ("s" * 240 + ".png")  # a legal name; "<stem>__<photo>_kernel.png" would not be
    Image.fromarray(img).save(sketch)
    out = tmp_path / "out"
    args = [str(sketch), str(gallery / "dog" / "dog_1.png"), "--out", str(out), "--format", "png", *Q, *MODEL]
    assert explain.main(args) == 0
    assert all(len(p.name) <= 255 for p in out.iterdir()) and any(out.iterdir())
    capsys.readouterr()


def _gallery_with_odd_names(gallery: Path) -> tuple[str, bytes]:
    src = gallery / "cat" / "cat_0.png"
    newline = "two\nlines.png"
    (gallery / "cat" / newline).write_bytes(src.read_bytes())
    raw = b"latin1-\xe9t\xe9.png"  # not UTF-8: Python sees lone surrogates
    with open(os.path.join(os.fsencode(gallery / "cat"), raw), "wb") as f:
        f.write(src.read_bytes())
    return newline, raw


def test_odd_file_names_in_table_and_json(
    gallery: Path, sketch_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newline, _ = _gallery_with_odd_names(gallery)
    args = [str(sketch_png), "--gallery", str(gallery), "--top-k", "11", "--mode", "ret", *Q, *MODEL]
    assert search.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 11 + 1  # header, one line per item, footer
    assert any("two\\nlines.png" in ln for ln in lines) and any(
        "latin1-\\xe9t\\xe9.png" in ln for ln in lines
    )
    assert search.main([*args, "--json"]) == 0
    text = capsys.readouterr().out
    text.encode("utf-8")  # no lone surrogates: strict encoders and parsers accept it
    assert "\\ud" not in text.lower()
    paths = [Path(it["path"]).name for it in json.loads(text)["items"]]
    assert newline in paths and "latin1-\\xe9t\\xe9.png" in paths


def test_index_lists_what_it_left_out(
    gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes((gallery / "cat" / "cat_0.png").read_bytes())
    (gallery / "dog" / "link.png").symlink_to(outside)
    assert index.main([str(gallery), "--json", *Q, *MODEL]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["images"] == 9
    assert [Path(s["path"]).name for s in doc["skipped"]] == ["link.png"]
    assert index.main([str(gallery), "--json", "--follow-symlinks", *Q, *MODEL]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 10


def test_batch_size_must_be_positive(gallery: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert index.main([str(gallery), "--batch-size", "0", *Q, *MODEL]) == EXIT_USAGE
    _one_line_error(capsys.readouterr().err, "zse-index")


def test_text_helpers() -> None:
    assert one_line("a\nb\tc") == "a\\nb\\tc"
    assert json_safe("x\udce9y") == "x\\xe9y" and json_safe("plain é") == "plain é"
    assert one_line("lone \ud800") == "lone \\ud800"
