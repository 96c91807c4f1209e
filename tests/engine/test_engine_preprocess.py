"""Preprocessing geometry: ink crop, aspect resize, padding, frames, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zse_gui.engine.preprocess import CROP_PADDING, ink_mask, prepare_photo, prepare_sketch
from zse_gui.errors import ImageReadError, InvalidSketchError
from zse_gui.model import get_config
from zse_gui.results import ImageFrame
from zse_gui.sketch import Stroke, StrokeSketch

CFG = get_config("zse_test")  # S = 32
S = CFG.img_size


def _sketch_with_box(w: int, h: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    img = np.full((h, w, 3), 255, np.uint8)
    img[y0 : y1 + 1, x0 : x1 + 1] = 0
    return img


def test_ink_threshold_is_inclusive_300() -> None:
    px = np.array([[[100, 100, 100], [100, 100, 101]]], np.uint8)
    np.testing.assert_array_equal(ink_mask(px), [[True, False]])


def test_ink_crop_resize_and_frame_geometry() -> None:
    # Ink box x 50..149, y 30..69 in a 300 x 200 image -> padded crop x 40..159, y 20..79 (120 x 60).
    img = _sketch_with_box(300, 200, 50, 30, 149, 69)
    prep = prepare_sketch(img, CFG)
    assert prep.tensor.shape == (3, S, S) and prep.tensor.dtype == np.float32
    assert prep.display.shape == (S, S, 3) and prep.display.dtype == np.uint8
    assert prep.frame.size == (300, 200)
    # Longer side (width) becomes S; height int(60 * 32 / 120) = 16, padded by 8 on each side.
    assert (prep.display[:8] == 255).all() and (prep.display[24:] == 255).all()
    sx, sy = prep.frame.scale
    assert sx == pytest.approx(120 / 32) and sy == pytest.approx(60 / 16)
    # The ink box's corners land where the crop/resize/pad puts them.
    corners = np.array([[50, 30], [150, 70]], np.float32)  # pixel edges of the box
    model = prep.frame.to_model(corners)
    np.testing.assert_allclose(
        model, [[10 * 32 / 120, 8 + 10 * 16 / 60], [110 * 32 / 120, 8 + 50 * 16 / 60]], atol=1e-4
    )
    # ... and the display is dark there and white well outside.
    cx, cy = model.mean(axis=0).astype(int)
    assert prep.display[cy, cx].sum() <= 300
    assert (prep.display[:, 0] == 255).all()


def test_frame_round_trip() -> None:
    img = _sketch_with_box(123, 77, 5, 60, 40, 70)
    frame = prepare_sketch(img, CFG).frame
    pts = np.random.default_rng(0).uniform(0, S, (20, 2)).astype(np.float32)
    np.testing.assert_allclose(frame.to_model(frame.to_original(pts)), pts, atol=1e-4)


def test_padding_clipped_to_image_and_extra_pixel_on_second_side() -> None:
    # Ink nearly everywhere (a white strip on the right so the pad value is white): the crop is
    # the whole 120 x 50 image, height int(50 * 32 / 120) = 13, pad 19 -> 9 rows on top, 10 below.
    img = np.zeros((50, 120, 3), np.uint8)
    img[:, 110:] = 255
    prep = prepare_sketch(img, CFG)
    white_rows = (prep.display == 255).all(axis=(1, 2))
    assert white_rows[:9].all() and not white_rows[9] and not white_rows[21] and white_rows[22:].all()
    assert prep.frame.offset[1] == pytest.approx(-9 * 50 / 13)
    assert CROP_PADDING == 10


def test_tall_sketch_pads_horizontally() -> None:
    img = _sketch_with_box(100, 300, 40, 20, 59, 279)
    prep = prepare_sketch(img, CFG)
    assert prep.frame.scale[1] == pytest.approx(280 / 32)
    white_cols = (prep.display == 255).all(axis=(0, 2))
    assert white_cols[0] and white_cols[-1] and not white_cols[S // 2]


def test_stroke_sketch_uses_canvas_frame() -> None:
    sk = StrokeSketch((Stroke(np.array([[30, 40], [170, 120]], np.float32), 5.0),), (200, 160))
    prep = prepare_sketch(sk, CFG)
    assert prep.source == "<strokes>" and prep.frame.size == (200, 160)
    # The stroke's endpoints map into the model frame inside the image.
    ends = prep.frame.to_model(np.array([[30, 40], [170, 120]], np.float32))
    assert ((ends >= 0) & (ends <= S)).all()


def test_sketch_from_file(tmp_path: Path) -> None:
    img = _sketch_with_box(64, 64, 10, 10, 40, 50)
    Image.fromarray(img).save(tmp_path / "s.png")
    a, b = prepare_sketch(tmp_path / "s.png", CFG), prepare_sketch(img, CFG)
    np.testing.assert_array_equal(a.display, b.display)
    assert a.source.endswith("s.png")


@pytest.mark.parametrize(
    "blank",
    [
        np.full((50, 60, 3), 255, np.uint8),
        np.full((50, 60, 3), 120, np.uint8),  # light grey: 360 > 300, still no ink
        StrokeSketch((), (100, 100)),
        StrokeSketch((Stroke(np.zeros((0, 2), np.float32)),), (100, 100)),
    ],
)
def test_blank_sketch_is_invalid(blank: object) -> None:
    with pytest.raises(InvalidSketchError):
        prepare_sketch(blank, CFG)  # type: ignore[arg-type]


def test_bad_sketch_inputs(tmp_path: Path) -> None:
    with pytest.raises(InvalidSketchError, match="dtype"):
        prepare_sketch(np.zeros((10, 10, 3), np.float32), CFG)
    with pytest.raises(InvalidSketchError, match="shape"):
        prepare_sketch(np.zeros((10, 10, 5), np.uint8), CFG)
    (tmp_path / "x.png").write_text("nope")
    with pytest.raises(InvalidSketchError, match="x.png"):
        prepare_sketch(tmp_path / "x.png", CFG)


def test_photo_square_bicubic_resize_and_normalisation(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    prep = prepare_photo(arr, CFG)
    expected = np.asarray(Image.fromarray(arr).resize((S, S), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(prep.display, expected)
    np.testing.assert_allclose(prep.tensor, (expected.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5, atol=1e-6)
    assert prep.frame == ImageFrame(size=(70, 45), scale=(70 / S, 45 / S), offset=(0.0, 0.0))
    Image.fromarray(arr).save(tmp_path / "p.png")
    np.testing.assert_array_equal(prepare_photo(tmp_path / "p.png", CFG).display, expected)


def test_photo_rgba_on_white_and_errors(tmp_path: Path) -> None:
    rgba = np.zeros((20, 20, 4), np.uint8)  # fully transparent
    assert (prepare_photo(rgba, CFG).display == 255).all()
    with pytest.raises(ImageReadError):
        prepare_photo(np.zeros((4, 4, 3), np.float64), CFG)
    with pytest.raises(ImageReadError, match="missing.png"):
        prepare_photo(tmp_path / "missing.png", CFG)


@pytest.mark.skipif(
    not Path("/work/shared/data/quickdraw/ndjson/ant.ndjson").exists(), reason="no QuickDraw data"
)
def test_real_quickdraw_drawing_prepares_with_canvas_frame() -> None:
    from zse_gui.sketch import quickdraw_to_strokes, read_quickdraw_ndjson

    drawing = read_quickdraw_ndjson(Path("/work/shared/data/quickdraw/ndjson/ant.ndjson"), limit=1)[0]
    strokes = tuple(Stroke(p, w) for p, w in quickdraw_to_strokes(drawing, canvas=256))
    prep = prepare_sketch(StrokeSketch(strokes, (256, 256)), CFG)
    assert prep.frame.size == (256, 256) and (prep.display.astype(int).sum(2) <= 300).any()
    # Every stroke vertex lands inside the model frame.
    pts = np.concatenate([s.points for s in strokes])
    model = prep.frame.to_model(pts)
    assert (model >= -1).all() and (model <= S + 1).all()
