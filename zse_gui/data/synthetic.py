"""A generated toy SBIR dataset of geometric shapes, for smoke tests and demos without downloads.

Each class is a shape (circle, square, triangle, ...). A sketch is its black outline on white,
drawn with a jittered position, size and pen width; a photo is the shape filled in a random
colour on a random background. Everything is seeded, so a seed always writes the same files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from zse_gui.errors import DatasetError

__all__ = ["TOY_SHAPES", "make_toy_dataset", "toy_shape_points"]

log = logging.getLogger(__name__)

TOY_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "diamond", "star", "hbar", "vbar")


def toy_shape_points(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    """[N, 2] float32 closed polygon of ``shape`` centred at (cx, cy) with radius ``r``."""
    if shape == "circle":
        t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], 1)
    elif shape == "square":
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8
    elif shape == "triangle":
        pts = np.array([[0, -1], [0.9, 0.7], [-0.9, 0.7]], float)
    elif shape == "diamond":
        pts = np.array([[0, -1], [0.7, 0], [0, 1], [-0.7, 0]], float)
    elif shape == "cross":
        a, b = 0.3, 1.0
        pts = np.array(
            [
                [-a, -b],
                [a, -b],
                [a, -a],
                [b, -a],
                [b, a],
                [a, a],
                [a, b],
                [-a, b],
                [-a, a],
                [-b, a],
                [-b, -a],
                [-a, -a],
            ]
        )
    elif shape == "star":
        t = np.linspace(-np.pi / 2, 1.5 * np.pi, 10, endpoint=False)
        rad = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        pts = np.stack([np.cos(t) * rad, np.sin(t) * rad], 1)
    elif shape == "hbar":
        pts = np.array([[-1, -0.25], [1, -0.25], [1, 0.25], [-1, 0.25]], float)
    elif shape == "vbar":
        pts = np.array([[-0.25, -1], [0.25, -1], [0.25, 1], [-0.25, 1]], float)
    else:
        raise DatasetError(f"unknown toy shape {shape!r}; known: {', '.join(TOY_SHAPES)}")
    out: np.ndarray = (pts * r + np.array([cx, cy])).astype(np.float32)
    return out


def _render(shape: str, size: int, rng: np.random.Generator, sketch: bool) -> np.ndarray:
    r = size * rng.uniform(0.25, 0.4)
    cx, cy = (size / 2 + rng.uniform(-0.1, 0.1, 2) * size).tolist()
    poly = [np.round(toy_shape_points(shape, cx, cy, r)).astype(np.int32)]
    if sketch:
        img = np.full((size, size, 3), 255, np.uint8)
        width = int(rng.integers(1, max(2, size // 32) + 1))
        cv2.polylines(img, poly, True, (0, 0, 0), width, cv2.LINE_AA)
    else:
        bg = rng.integers(120, 256, 3)
        img = np.empty((size, size, 3), np.uint8)
        img[:] = bg.astype(np.uint8)
        fg = tuple(int(v) for v in rng.integers(0, 110, 3))
        cv2.fillPoly(img, poly, fg, cv2.LINE_AA)
    return img


def make_toy_dataset(
    root: str | os.PathLike[str],
    classes: tuple[str, ...] = TOY_SHAPES[:4],
    sketches_per_class: int = 6,
    photos_per_class: int = 6,
    size: int = 64,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``root/sketches/<class>/*.png`` and ``root/photos/<class>/*.png``.

    Args:
        root: output folder (created).
        classes: shape names from ``TOY_SHAPES``.
        sketches_per_class, photos_per_class: files per class.
        size: image side in pixels.
        seed: RNG seed.

    Returns:
        (sketch folder, photo folder), ready for ``read_class_folders``.

    Raises:
        DatasetError: an unknown shape name.
    """
    base = Path(root)
    rng = np.random.default_rng(seed)
    sk_dir, ph_dir = base / "sketches", base / "photos"
    for c in classes:
        for kind, folder, n in (("sketch", sk_dir, sketches_per_class), ("photo", ph_dir, photos_per_class)):
            (folder / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = _render(c, size, rng, sketch=kind == "sketch")
                cv2.imwrite(str(folder / c / f"{c}_{i:03d}.png"), img[:, :, ::-1])
    return sk_dir, ph_dir
