"""The Strokes tab: computed when shown, numbers on hover, nothing from an older sketch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zse_gui.qt import contrast_pane
from zse_gui.qt.app import AppParts
from zse_gui.qt.controller_strokes import contrast_export_base, stroke_leads
from zse_gui.qt.state import StrokesPayload
from zse_gui.qt.worker import JobResult
from zse_gui.sketch import Stroke, StrokeSketch
from zse_gui.stroke_results import MatchStrength, StrokeAttribution
from zse_gui.viz import read_sidecar

from .conftest import zigzag
from .test_qt_canvas import draw


def _show_strokes(parts: AppParts) -> None:
    parts.window.set_sketch(zigzag())
    parts.controller.search()
    ex = parts.window.explanation
    ex.tabs.setCurrentWidget(ex.strokes)  # emits strokes_requested; the sync worker runs the job


def test_opening_the_tab_measures_the_selected_result(qtbot: Any, sync_app: AppParts) -> None:
    _show_strokes(sync_app)
    tab = sync_app.window.explanation.strokes
    assert tab.attribution.has_image() and tab.replay.has_image() and tab.occlusion.has_image()
    assert "Match strength" in tab.strength.text() and tab.strength.toolTip()
    assert not tab.progress.isVisible()
    asked = sync_app.controller.strokes.asked
    assert asked is not None and asked[0] == sync_app.controller.state.revision
    # Hovering stroke 1 (the first point of the zigzag) shows its numbers.
    panel = tab._panel
    assert panel is not None
    x, y = np.asarray(zigzag().strokes[0].points[1]) * panel.scale + np.asarray(panel.offset)
    seen: list[int] = []
    tab.stroke_hovered.connect(seen.append)
    tab.attribution.hovered.emit(float(x), float(y))
    assert seen == [0] and tab.info.text().startswith("Stroke 1:")
    tab.attribution.hovered.emit(-1.0, -1.0)
    assert seen == [0, -1] and "Orange strokes" in tab.info.text()
    # The summary names what the measured attribution says (stroke_leads is tested on its own below).
    last = sync_app.controller.strokes.last
    assert last is not None and last.attribution is not None
    assert stroke_leads(last.attribution) in tab.info.text()


def test_results_for_an_older_sketch_never_reach_the_tab(qtbot: Any, sync_app: AppParts) -> None:
    _show_strokes(sync_app)
    c = sync_app.controller
    tab = sync_app.window.explanation.strokes
    old_revision = c.state.revision
    item = sync_app.window.selected_result()
    assert item is not None
    # The sketch changes: the tab is cleared and the lane cancelled.
    more = StrokeSketch(
        (*zigzag().strokes, Stroke(np.array([[50, 50], [90, 60]], np.float32), 4.0)), (512, 512)
    )
    sync_app.window.set_sketch(more)
    c._on_view_strokes_changed(more)
    assert not tab.attribution.has_image() and c.strokes.asked is None
    # A late payload computed for the old sketch is dropped.
    late = StrokesPayload(
        item, MatchStrength(9.0, 1.0, 0.99, "clear match", 10, "tip"), None, None, old_revision
    )
    c.strokes.on_result(JobResult("strokes", 99, "done", late))
    assert tab.strength.text() == "" and not tab.attribution.has_image()


def test_an_opened_sketch_image_has_no_strokes_to_measure(qtbot: Any, sync_app: AppParts) -> None:
    c = sync_app.controller
    c.state.background = np.full((512, 512, 3), 255, np.uint8)
    ex = sync_app.window.explanation
    sync_app.window.set_sketch(zigzag())
    c.search()
    ex.tabs.setCurrentWidget(ex.strokes)
    assert c.state.result is not None  # the search ran on the composed image
    assert not ex.strokes.attribution.has_image() and c.strokes.asked is None


def test_why_this_and_not_that_colours_strokes_by_the_difference(qtbot: Any, sync_app: AppParts) -> None:
    _show_strokes(sync_app)
    c = sync_app.controller
    tab = sync_app.window.explanation.strokes
    assert tab.versus.isEnabled() and tab.versus.count() >= 2  # "(only this result)" + the others
    own = tab.info.text()
    tab.versus.activated.emit(1)  # the first other result
    assert c.strokes.contrast_asked is not None and c.strokes.contrast_asked[0] == c.state.revision
    assert tab.info.text().startswith("Why #") and "Orange strokes pull towards" in tab.info.text()
    tab.attribution.hovered.emit(-1.0, -1.0)
    panel = tab._panel
    assert panel is not None
    x, y = np.asarray(zigzag().strokes[0].points[1]) * panel.scale + np.asarray(panel.offset)
    tab.attribution.hovered.emit(float(x), float(y))
    assert tab.info.text().startswith("Stroke 1: towards #")
    tab.versus.activated.emit(0)  # back to this result alone
    assert c.strokes.contrast_asked is None and tab.info.text() == own


def test_a_late_contrast_for_an_older_sketch_is_dropped(qtbot: Any, sync_app: AppParts) -> None:
    from zse_gui.qt.state import ContrastPayload
    from zse_gui.stroke_results import StrokeContrast

    _show_strokes(sync_app)
    c = sync_app.controller
    tab = sync_app.window.explanation.strokes
    tab.versus.activated.emit(1)
    shown = tab.info.text()
    old = c.state.revision
    a, b = c.strokes.item, c.state.result.items[1] if c.state.result else None
    attr = c.strokes.last.attribution if c.strokes.last else None
    assert a is not None and b is not None and attr is not None
    more = StrokeSketch(
        (*zigzag().strokes, Stroke(np.array([[50, 50], [90, 60]], np.float32), 4.0)), (512, 512)
    )
    sync_app.window.set_sketch(more)
    c._on_view_strokes_changed(more)
    assert c.strokes.contrast_asked is None and tab.info.text() != shown
    late = ContrastPayload(a, b, StrokeContrast(attr, attr), old)
    c.strokes.on_contrast_result(JobResult("contrast", 99, "done", late))
    assert not tab.attribution.has_image()


def test_the_replay_player_steps_through_the_drawing_and_back_to_the_curve(
    qtbot: Any, sync_app: AppParts
) -> None:
    _show_strokes(sync_app)
    tab = sync_app.window.explanation.strokes
    n = len(zigzag().strokes)
    assert tab.play.isEnabled() and tab.step.maximum() == n
    curve = tab.replay._image
    assert curve is not None
    curve = curve.copy()
    tab.step.setValue(1)
    assert tab.step_label.text() == f"stroke 1/{n}"
    frame = tab.replay._image
    assert frame is not None and frame != curve and frame.height() == tab._frames[0].shape[0]
    tab.play.click()  # from stroke 1 to the last one, then back to the curve
    assert tab.play.text() == "Stop"
    for _ in range(n):
        tab._on_tick()
    assert tab.step.value() == 0 and tab.play.text() == "Play" and tab.replay._image == curve


def test_stroke_colours_arrive_before_the_ranks(qtbot: Any, sync_app: AppParts) -> None:
    c = sync_app.controller
    seen: list[tuple[str, int]] = []
    original = c.strokes.on_result

    def record(res: JobResult) -> None:
        if res.stage in ("partial", "done") and res.payload.attribution is not None:
            seen.append((res.stage, len(res.payload.attribution.compared)))
        original(res)

    c.strokes.on_result = record  # type: ignore[method-assign]
    _show_strokes(sync_app)
    assert seen[0] == ("partial", 1), "the target's own scores first"
    assert seen[-1][1] > 1, "then the attribution ranked among the other results"
    assert "among the first" in sync_app.window.explanation.strokes.info.text()


def test_the_contrast_area_shows_patches_and_both_correspondences_and_exports(
    qtbot: Any, sync_app: AppParts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _show_strokes(sync_app)
    c = sync_app.controller
    pane = sync_app.window.explanation.strokes.contrast
    assert not pane.isVisibleTo(sync_app.window) and not pane.export.isEnabled()
    sync_app.window.explanation.strokes.versus.activated.emit(1)
    assert pane.isVisibleTo(sync_app.window) and pane.has_contrast() and pane.export.isEnabled()
    view = c.strokes.contrast_view
    assert view is not None and c.state.result is not None
    assert (view.patches.index_a, view.patches.index_b) == (
        c.strokes.item.index,
        c.state.result.items[1].index,
    )
    assert pane.text.text().startswith("Patches pulling most towards #")
    tab = sync_app.window.explanation.strokes
    assert not tab.replay.isVisibleTo(tab) and not tab.occlusion.isVisibleTo(tab)  # B takes their place
    g = view.patches.grid
    inked = [int(p) for p in np.flatnonzero(np.isfinite(view.patches.difference))]
    r, col = divmod(inked[0], g)
    cell = 320 / g  # the tab draws the map 320 pixels wide
    pane.patches.hovered.emit((col + 0.5) * cell, (r + 0.5) * cell)
    assert pane.text.text().startswith(f"Patch row {r + 1}, col {col + 1}: towards")
    pane.patches.hovered.emit(-1.0, -1.0)
    assert pane.text.text().startswith("Patches pulling most towards #")
    # The Export dialog offers a base name that says which two results (not "contrast" again, which
    # the writer appends itself).
    offered: list[str] = []

    def fake_dialog(_parent: Any, _title: str, default: str, _filter: str) -> tuple[str, str]:
        offered.append(default)
        return "", ""

    monkeypatch.setattr(contrast_pane.QFileDialog, "getSaveFileName", fake_dialog)
    pane.export.click()
    assert len(offered) == 1 and offered[0].startswith("why_1") and "_not_2" in offered[0]
    assert "contrast" not in offered[0]
    assert contrast_export_base("#1 fish", "#3 sea horse") == "why_1_fish_not_3_sea_horse"
    sync_app.window.contrast_export_requested.emit(str(tmp_path / "why.png"))  # a typed suffix is dropped
    for name in ("why_contrast_patches.png", "why_contrast_correspondences.png", "why_contrast.png"):
        assert (tmp_path / name).is_file(), name
    doc = read_sidecar(tmp_path / "why.json")
    assert doc["model"]["name"] == "zse_test" and doc["contrast"]["b"]["index"] == view.patches.index_b
    sync_app.window.explanation.strokes.versus.activated.emit(0)  # back to this result alone
    assert not pane.isVisibleTo(sync_app.window) and c.strokes.contrast_view is None
    assert tab.replay.isVisibleTo(tab) and tab.occlusion.isVisibleTo(tab)


def test_a_late_patch_contrast_for_an_older_sketch_never_reaches_the_contrast_area(
    qtbot: Any, sync_app: AppParts
) -> None:
    from dataclasses import replace

    from zse_gui.qt.state import ContrastPayload

    _show_strokes(sync_app)
    c = sync_app.controller
    pane = sync_app.window.explanation.strokes.contrast
    sync_app.window.explanation.strokes.versus.activated.emit(1)
    view, asked = c.strokes.contrast_view, c.strokes.contrast_asked
    assert view is not None and asked is not None and view.strokes is not None
    old = c.state.revision
    a, b = c.strokes.item, c.state.result.items[1] if c.state.result else None
    assert a is not None and b is not None
    late = ContrastPayload(a, b, view.strokes, old, view.patches, view.explanation_a, view.explanation_b)
    more = StrokeSketch(
        (*zigzag().strokes, Stroke(np.array([[50, 50], [90, 60]], np.float32), 4.0)), (512, 512)
    )
    sync_app.window.set_sketch(more)
    c._on_view_strokes_changed(more)
    assert not pane.isVisibleTo(sync_app.window) and not pane.has_contrast()
    for stage in ("partial", "done"):
        c.strokes.on_contrast_result(JobResult("contrast", 99, stage, late))
        assert not pane.has_contrast() and c.strokes.contrast_view is None
    # Even a payload stamped with the current revision is dropped unless that contrast was asked for.
    c.strokes.on_contrast_result(JobResult("contrast", 99, "done", replace(late, revision=c.state.revision)))
    assert not pane.has_contrast()
    # And nothing is exported from it.
    c.strokes.export_contrast("/nonexistent/x")
    assert c.strokes.contrast_view is None


def _attribution(removed: list[float]) -> StrokeAttribution:
    n = len(removed)
    return StrokeAttribution(
        0, "p.jpg", 1.0, 0, (0, 1), np.asarray(removed, np.float32), np.full(n, np.nan, np.float32),
        np.zeros(n, np.int64), np.zeros(n, np.int64),
    )  # fmt: skip


def test_the_summary_names_only_strokes_that_have_a_measure() -> None:
    # One stroke: leaving it out leaves no ink, so its contribution is NaN ("+nan" before).
    one = stroke_leads(_attribution([np.nan]))
    assert "nan" not in one and "draw more" in one
    # base logit 1.0: stroke 2 (removed 0.2) supports most, stroke 3 (removed 1.5) pulls away most.
    assert stroke_leads(_attribution([0.9, 0.2, 1.5, np.nan])) == (
        "stroke 2 supports it most (+0.80), stroke 3 pulls away most (-0.50)"
    )
    # Every measurable stroke pulls away: none is called a supporter.
    leads = stroke_leads(_attribution([1.5, np.nan]))
    assert leads == "no stroke supports it, stroke 1 pulls away most (-0.50)"


def test_an_undo_back_to_a_measured_drawing_shows_its_measurements_without_measuring_again(
    qtbot: Any, sync_app: AppParts, monkeypatch: pytest.MonkeyPatch
) -> None:
    _show_strokes(sync_app)
    c, w = sync_app.controller, sync_app.window
    tab = w.explanation.strokes
    first = c.strokes.last
    assert first is not None and first.attribution is not None and tab.attribution.has_image()
    lanes: list[str] = []
    submit = c.worker.submit

    def counting(job: Any, **kw: Any) -> Any:
        lanes.append(job.lane)
        return submit(job, **kw)

    monkeypatch.setattr(c.worker, "submit", counting)
    w.show()
    qtbot.waitExposed(w)
    n = len(w.canvas.sketch().strokes)
    draw(qtbot, w.canvas, [(80, 300), (200, 320)])  # a further stroke: a new drawing
    assert len(w.canvas.sketch().strokes) == n + 1, "the stroke landed on the canvas"
    c.timer.timeout.emit()
    assert "strokes" in lanes, "a new drawing is measured"
    assert c.strokes.last is not None and c.strokes.last.revision == c.state.revision
    lanes.clear()
    w.canvas.undo()  # back to the measured drawing
    c.timer.timeout.emit()
    assert c.state.revision == first.revision
    assert "strokes" not in lanes, "its measurements are kept, not computed again"
    assert c.strokes.last is first and tab.attribution.has_image() and not tab.progress.isVisible()
    assert "supports it most" in tab.info.text() or "no stroke" in tab.info.text()


def test_a_report_reuses_what_the_strokes_tab_measured(
    qtbot: Any, sync_app: AppParts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _show_strokes(sync_app)
    c = sync_app.controller
    shown = c.strokes.last
    assert shown is not None and shown.attribution is not None and shown.occlusion is not None
    engine = c.worker.state.engine
    assert engine is not None
    measured: list[tuple[str, int]] = []
    for name in ("attribute_strokes", "occlusion_map"):
        real = getattr(engine, name)

        def counting(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            measured.append((_name, int(args[2])))  # (query, gallery, index, ...)
            return _real(*args, **kw)

        monkeypatch.setattr(engine, name, counting)
    c._on_view_report_requested(str(tmp_path / "report.pdf"))
    assert (tmp_path / "report.pdf").is_file()
    first = shown.item.index
    assert measured, "the other results are measured for their pages"
    assert ("attribute_strokes", first) not in measured and ("occlusion_map", first) not in measured
    # ... and still get their pages: the sidecar's page for that result has the kept occlusion.
    pages = read_sidecar(tmp_path / "report.json")["pages"]
    page = next(p for p in pages if p["photo"]["path"] == shown.item.path)
    assert page["occlusion"]["deletion_auc"] == round(shown.occlusion.deletion_auc, 6)
