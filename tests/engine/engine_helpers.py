"""Shared helpers of the engine tests (a uniquely named module, unlike ``conftest``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_photo(path: Path, seed: int, size: tuple[int, int] = (48, 40)) -> Path:
    """A random-ish photo: smooth colour gradient plus a coloured box (varied per seed)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(0, 255, 3)
    img = (base[None, None, :] + (xx[..., None] * rng.integers(1, 4, 3)) + (yy[..., None] * 2)) % 256
    x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    img[y0 : y0 + h // 3, x0 : x0 + w // 3] = rng.integers(0, 255, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img.astype(np.uint8)).save(path)
    return path
