"""Fixtures for the Qt tests: temp config/cache dirs, a generated gallery, an app on the tiny model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from zse_gui.data.synthetic import TOY_SHAPES, make_toy_dataset
from zse_gui.qt.app import AppParts, build_window
from zse_gui.qt.settings import AppSettings
from zse_gui.sketch import Stroke, StrokeSketch


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings, autosave and gallery caches go to the test's temp dir, never the user's."""
    monkeypatch.setenv("ZSE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ZSE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def make_gallery(tmp_path: Path) -> Callable[..., Path]:
    """``make_gallery(classes, per_class)``: class folders of generated shape photos under tmp_path."""

    def make(classes: tuple[str, ...] = TOY_SHAPES[:3], per_class: int = 4, name: str = "gallery") -> Path:
        _, photos = make_toy_dataset(
            tmp_path / name, classes, sketches_per_class=0, photos_per_class=per_class
        )
        return photos

    return make


@pytest.fixture
def gallery(make_gallery: Callable[..., Path]) -> Path:
    return make_gallery()


def zigzag(canvas: tuple[int, int] = (512, 512)) -> StrokeSketch:
    """Two strokes across the middle of the canvas."""
    a = np.array([[80, 100], [250, 400], [420, 120]], np.float32)
    b = np.array([[100, 300], [400, 300]], np.float32)
    return StrokeSketch((Stroke(a, 4.0), Stroke(b, 4.0)), canvas)


@pytest.fixture
def sync_app(qtbot: object, tmp_path: Path, gallery: Path) -> Iterator[AppParts]:
    """The real window, controller and a sync worker, with ``zse_test`` loaded and the gallery indexed."""
    parts = build_window(AppSettings(top_k=6, rerank_depth=8), tmp_path / "config", sync=True)
    qtbot.addWidget(parts.window)  # type: ignore[attr-defined]
    parts.window.resize(1200, 800)
    parts.controller.state.gallery_request = str(gallery)
    parts.controller.load_model("zse_test", "")
    assert parts.controller.state.gallery is not None, "the gallery is indexed right after the model loads"
    yield parts
    parts.controller.shutdown()
