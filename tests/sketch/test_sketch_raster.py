"""Stroke rasterisation and the QuickDraw simplified ndjson reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zse_gui.errors import DatasetError, InvalidSketchError
from zse_gui.sketch import (
    QuickDrawDrawing,
    quickdraw_to_strokes,
    rasterize_strokes,
    read_quickdraw_ndjson,
)

QUICKDRAW_DIR = Path("/work/shared/data/quickdraw/ndjson")


def test_white_canvas_black_line() -> None:
    line = np.array([[10, 20], [90, 20]], np.float32)
    img = rasterize_strokes([(line, 3.0)], (100, 40))
    assert img.shape == (40, 100, 3) and img.dtype == np.uint8
    assert (img[0] == 255).all() and (img[-1] == 255).all()  # background untouched
    assert (img[20, 15:85] == 0).all()  # solid ink along the line
    # antialiased: some grey pixels at the stroke's edge
    grey = (img[..., 0] > 0) & (img[..., 0] < 255)
    assert grey.any()


def test_round_caps_extend_past_the_endpoints() -> None:
    line = np.array([[30, 30], [50, 30]], np.float32)
    img = rasterize_strokes([(line, 9.0)], (80, 60))
    assert img[30, 27, 0] < 128 and img[30, 53, 0] < 128  # cap radius 4.5 px beyond each end
    assert img[30, 20, 0] == 255


def test_single_point_draws_a_dot_and_width_grows_ink() -> None:
    dot = rasterize_strokes([(np.array([[20.0, 20.0]]), 6.0)], (40, 40))
    assert dot[20, 20, 0] == 0 and dot[0, 0, 0] == 255
    pts = np.array([[5, 5], [35, 30]], np.float32)
    thin = (rasterize_strokes([(pts, 1.0)], (40, 40))[..., 0] < 128).sum()
    thick = (rasterize_strokes([(pts, 5.0)], (40, 40))[..., 0] < 128).sum()
    assert thick > 2 * thin


def test_bad_strokes_raise() -> None:
    with pytest.raises(InvalidSketchError, match="stroke 0"):
        rasterize_strokes([(np.zeros((3, 3)), 2.0)], (10, 10))
    with pytest.raises(InvalidSketchError, match="canvas size"):
        rasterize_strokes([], (0, 10))
    with pytest.raises(InvalidSketchError, match="NaN"):
        rasterize_strokes([(np.array([[1.0, np.nan], [2, 2]]), 2.0)], (10, 10))


def _write_ndjson(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_quickdraw_ndjson(tmp_path: Path) -> None:
    rec = {
        "word": "cat",
        "countrycode": "DE",
        "recognized": True,
        "key_id": "123",
        "drawing": [[[0, 10, 20], [5, 6, 7]], [[255], [255]]],
    }
    p = _write_ndjson(tmp_path / "cat.ndjson", [json.dumps(rec), "", json.dumps({**rec, "key_id": "456"})])
    drawings = read_quickdraw_ndjson(p)
    assert [d.key_id for d in drawings] == ["123", "456"]
    d = drawings[0]
    assert d.word == "cat" and d.recognized and d.countrycode == "DE"
    assert d.strokes[0].dtype == np.float32 and d.strokes[0].shape == (3, 2)
    np.testing.assert_array_equal(d.strokes[0][:, 0], [0, 10, 20])
    np.testing.assert_array_equal(d.strokes[0][:, 1], [5, 6, 7])
    assert len(read_quickdraw_ndjson(p, limit=1)) == 1


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"word": "x"}', "'word' and 'drawing'"),
        ('{"word": "x", "drawing": [[[1, 2], [3]]]}', "different lengths"),
        ('{"word": "x", "drawing": [[["a"], ["b"]]]}', "non-numeric"),
    ],
)
def test_malformed_line_reports_line_number(tmp_path: Path, bad: str, match: str) -> None:
    good = json.dumps({"word": "x", "drawing": [[[1], [2]]]})
    p = _write_ndjson(tmp_path / "bad.ndjson", [good, bad])
    with pytest.raises(DatasetError, match=match) as info:
        read_quickdraw_ndjson(p)
    assert "bad.ndjson:2" in str(info.value)


def test_missing_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nope.ndjson"):
        read_quickdraw_ndjson(tmp_path / "nope.ndjson")


def test_quickdraw_to_strokes_scales_to_canvas() -> None:
    d = QuickDrawDrawing("x", "1", True, "US", [np.array([[0, 0], [128, 255]], np.float32)])
    strokes = quickdraw_to_strokes(d, pen_width=2.5, canvas=512)
    assert len(strokes) == 1 and strokes[0][1] == 2.5
    np.testing.assert_allclose(strokes[0][0], [[0, 0], [256, 510]])


@pytest.mark.skipif(not QUICKDRAW_DIR.is_dir(), reason="QuickDraw sample files not present")
def test_real_quickdraw_files_render_with_ink() -> None:
    files = sorted(QUICKDRAW_DIR.glob("*.ndjson"))[:3]
    assert files
    for f in files:
        drawings = read_quickdraw_ndjson(f, limit=4)
        assert 1 <= len(drawings) <= 4
        for d in drawings:
            assert d.word and all(s.ndim == 2 and s.shape[1] == 2 for s in d.strokes)
            img = rasterize_strokes(quickdraw_to_strokes(d), (256, 256))
            assert (img.sum(axis=2) <= 300).any()
