"""Nothing on screen ever belongs to an older sketch or gallery: a model-based test.

A real window and a real worker thread drive a deliberately slow fake engine while hypothesis
plays random sequences of user events (draw with the mouse, delete, undo, select a result,
switch gallery, wait a little). After every step the test reads what the window shows and checks
it against what the fake engine says each result and explanation was computed for:

* a blank canvas shows no results and no explanation;
* every result in the grid comes from the open gallery; unless the grid is marked stale, every
  result was computed for the sketch now on the canvas;
* an explanation that is not marked stale was computed for the sketch on the canvas and for a
  photo in the (current) grid, and the header names that result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from zse_gui.qt.controller import Controller
from zse_gui.qt.debounce import AdaptiveDelay
from zse_gui.qt.jobs import EngineState
from zse_gui.qt.main_window import MainWindow
from zse_gui.qt.render import explanation_header
from zse_gui.qt.settings import AppSettings
from zse_gui.qt.state import ModelInfo
from zse_gui.qt.worker import Worker
from zse_gui.sketch import sketch_query

from .fakes import FakeEngine, fingerprint, item_gallery, item_sketch

GALLERIES = ("/galleries/one", "/galleries/two")


def _pump(ms: int) -> None:
    """Let the GUI thread handle timers and delivered results for ``ms`` milliseconds."""
    QTest.qWait(ms)
    QApplication.processEvents()


class StalenessMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = FakeEngine(delay_s=0.012)
        self.window = MainWindow()
        self.window.resize(1200, 800)
        self.window.show()
        self.worker = Worker(EngineState(engine=self.engine))
        self.controller = Controller(
            self.window, self.worker, AppSettings(top_k=5, rerank_depth=3), persist=False
        )
        # a throttle longer than the engine's stages: results of the previous request can arrive
        # while a new sketch waits for its own request, the moment staleness bugs show up
        self.controller.delay = AdaptiveDelay(lo_ms=100, hi_ms=100)
        model = ModelInfo("zse_test", "fake", "ab" * 32, "cpu", "", None, "", True, 2, 2)
        self.controller.state.model = model
        self.gallery = GALLERIES[0]
        self.controller.open_gallery(self.gallery)
        _pump(60)

    def teardown(self) -> None:
        self.controller.shutdown()
        self.window.close()
        self.window.deleteLater()
        QApplication.processEvents()

    # ---------------------------------------------------------------- user events
    @rule(
        points=st.lists(
            st.tuples(st.integers(20, 380), st.integers(20, 380)), min_size=2, max_size=4, unique=True
        )
    )
    def draw(self, points: list[tuple[int, int]]) -> None:
        canvas = self.window.canvas
        left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        QTest.mousePress(canvas, left, none, QPoint(*points[0]))
        for p in points[1:]:
            QTest.mouseMove(canvas, QPoint(*p))
        QTest.mouseRelease(canvas, left, none, QPoint(*points[-1]))

    @rule()
    def delete(self) -> None:
        self.window.canvas.clear()  # what Edit > Clear canvas (Delete) does

    @rule()
    def undo(self) -> None:
        self.window.canvas.undo()  # what Edit > Undo (Ctrl+Z) does

    @rule(row=st.integers(0, 4))
    def select(self, row: int) -> None:
        grid = self.window.results.list
        if grid.isEnabled() and row < grid.count():  # a person cannot click a dimmed grid
            grid.setCurrentRow(row)

    @rule(which=st.integers(0, 1))
    def switch_gallery(self, which: int) -> None:
        self.gallery = GALLERIES[which]
        self.window.gallery_open_requested.emit(self.gallery)

    @rule(ms=st.sampled_from([0, 5, 20, 60, 150]))
    def wait(self, ms: int) -> None:
        _pump(ms)

    # ---------------------------------------------------------------- what the screen shows
    @invariant()
    def screen_belongs_to_the_current_sketch(self) -> None:
        w, c = self.window, self.controller
        query = sketch_query(w.current_sketch(), None)
        shown = w.results.items()
        expl_panel = w.explanation
        explained = c.state.explained
        if query is None:
            assert not shown, "a blank canvas shows results"
            assert explained is None and not expl_panel.stale, "a blank canvas shows an explanation"
            assert "Explaining" not in expl_panel.header.text(), "a withdrawn request is still announced"
            return
        fp = fingerprint(query)
        for it in shown:
            assert item_gallery(it) == str(Path(self.gallery)), f"a result of another gallery: {it.path}"
            if not w.results.stale:
                assert item_sketch(it) == fp, "a result of an older sketch is shown as current"
        if explained is not None and not expl_panel.stale:
            sketch_fp, index = self.engine.explained_for[id(explained.explanation)]
            assert sketch_fp == fp, "an explanation of an older sketch is shown as current"
            assert not w.results.stale and index in [it.index for it in shown], (
                "an explanation of a photo that is not among the current results"
            )
            assert explained.item.index == index
            assert expl_panel._header_html == explanation_header(explained.item, explained.explanation)


@pytest.mark.slow
def test_nothing_on_screen_belongs_to_an_older_sketch(qapp: Any) -> None:
    run_state_machine_as_test(
        StalenessMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
