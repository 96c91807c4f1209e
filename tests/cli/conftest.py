"""A generated gallery, sketches and a private cache for end-to-end CLI runs on ``zse_test``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZSE_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    """3 classes x 3 generated photos of different sizes."""
    rng = np.random.default_rng(0)
    root = tmp_path / "gallery"
    for c, name in enumerate(("cat", "dog", "owl")):
        for i in range(3):
            h, w = 36 + 4 * i, 44 + 2 * c
            yy, xx = np.mgrid[0:h, 0:w]
            img = np.stack([xx * 5 + 40 * c, yy * 6, np.full_like(xx, 60 * i)], -1) % 256
            img[rng.integers(0, h // 2) :][: h // 3, : w // 3] = rng.integers(0, 255, 3)
            p = root / name / f"{name}_{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.astype(np.uint8)).save(p)
    return root


@pytest.fixture
def sketch_png(tmp_path: Path) -> Path:
    img = np.full((120, 100, 3), 255, np.uint8)
    img[20:100, 48:52] = 0
    img[58:62, 15:85] = 0
    p = tmp_path / "cross.png"
    Image.fromarray(img).save(p)
    return p


@pytest.fixture
def blank_png(tmp_path: Path) -> Path:
    p = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(p)
    return p


@pytest.fixture
def ndjson(tmp_path: Path) -> Path:
    """Two QuickDraw drawings; the second is a 'dog'."""
    lines = [
        {"word": "cat", "key_id": "1", "recognized": True, "countrycode": "DE",
         "drawing": [[[10, 200, 120], [20, 60, 230]], [[40, 90], [180, 30]]]},
        {"word": "dog", "key_id": "2", "recognized": True, "countrycode": "FR",
         "drawing": [[[30, 220], [30, 220]], [[220, 30], [30, 220]]]},
    ]  # fmt: skip
    p = tmp_path / "drawings.ndjson"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return p
