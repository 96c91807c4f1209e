"""Image reading: formats, transparency on white, and typed errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zse_gui.data.imageio import IMAGE_EXTENSIONS, is_image_file, read_image_rgb
from zse_gui.errors import ImageReadError


def test_rgb_png_round_trip(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    out = read_image_rgb(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (7, 9, 3)
    np.testing.assert_array_equal(out, arr)


def test_grey_image_becomes_rgb(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 5), 77, np.uint8), mode="L").save(tmp_path / "g.png")
    out = read_image_rgb(tmp_path / "g.png")
    assert out.shape == (4, 5, 3) and (out == 77).all()


def test_rgba_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 0, 0)  # fully transparent black
    rgba[1, 0] = (0, 0, 0, 128)  # half transparent black
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    out = read_image_rgb(tmp_path / "t.png")
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert 120 <= int(out[1, 0, 0]) <= 135


def test_la_and_palette_transparency_on_white(tmp_path: Path) -> None:
    la = np.zeros((2, 2, 2), np.uint8)  # black, fully transparent
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    assert (read_image_rgb(tmp_path / "la.png") == 255).all()
    pal = Image.new("P", (3, 3), 0)
    pal.putpalette([0, 0, 0] * 256)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png", transparency=0)
    assert (read_image_rgb(tmp_path / "p.png") == 255).all()


def test_truncated_jpeg_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "trunc.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        p, quality=95
    )
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="trunc.jpg"):
        read_image_rgb(p)


def test_non_image_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "fake.png"
    p.write_text("this is not a png")
    with pytest.raises(ImageReadError, match="fake.png"):
        read_image_rgb(p)
    with pytest.raises(ImageReadError, match="not found"):
        read_image_rgb(tmp_path / "missing.jpg")


def test_extensions() -> None:
    assert IMAGE_EXTENSIONS == (".jpg", ".jpeg", ".png", ".webp", ".bmp")
    assert is_image_file("x/Y.JPG") and is_image_file("a.webp")
    assert not is_image_file("notes.txt") and not is_image_file("archive.png.gz")
