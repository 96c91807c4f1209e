"""The replay in the main window: the canvas and the results grid follow the Strokes tab's player,
and Stop, a press or an edit gives back the real sketch and ranking with nothing lost."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, Qt

from zse_gui.qt.app import AppParts
from zse_gui.qt.results_view import ITEM_ROLE, TARGET_ROLE
from zse_gui.qt.state import Revision, Stamped
from zse_gui.qt.worker import JobResult
from zse_gui.results import RetrievalResult
from zse_gui.sketch import StrokeSketch

from .conftest import zigzag
from .test_qt_canvas import draw


def _show_strokes(parts: AppParts) -> None:
    parts.window.show()
    parts.window.set_sketch(zigzag())
    parts.controller.search()
    ex = parts.window.explanation
    ex.tabs.setCurrentWidget(ex.strokes)  # the sync worker computes attribution and replay here


def _same_strokes(a: Any, b: Any) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.points, y.points) and x.width == y.width for x, y in zip(a, b, strict=True)
    )


def _indices(grid: Any) -> list[int]:
    return [grid.item(r).data(ITEM_ROLE).index for r in range(grid.count())]


def _snapshot(parts: AppParts) -> tuple[object, ...]:
    """Everything a replay must leave as it was: strokes, undo history, selection, the grid."""
    doc = parts.window.canvas.doc
    sel = parts.window.selected_result()
    st = parts.controller.state
    return (
        doc.strokes,
        tuple(doc._states),
        tuple(doc._images),
        doc._pos,
        None if sel is None else sel.index,
        _indices(parts.window.results.list),
        st.shown,
        st.revision,
        st.sketch,
    )


def test_each_stroke_of_the_replay_shows_in_the_main_canvas_and_grid(qtbot: Any, sync_app: AppParts) -> None:
    _show_strokes(sync_app)
    w, c = sync_app.window, sync_app.controller
    tab = w.explanation.strokes
    before = _snapshot(sync_app)
    payload = c.strokes.replay_payload
    assert payload is not None and payload.replay is not None
    target = payload.item.index

    tab.step.setValue(1)
    assert w.canvas.previewing and w.results.replaying
    assert w.canvas._preview is not None and _same_strokes(w.canvas._preview.strokes, zigzag().strokes[:1])
    first = payload.replay_results[0]
    assert first is not None and _indices(w.results.replay_list) == [it.index for it in first.items]
    outlined = [w.results.replay_list.item(r).data(TARGET_ROLE) for r in range(w.results.replay_list.count())]
    assert outlined == [it.index == target for it in first.items]
    assert "stroke 1 of 2" in w.results.replay_message.text()
    assert f"rank {int(payload.replay.ranks[0]) + 1} of" in w.results.replay_message.text()
    # The replayed ranking is a view: the state still holds the real sketch and its results.
    assert c.state.shown is before[6] and c.state.result is not None
    assert c.state.sketch is before[8] and _same_strokes(c.state.sketch.strokes, zigzag().strokes)

    # A click on a replayed tile selects nothing, changes nothing, and says why.
    rect = w.results.replay_list.visualItemRect(w.results.replay_list.item(0))
    qtbot.mouseClick(w.results.replay_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert "picks nothing" in w.results.replay_message.text()
    assert "stroke 1 of 2" in w.results.replay_message.text()
    assert c.state.shown is before[6] and w.results.replaying
    tab.step.setValue(2)  # the last prefix is the whole drawing: its ranking is the real one
    assert "picks nothing" not in w.results.replay_message.text()
    assert _indices(w.results.replay_list) == before[5]

    tab.step.setValue(0)
    assert not w.canvas.previewing and not w.results.replaying
    assert _snapshot(sync_app) == before


def test_play_then_stop_returns_everything_as_it_was(qtbot: Any, sync_app: AppParts) -> None:
    _show_strokes(sync_app)
    w = sync_app.window
    tab = w.explanation.strokes
    before = _snapshot(sync_app)
    tab.play.click()
    tab._on_tick()  # the timer's first step: stroke 1
    assert tab.step.value() == 1 and w.canvas.previewing and w.results.replaying
    tab.play.click()  # Stop
    assert tab.step.value() == 0 and not tab._timer.isActive()
    assert not w.canvas.previewing and not w.results.replaying
    assert _snapshot(sync_app) == before
    # Playing to the end ends the same way.
    tab.play.click()
    for _ in range(len(zigzag().strokes) + 1):
        tab._on_tick()
    assert tab.step.value() == 0 and not w.canvas.previewing and _snapshot(sync_app) == before


def test_a_press_on_the_canvas_during_a_replay_stops_it_and_draws_nothing(
    qtbot: Any, sync_app: AppParts
) -> None:
    _show_strokes(sync_app)
    w = sync_app.window
    tab = w.explanation.strokes
    before = _snapshot(sync_app)
    tab.play.click()
    tab._on_tick()
    assert w.canvas.previewing
    draw(qtbot, w.canvas, [(60, 60), (120, 140), (180, 90)])  # an attempt to draw on the replay
    assert not tab._timer.isActive() and tab.step.value() == 0
    assert not w.canvas.previewing and not w.results.replaying
    assert _snapshot(sync_app) == before, "the press only ended the replay"
    draw(qtbot, w.canvas, [(60, 60), (120, 140), (180, 90)])  # the canvas draws again
    assert len(w.canvas.doc.strokes) == len(zigzag().strokes) + 1


def test_an_undo_during_a_replay_applies_to_the_real_sketch(qtbot: Any, sync_app: AppParts) -> None:
    w, c = sync_app.window, sync_app.controller
    w.set_sketch(StrokeSketch(zigzag().strokes[:1], (512, 512)))  # history: blank, 1 stroke, 2 strokes
    _show_strokes(sync_app)
    tab = w.explanation.strokes
    assert c.strokes.replay_payload is not None
    strokes, pos = w.canvas.doc.strokes, w.canvas.doc._pos
    tab.step.setValue(1)
    assert w.canvas.previewing
    w.canvas.undo()
    assert not w.canvas.previewing and not w.results.replaying and tab.step.value() == 0
    assert w.canvas.doc._pos == pos - 1 and _same_strokes(w.canvas.doc.strokes, strokes[:-1])
    assert _same_strokes(c.state.sketch.strokes, strokes[:-1]), "the undo reached the app as a real edit"


def test_a_late_real_ranking_during_a_replay_is_neither_hidden_nor_overwritten(
    qtbot: Any, sync_app: AppParts
) -> None:
    _show_strokes(sync_app)
    w, c = sync_app.window, sync_app.controller
    tab = w.explanation.strokes
    real = c.state.result
    assert real is not None and len(real.items) > 1
    tab.step.setValue(1)
    shown = _indices(w.results.replay_list)
    # A ranking for the current sketch arrives while stroke 1 is on show (e.g. a forced search).
    late = replace(real, items=tuple(reversed(real.items)))
    c._on_worker_result(JobResult("search", 99, "done", Stamped(c.state.revision, late)))
    assert c.state.shown is not None and c.state.shown.value is late
    assert w.results.replaying and _indices(w.results.replay_list) == shown, "the frame stays"
    tab.step.setValue(2)
    assert _indices(w.results.replay_list) != [it.index for it in late.items], "a frame is not the late one"
    tab.step.setValue(0)
    assert _indices(w.results.list) == [it.index for it in late.items], "the late ranking is on show after"


def test_a_replay_of_another_revision_never_reaches_the_main_window(qtbot: Any, sync_app: AppParts) -> None:
    _show_strokes(sync_app)
    w, c = sync_app.window, sync_app.controller
    p = c.strokes.replay_payload
    assert p is not None
    c.strokes.replay_payload = replace(p, revision=Revision("another sketch", p.revision.gallery))
    c.strokes.replay_step(1)
    assert not w.canvas.previewing and not w.results.replaying
    # and once the sketch changes, what was measured for the old one is forgotten
    c.strokes.replay_payload = p
    draw(qtbot, w.canvas, [(60, 60), (120, 140)])
    assert c.strokes.replay_payload is None
    c.strokes.replay_step(1)
    assert not w.canvas.previewing and not w.results.replaying


def test_a_prefix_without_ink_shows_an_empty_grid_with_a_note(qtbot: Any, sync_app: AppParts) -> None:
    _show_strokes(sync_app)
    w, c = sync_app.window, sync_app.controller
    p = c.strokes.replay_payload
    assert p is not None
    none_first: tuple[RetrievalResult | None, ...] = (None, *p.replay_results[1:])
    c.strokes.replay_payload = replace(p, replay_results=none_first)
    w.explanation.strokes.step.setValue(1)
    assert w.results.replaying and w.results.replay_list.count() == 0
    assert "no ink yet" in w.results.replay_message.text()
    qtbot.mouseClick(w.canvas, Qt.MouseButton.LeftButton, pos=QPoint(30, 30))
    assert not w.results.replaying
