"""The sketch module and sketch files: stroke JSON, fitting, digests, loading any sketch file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zse_gui.data.sketch_files import load_sketch_file, require_ink
from zse_gui.errors import InputFileError, InvalidSketchError
from zse_gui.sketch import (
    Stroke,
    StrokeSketch,
    fit_sketch,
    query_digest,
    sketch_from_json,
    sketch_query,
    sketch_to_json,
)


def _stroke(*pts: tuple[float, float], width: float = 4.0) -> Stroke:
    return Stroke(np.asarray(pts, np.float32), width)


def zigzag(canvas: tuple[int, int] = (512, 512)) -> StrokeSketch:
    pts = np.array([[60, 400], [160, 120], [260, 380], [360, 110], [460, 390]], np.float32)
    return StrokeSketch((Stroke(pts, 6.0), _stroke((100, 250), (420, 250))), canvas)


def test_sketch_json_round_trip_and_errors() -> None:
    sk = zigzag()
    back = sketch_from_json(json.loads(json.dumps(sketch_to_json(sk))))
    assert back.canvas_size == sk.canvas_size
    assert all(
        np.allclose(a.points, b.points) and a.width == b.width
        for a, b in zip(sk.strokes, back.strokes, strict=True)
    )
    with pytest.raises(InvalidSketchError):
        sketch_from_json({"nope": 1})
    with pytest.raises(InvalidSketchError):
        sketch_from_json({"strokes": [{"points": [[0, float("nan")]]}], "canvas_size": [10, 10]})


def test_fit_sketch_centres_ink_in_the_new_canvas() -> None:
    sk = StrokeSketch((_stroke((0, 0), (50, 25)),), (64, 64))
    fitted = fit_sketch(sk, (512, 512))
    pts = fitted.strokes[0].points
    centre = (pts.min(axis=0) + pts.max(axis=0)) / 2
    assert np.allclose(centre, [256, 256], atol=1)
    assert pts.min() >= 0 and pts.max() <= 512


def test_query_digest_is_equal_for_equal_sketches_only() -> None:
    a, b = zigzag(), zigzag()
    assert query_digest(a) == query_digest(b)
    moved = StrokeSketch((a.strokes[0], _stroke((100, 300), (401, 300))), a.canvas_size)
    assert query_digest(moved) != query_digest(a)
    img = np.full((8, 8, 3), 255, np.uint8)
    img2 = img.copy()
    img2[0, 0] = 0
    assert query_digest(img) != query_digest(img2)


# ------------------------------------------------------------------ sketch files
def test_load_sketch_image_and_compose_with_strokes(tmp_path: Path) -> None:
    img = np.full((60, 120, 3), 255, np.uint8)
    img[20:40, 10:110] = 0
    Image.fromarray(img).save(tmp_path / "s.png")
    loaded = load_sketch_file(tmp_path / "s.png", (512, 512), 4.0)
    assert loaded.background is not None and loaded.background.shape == (512, 512, 3)
    assert loaded.sketch.is_empty
    q = sketch_query(loaded.sketch, loaded.background)
    assert isinstance(q, np.ndarray) and np.array_equal(q, loaded.background)
    strokes = StrokeSketch((_stroke((10, 10), (100, 10)),), (512, 512))
    q2 = sketch_query(strokes, loaded.background)
    assert isinstance(q2, np.ndarray) and q2[10, 50].max() < 100, "the drawn stroke is in the query"
    assert sketch_query(StrokeSketch((), (512, 512)), None) is None


def test_load_quickdraw_ndjson_as_vector_strokes(tmp_path: Path) -> None:
    line = {
        "word": "cat",
        "countrycode": "DE",
        "timestamp": "",
        "recognized": True,
        "key_id": "1",
        "drawing": [[[0, 100, 200], [0, 50, 0]], [[10, 20], [200, 255]]],
    }
    (tmp_path / "cat.ndjson").write_text(json.dumps(line) + "\n")
    loaded = load_sketch_file(tmp_path / "cat.ndjson", (512, 512), 5.0)
    assert loaded.label == "cat" and len(loaded.sketch.strokes) == 2 and loaded.background is None
    assert all(s.width == 5.0 for s in loaded.sketch.strokes)
    assert loaded.drawing == 0 and not loaded.has_next
    # a file with several drawings: any of them by index, and whether another follows
    second = {**line, "word": "dog", "drawing": [[[0, 255], [0, 255]]]}
    (tmp_path / "two.ndjson").write_text(json.dumps(line) + "\n\n" + json.dumps(second) + "\n")
    first = load_sketch_file(tmp_path / "two.ndjson", (512, 512), 5.0)
    assert first.label == "cat" and first.has_next
    nxt = load_sketch_file(tmp_path / "two.ndjson", (512, 512), 5.0, drawing=1)
    assert (nxt.label, nxt.drawing, nxt.has_next, len(nxt.sketch.strokes)) == ("dog", 1, False, 1)
    with pytest.raises(InputFileError, match="holds 2 drawing"):
        load_sketch_file(tmp_path / "two.ndjson", (512, 512), 5.0, drawing=2)


def test_load_bad_sketch_file_raises(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(InputFileError, match="cannot read sketch"):
        load_sketch_file(tmp_path / "x.png", (512, 512), 4.0)
    with pytest.raises(InputFileError, match="not found"):
        load_sketch_file(tmp_path / "missing.json", (512, 512), 4.0)
    with pytest.raises(InputFileError, match="is a folder"):
        load_sketch_file(tmp_path, (512, 512), 4.0)
    (tmp_path / "bin.ndjson").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputFileError, match="not a text file"):
        load_sketch_file(tmp_path / "bin.ndjson")
    (tmp_path / "one.ndjson").write_text('{"word": "cat", "drawing": [[[0, 9], [0, 9]]]}\n')
    with pytest.raises(InputFileError, match="negative"):
        load_sketch_file(tmp_path / "one.ndjson", drawing=-1)
    with pytest.raises(InputFileError):
        load_sketch_file(tmp_path / ("x" * 300 + ".png"))


def test_stroke_json_files_load_with_their_canvas_or_fitted(tmp_path: Path) -> None:
    sk = zigzag((300, 200))
    (tmp_path / "s.json").write_text(json.dumps(sketch_to_json(sk)))
    own = load_sketch_file(tmp_path / "s.json")
    assert own.sketch.canvas_size == (300, 200) and own.query() is not None
    fitted = load_sketch_file(tmp_path / "s.json", (512, 512))
    assert fitted.sketch.canvas_size == (512, 512)


def test_require_ink_refuses_blank_sketches(tmp_path: Path) -> None:
    Image.fromarray(np.full((32, 32, 3), 250, np.uint8)).save(tmp_path / "blank.png")
    with pytest.raises(InvalidSketchError, match="no ink"):
        require_ink(load_sketch_file(tmp_path / "blank.png"))
    (tmp_path / "empty.json").write_text(json.dumps({"canvas_size": [64, 64], "strokes": []}))
    with pytest.raises(InvalidSketchError, match="no strokes"):
        require_ink(load_sketch_file(tmp_path / "empty.json"))
