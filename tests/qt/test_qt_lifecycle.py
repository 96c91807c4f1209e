"""Start-up and shut-down with the real worker thread: closing mid-job is clean, errors stay visible."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from zse_gui.data.synthetic import TOY_SHAPES
from zse_gui.qt.app import AppParts, build_window, install_excepthook
from zse_gui.qt.settings import AppSettings
from zse_gui.qt.worker import JobResult

from .conftest import zigzag

TIMEOUT_MS = 60000


def _threaded_app(qtbot: Any, tmp_path: Path) -> AppParts:
    parts = build_window(AppSettings(top_k=5, rerank_depth=5), tmp_path / "config", sync=False)
    qtbot.addWidget(parts.window)
    with qtbot.waitSignal(
        parts.worker.result,
        timeout=TIMEOUT_MS,
        check_params_cb=lambda r: r.lane == "model" and r.stage in ("done", "error"),
    ):
        parts.controller.load_model("zse_test", "")
    assert parts.controller.state.model is not None
    return parts


def _open_and_wait(qtbot: Any, parts: AppParts, gallery: Path) -> None:
    with qtbot.waitSignal(
        parts.worker.result,
        timeout=TIMEOUT_MS,
        check_params_cb=lambda r: r.lane == "index" and r.stage == "done",
    ):
        parts.controller.open_gallery(str(gallery))


def test_closing_the_window_while_indexing_ends_cleanly(
    qtbot: Any, tmp_path: Path, make_gallery: Callable[..., Path]
) -> None:
    big = make_gallery(classes=TOY_SHAPES, per_class=8, name="big")
    parts = _threaded_app(qtbot, tmp_path)
    with qtbot.waitSignal(
        parts.worker.result,
        timeout=TIMEOUT_MS,
        check_params_cb=lambda r: r.lane == "index" and r.stage == "progress",
    ):
        parts.controller.open_gallery(str(big))
    parts.window.close()  # the controller cancels and joins the worker in its closing handler
    thread = parts.worker._thread
    assert thread is not None and thread.isFinished()
    assert parts.controller.state.gallery is None, "a cancelled index is never shown as open"
    assert not parts.window.findChildren(QMessageBox), "closing mid-job must not raise an error dialog"


def test_closing_during_a_search_ends_cleanly(qtbot: Any, tmp_path: Path, gallery: Path) -> None:
    parts = _threaded_app(qtbot, tmp_path)
    _open_and_wait(qtbot, parts, gallery)
    parts.controller.state.with_sketch(zigzag())
    got: list[JobResult] = []
    parts.worker.result.connect(got.append)
    assert parts.controller.search() is not None
    parts.window.close()
    assert parts.worker._thread is not None and parts.worker._thread.isFinished()
    assert not any(r.stage == "error" for r in got)


def test_threaded_search_delivers_stage1_then_reranked(qtbot: Any, tmp_path: Path, gallery: Path) -> None:
    parts = _threaded_app(qtbot, tmp_path)
    _open_and_wait(qtbot, parts, gallery)
    stages: list[str] = []
    parts.worker.result.connect(lambda r: stages.append(r.stage) if r.lane == "search" else None)
    parts.controller.state.with_sketch(zigzag())
    with qtbot.waitSignal(
        parts.worker.result,
        timeout=TIMEOUT_MS,
        check_params_cb=lambda r: r.lane == "search" and r.stage == "done",
    ):
        parts.controller.search()
    assert stages == ["partial", "done"]
    assert parts.controller.state.result is not None and parts.controller.state.result.mode == "rerank"
    parts.window.close()


def test_uncaught_errors_are_logged_and_shown(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    parts = build_window(AppSettings(), tmp_path / "config", sync=True, persist=False)
    qtbot.addWidget(parts.window)
    install_excepthook(parts.window)
    try:
        raise ValueError("boom in a slot")
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert "boom in a slot" in caplog.text
    assert "boom in a slot" in (tmp_path / "config" / "errors.log").read_text()
    qtbot.waitUntil(
        lambda: any("boom" in b.text() for b in parts.window.findChildren(QMessageBox)), timeout=5000
    )
    parts.controller.shutdown()
