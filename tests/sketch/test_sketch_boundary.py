"""The sketch boundary: malformed strokes, canvases, QuickDraw files and images are typed errors."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zse_gui.data.imageio import read_image_rgb, read_image_rgb_bounded
from zse_gui.engine.preprocess import SKETCH_MAX_SIDE, prepare_sketch
from zse_gui.errors import DatasetError, InvalidSketchError
from zse_gui.model.config import get_config
from zse_gui.sketch import Stroke, StrokeSketch, rasterize_strokes, read_quickdraw_ndjson
from zse_gui.sketch.raster import MAX_CANVAS_SIDE, validate_strokes

LINE = np.array([[10.0, 10.0], [50.0, 40.0]])


@pytest.mark.parametrize(
    ("strokes", "size", "match"),
    [
        ([(LINE * 1e12, 3.0)], (64, 64), "beyond"),  # overflowed OpenCV's fixed point (cv2.error)
        ([(LINE * -1e7, 3.0)], (64, 64), "beyond"),
        ([(LINE, float("nan"))], (64, 64), "pen width"),  # was ValueError
        ([(LINE, float("inf"))], (64, 64), "pen width"),  # was OverflowError
        ([(LINE, 1e6)], (64, 64), "pen width"),  # was cv2.error
        ([(LINE, -2.0)], (64, 64), "pen width"),
        ([(LINE, "wide")], (64, 64), "not \\(points, width\\)"),
        ([(np.array([[1.0, np.nan]]), 3.0)], (64, 64), "NaN"),
        ([(np.zeros((3, 3)), 3.0)], (64, 64), "\\[N, 2\\]"),
        ([(LINE, 3.0)], (100_000, 100_000), "too large"),  # asked for 28 GiB
        ([(LINE, 3.0)], (MAX_CANVAS_SIDE + 1, 8), "too large"),
        ([(LINE, 3.0)], (0, 64), "positive"),
        ([(LINE, 3.0)], (64.5, 64), "whole"),
        ([(LINE, 3.0)], (float("nan"), 64), "whole"),
        ([(LINE, 3.0)], (float("inf"), 64), "whole"),
        ([(LINE, 3.0)], (64,), "two numbers"),
        ([(LINE, 3.0)], None, "two numbers"),
    ],
)
def test_bad_strokes_and_canvases_are_invalid_sketches(strokes: list, size: object, match: str) -> None:
    with pytest.raises(InvalidSketchError, match=match):
        validate_strokes(strokes, size)
    with pytest.raises(InvalidSketchError, match=match):
        rasterize_strokes(strokes, size)  # type: ignore[arg-type]


def test_valid_strokes_pass_unchanged() -> None:
    strokes = [(LINE, 0.0), (LINE + 1e5, 3.0), (np.zeros((0, 2)), 3.0)]  # off-canvas and empty are fine
    assert validate_strokes(strokes, (64.0, 48)) == (64, 48)
    img = rasterize_strokes(strokes, (64, 48))
    assert img.shape == (48, 64, 3) and (img < 128).any()


def test_engine_boundary_gives_invalid_sketch_for_absurd_strokes() -> None:
    cfg = get_config("zse_test")
    sketch = StrokeSketch((Stroke(LINE.astype(np.float32) * 1e13, 3.0),), (64, 64))
    with pytest.raises(InvalidSketchError, match="beyond"):
        prepare_sketch(sketch, cfg)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary", "not a text file"),  # was UnicodeDecodeError
        (b'{"word": "x", "drawing": [[[1e400], [1]]]}\n', "not finite"),
        (b'{"word": "x", "drawing": [[[1], [' + b"9" * 5000 + b"]]]}\n", "not a usable JSON"),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "not a usable JSON"),  # RecursionError
        (b'{"word": "x", "drawing": [[[[1]], [1]]]}\n', "non-numeric"),
    ],
)
def test_malformed_quickdraw_files_are_dataset_errors(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "bad.ndjson"
    p.write_bytes(content)
    with pytest.raises(DatasetError, match=match):
        read_quickdraw_ndjson(p)


def test_quickdraw_coordinates_beyond_the_limit(tmp_path: Path) -> None:
    p = tmp_path / "far.ndjson"
    p.write_text(json.dumps({"word": "x", "drawing": [[[1e12, 2], [1, 2]]]}) + "\n")
    with pytest.raises(DatasetError, match="beyond"):
        read_quickdraw_ndjson(p)


def _exif_jpeg(path: Path, orientation: int) -> np.ndarray:
    """A 40 x 20 JPEG, dark on the left half, stored with an EXIF orientation tag."""
    img = np.full((20, 40, 3), 255, np.uint8)
    img[:, :20] = 0
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(img).save(path, exif=exif.tobytes(), quality=95)
    return img


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    p = tmp_path / "phone.jpg"
    _exif_jpeg(p, 6)  # "rotate 90 clockwise to view"
    arr = read_image_rgb(p)
    assert arr.shape == (40, 20, 3)  # upright: tall, not wide
    assert arr[:15].mean() < 60 and arr[25:].mean() > 200  # the dark half is now on top
    plain = tmp_path / "plain.jpg"
    _exif_jpeg(plain, 1)
    assert read_image_rgb(plain).shape == (20, 40, 3)


def test_huge_sketch_image_is_shrunk_early(tmp_path: Path) -> None:
    side = 9000
    img = np.full((side, side), 255, np.uint8)
    img[1000:8000, 4400:4600] = 0  # one thick vertical bar
    p = tmp_path / "huge.png"
    Image.fromarray(img).save(p, compress_level=1)
    del img
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    rgb, size = read_image_rgb_bounded(p, SKETCH_MAX_SIDE)
    assert size == (side, side) and max(rgb.shape[:2]) <= SKETCH_MAX_SIDE
    prepared = prepare_sketch(p, get_config("zse_test"))
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    # The decoded grey image is 81 MB; the unshrunk path needed about 2.8 GB at its peak.
    assert grown_mib < 1200, grown_mib
    # The frame still maps model pixels to the original 9000-pixel image.
    fr = prepared.frame
    assert fr.size == (side, side)
    x0 = fr.offset[0]
    x1 = fr.offset[0] + fr.scale[0] * prepared.display.shape[1]
    assert x0 < 4400 and x1 > 4600
    ys = fr.offset[1] + fr.scale[1] * np.array([0, prepared.display.shape[0]])
    f = side / max(rgb.shape[:2])  # shrink factor; the 10-pixel crop padding is in shrunk pixels
    assert 1000 - 11 * f <= ys[0] <= 1000 and 8000 <= ys[1] <= 8000 + 11 * f
