"""Fuzzing the public entry points: whatever comes in, only the project's typed errors come out.

Strokes (any coordinates, widths and canvas sizes, NaN and infinity included), pixel arrays
(any dtype and shape) and image files (random bytes, damaged PNG/JPEG/WebP) go through
``prepare_sketch`` / ``prepare_photo`` (what ``Engine`` calls first) and, for a sample, the
engine itself. Examples are derandomised so that a run is reproducible.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from zse_gui.engine.engine import Engine
from zse_gui.engine.preprocess import prepare_photo, prepare_sketch
from zse_gui.errors import ZseError
from zse_gui.model.config import get_config
from zse_gui.sketch import Stroke, StrokeSketch

CFG = get_config("zse_test")
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1e6, 1e12, -1e18, 2.0**31, 2.0**63, 1e308]),
    st.floats(min_value=-300, max_value=300),
)
_size = st.one_of(
    st.integers(min_value=-5, max_value=700),
    st.sampled_from([0, 1, 16384, 16385, 100_000, 2**31, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def _stroke(draw: Callable[..., Any]) -> Stroke:
    n = draw(st.integers(min_value=0, max_value=12))
    cols = draw(st.sampled_from([2, 2, 2, 1, 3]))
    pts = np.array(draw(st.lists(_number, min_size=n * cols, max_size=n * cols)), np.float64).reshape(n, cols)
    with np.errstate(over="ignore"):  # 1e308 as float32 is inf: a case the boundary must refuse
        pts = pts.astype(draw(st.sampled_from([np.float32, np.float64])))
    return Stroke(pts, draw(_number))


def _expect_typed(fn: Callable[[], object]) -> None:
    """Run ``fn``; a typed, explained refusal is a right answer, any other exception fails."""
    with contextlib.suppress(ZseError):
        fn()


@FUZZ
@given(strokes=st.lists(_stroke(), max_size=4), w=_size, h=_size)
def test_fuzzed_strokes_and_canvases(strokes: list[Stroke], w: Any, h: Any) -> None:
    _expect_typed(lambda: prepare_sketch(StrokeSketch(tuple(strokes), (w, h)), CFG))


_DTYPES = [np.uint8, np.uint8, np.uint16, np.float32, np.float64, np.int64, np.bool_]


@FUZZ
@given(
    shape=st.lists(st.integers(min_value=0, max_value=40), min_size=0, max_size=4),
    dtype=st.sampled_from(_DTYPES),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_fuzzed_pixel_arrays(shape: list[int], dtype: type, seed: int) -> None:
    rng = np.random.default_rng(seed)
    arr = (rng.random(shape) * 300).astype(dtype)
    _expect_typed(lambda: prepare_sketch(arr, CFG))
    _expect_typed(lambda: prepare_photo(arr, CFG))


def _encoded(fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (int(rng.integers(1, 40)), int(rng.integers(1, 40)), 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt)
    return buf.getvalue()


@st.composite
def _image_bytes(draw: Callable[..., Any]) -> bytes:
    kind = draw(st.sampled_from(["random", "mutated", "truncated"]))
    if kind == "random":
        data: bytes = draw(st.binary(max_size=600))
        return data
    data = _encoded(draw(st.sampled_from(["PNG", "JPEG", "WEBP", "BMP"])), draw(st.integers(0, 1000)))
    if kind == "truncated":
        return data[: draw(st.integers(min_value=0, max_value=len(data)))]
    flips = draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)), max_size=8))
    buf = bytearray(data)
    for pos, mask in flips:
        buf[pos] ^= mask
    return bytes(buf)


@FUZZ
@given(data=_image_bytes(), suffix=st.sampled_from([".png", ".jpg", ".webp", ".bmp", ".ndjson"]))
def test_fuzzed_image_files(tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_bytes(data)
    _expect_typed(lambda: prepare_sketch(path, CFG))
    _expect_typed(lambda: prepare_photo(path, CFG))


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(strokes=st.lists(_stroke(), min_size=1, max_size=3), w=_size, h=_size)
def test_fuzzed_strokes_through_the_engine(engine: Engine, strokes: list[Stroke], w: Any, h: Any) -> None:
    _expect_typed(lambda: engine.encode_sketch(StrokeSketch(tuple(strokes), (w, h))))


def test_the_fuzzers_reach_both_outcomes(tmp_path: Path) -> None:
    """Guard against a fuzzer that only ever produces rejected (or only accepted) inputs."""
    ok = StrokeSketch((Stroke(np.array([[10, 10], [50, 40]], np.float32), 3.0),), (64, 64))
    assert prepare_sketch(ok, CFG).display.shape == (CFG.img_size, CFG.img_size, 3)
    bad = StrokeSketch((Stroke(np.array([[10, np.inf]], np.float32), 3.0),), (64, 64))
    with pytest.raises(ZseError):
        prepare_sketch(bad, CFG)
    p = tmp_path / "ok.png"
    p.write_bytes(_encoded("PNG", 1))
    assert prepare_photo(p, CFG).display.shape == (CFG.img_size, CFG.img_size, 3)
