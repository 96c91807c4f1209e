"""Controller logic against a ``MagicMock(spec=MainWindow)`` view and a fake engine (no torch work)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from zse_gui.qt.controller import Controller, latency_text
from zse_gui.qt.jobs import EngineState, model_info
from zse_gui.qt.main_window import MainWindow
from zse_gui.qt.settings import AppSettings, load_settings
from zse_gui.qt.state import GalleryInfo, ModelInfo, Stamped, class_seen
from zse_gui.qt.worker import Worker
from zse_gui.results import RetrievalResult
from zse_gui.sketch import StrokeSketch

from .conftest import zigzag
from .fakes import FakeEngine


def _model(seen: frozenset[str] | None = None) -> ModelInfo:
    return ModelInfo("zse_test", "random-init", "ab" * 32, "cpu", "", seen, "", False, 2, 2)


@pytest.fixture
def view() -> MagicMock:
    v = MagicMock(spec=MainWindow)
    v.selected_result.return_value = None
    v.current_sketch.return_value = zigzag()
    return v


def _controller(
    view: MagicMock, tmp_path: Path, engine: FakeEngine | None = None, settings: AppSettings | None = None
) -> tuple[Controller, EngineState]:
    fake = engine or FakeEngine()
    state = EngineState(engine=fake, gallery=fake.index_gallery("/g"))
    worker = Worker(state, sync=True)
    c = Controller(view, worker, settings or AppSettings(top_k=4, rerank_depth=3), config_folder=tmp_path)
    c.state.model = _model(frozenset({"cat"}))
    c.state.gallery = GalleryInfo("/g", 6, ("cat", "dog", "owl"))
    return c, state


def test_init_shows_the_settings_and_connects_intents(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    s = AppSettings(top_k=9)
    c, _ = _controller(view, tmp_path, settings=s)
    view.set_settings.assert_called_once_with(s)
    view.strokes_changed.connect.assert_called_once_with(c._on_view_strokes_changed)
    view.closing.connect.assert_called_once_with(c._on_view_closing)


def test_empty_sketch_clears_results_without_a_job(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    engine = FakeEngine()
    c, _ = _controller(view, tmp_path, engine)
    c._on_view_strokes_changed(StrokeSketch((), (512, 512)))
    assert c.search() is None
    view.set_results.assert_called_with(None, None)
    view.set_results_message.assert_called_with("Draw a sketch to search the gallery.")
    assert engine.searched == 0


def test_search_shows_stage1_then_reranked_results(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    c, _ = _controller(view, tmp_path)
    c.state.with_sketch(zigzag())
    assert c.search() == 1
    calls = view.set_results.call_args_list
    assert [call.args[0].mode for call in calls] == ["ret", "rerank"]
    assert len(calls[0].args[0].items) == 4, "stage 1 is cut to top-k for display"
    assert calls[1].args[1] == frozenset({"cat"}), "seen classes go to the grid for the zero-shot badges"
    latencies = [call.args[0] for call in view.set_latency.call_args_list]
    assert "re-ranking…" in latencies[0] and "re-rank K=3 12 ms" in latencies[1]
    view.select_result.assert_called_once_with(0, chosen=False)  # the app, not the user, picks #1


def test_search_waits_for_a_gallery(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    c, _ = _controller(view, tmp_path)
    c.state.gallery = None
    c.state.with_sketch(zigzag())
    assert c.search() is None
    assert "Waiting for a gallery" in view.set_results_message.call_args.args[0]


def test_search_error_becomes_a_message(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    c, _ = _controller(view, tmp_path, FakeEngine(fail_encode=True))
    c.state.with_sketch(zigzag())
    c.search()
    assert view.set_results_message.call_args.args[0] == "Sketch: the sketch has no ink"
    view.set_results.assert_not_called()


def test_live_drawing_starts_the_adaptive_debounce(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    c, _ = _controller(view, tmp_path)
    for _ in range(5):
        c.delay.observe(500.0)
    c._on_view_strokes_changed(zigzag())
    assert c.timer.isActive() and c.timer.interval() == c.delay.delay_ms >= 400
    c._on_view_search_settings_changed(4, 3, False)  # live off
    c.timer.stop()
    c._on_view_strokes_changed(zigzag())
    assert not c.timer.isActive()


def test_model_error_is_shown_and_keeps_the_app_alive(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    c, _ = _controller(view, tmp_path)
    c.state.model = None
    c.load_model("zse_test", str(tmp_path / "missing.pth"))
    title, text = view.show_error.call_args.args
    assert title == "Cannot load the model" and "missing.pth" in text
    assert "No model is loaded" in view.set_banner.call_args.args[0]


def test_index_progress_and_cancel(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    from zse_gui.qt.worker import JobResult

    c, _ = _controller(view, tmp_path)
    c.state.asked["index"] = c.state.revision
    c._on_worker_result(JobResult("index", 1, "progress", (3, 10)))
    view.set_progress.assert_called_with(3, 10, "indexing 3 / 10")
    c.worker = MagicMock(spec=Worker)
    c._on_view_cancel_requested()
    assert [call.args for call in c.worker.cancel.call_args_list] == [("index",), ("export",)]
    c._on_worker_result(JobResult("index", 1, "cancelled"))
    view.hide_progress.assert_called()
    assert "cancelled" in view.set_status.call_args.args[0]


def test_gallery_status_counts_unseen_classes(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    from zse_gui.qt.worker import JobResult

    c, _ = _controller(view, tmp_path)
    c.state.asked["index"] = c.state.revision
    info = GalleryInfo("/g", 6, ("cat", "dog", "owl"), (), 6, 0)
    c._on_worker_result(JobResult("index", 0, "done", Stamped(c.state.revision, info)))
    text = view.set_status.call_args.args[0]
    assert "3 classes (2 zero-shot)" in text
    # the line must fit beside the latency and model label: it used to carry the whole path
    long = GalleryInfo("/home/someone/pictures/holiday/" + "x" * 60, 318, tuple(f"c{i}" for i in range(223)))
    from zse_gui.qt.controller import gallery_status_text

    assert len(gallery_status_text(long, _model(frozenset({"c1"})))) <= 96


def test_shutdown_stops_the_worker_and_saves(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    c, _ = _controller(view, tmp_path)
    c._save_settings(AppSettings(top_k=11))
    c.state.with_sketch(zigzag())
    c.worker = MagicMock(spec=Worker)
    c.shutdown()
    c.shutdown()  # idempotent
    c.worker.stop.assert_called_once()
    assert load_settings(tmp_path).top_k == 11
    assert (tmp_path / "autosave-strokes.json").is_file()


def test_model_info_reads_seen_classes_from_metadata() -> None:
    report = MagicMock()
    report.metadata = {"meta": {"seen_classes": ["cat", "dog"]}}
    report.summary.return_value = "file: x"
    engine = MagicMock()
    engine.weights_info.report = report
    engine.config.name, engine.config.ca_heads, engine.config.num_heads = "zse_lite", 8, 12
    info = model_info(engine)
    assert (
        info.seen_classes == frozenset({"cat", "dog"})
        and info.trained
        and (info.ca_heads, info.sa_heads) == (8, 12)
    )


def test_seen_classes_match_gallery_folder_spellings_and_photo_only_classes() -> None:
    # Folder names spell classes with "_" (hot_air_balloon); the model's metadata with spaces.
    report = MagicMock()
    report.metadata = {
        "meta": {"seen_classes": ["hot air balloon", "Teddy-Bear"], "photo_only_classes": ["sea_lion"]}
    }
    engine = MagicMock()
    engine.weights_info.report = report
    engine.config.name, engine.config.ca_heads, engine.config.num_heads = "zse_lite", 4, 4
    seen = model_info(engine).seen_classes
    assert seen is not None
    assert [class_seen(lb, seen) for lb in ("hot_air_balloon", "teddy_bear", "sea lion", "zebra")] == [
        True,
        True,
        True,
        False,
    ]
    # a malformed photo-only list is ignored, the seen list still counts
    report.metadata = {"meta": {"seen_classes": ["cat"], "photo_only_classes": "dog"}}
    assert model_info(engine).seen_classes == frozenset({"cat"})


def test_latency_text_lists_each_stage() -> None:
    r = RetrievalResult((), "rerank", 50, {"encode": 12.4, "stage1": 0.42, "stage2": 80.2}, 10)
    assert latency_text(r, reranking=False) == "encode 12 ms · stage 1 0.4 ms · re-rank K=50 80 ms"


def test_gallery_classes_text_marks_zero_shot_classes() -> None:
    from zse_gui.qt.controller import gallery_classes_text

    g = GalleryInfo("/g", 6, ("cat", "dog", "owl"))
    text = gallery_classes_text(g, _model(frozenset({"cat"})))
    assert "1 seen in training, 2 unseen (zero-shot)" in text
    lines = text.splitlines()
    assert "seen       cat" in lines and "ZERO-SHOT  dog" in lines and "ZERO-SHOT  owl" in lines
    assert "unknown" in gallery_classes_text(g, _model(None))
    assert gallery_classes_text(None, _model()) == "No gallery is open."


def test_gallery_classes_intent_shows_the_list(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    c, _ = _controller(view, tmp_path)
    c._on_view_gallery_classes_requested()
    title, text = view.show_text.call_args.args
    assert title == "Gallery classes" and "ZERO-SHOT  dog" in text


def test_results_and_explanations_of_an_older_sketch_never_reach_the_view(
    qtbot: Any, view: MagicMock, tmp_path: Path
) -> None:
    from zse_gui.qt.state import ExplainPayload
    from zse_gui.qt.worker import JobResult

    c, _ = _controller(view, tmp_path)
    c._on_view_strokes_changed(zigzag())
    c.search()
    assert c.state.result is not None
    c._on_view_result_selected(c.state.result.items[0])  # what the grid's select_result(0) emits
    cat = c.state.revision
    house = StrokeSketch(zigzag().strokes[:1], (512, 512))
    c._on_view_strokes_changed(house)  # the timer has not fired yet: no request for the house
    view.set_results_stale.assert_called_with(True)
    view.set_results.reset_mock()
    late = RetrievalResult(c.state.shown.value.items, "rerank", 3)  # type: ignore[union-attr]
    c._on_worker_result(JobResult("search", c.worker._latest["search"], "done", Stamped(cat, late)))
    view.set_results.assert_not_called()
    expl = c.state.explained
    assert expl is not None
    view.set_correspondence_view.reset_mock()
    c._on_worker_result(JobResult("explain", 99, "done", ExplainPayload(expl.item, expl.explanation, cat)))
    view.set_correspondence_view.assert_not_called()


def test_delete_while_explaining_leaves_nothing_on_screen(
    qtbot: Any, view: MagicMock, tmp_path: Path
) -> None:
    c, _ = _controller(view, tmp_path)
    c._on_view_strokes_changed(zigzag())
    c.search()
    assert c.state.result is not None
    c._on_view_result_selected(c.state.result.items[0])
    assert c.state.explained is not None
    view.reset_mock()
    c._on_view_strokes_changed(StrokeSketch((), (512, 512)))  # Delete
    view.set_results.assert_called_with(None, None)
    view.clear_explanation.assert_called()
    assert c.state.explained is None and c.state.shown is None and c.state.revision.sketch == ""


def test_skipped_files_are_listed_with_reasons(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    c, _ = _controller(view, tmp_path)
    c.state.gallery = GalleryInfo("/g", 2, ("cat",), (("/g/cat/a.png", "truncated image"),), 2, 0)
    c._on_view_skipped_files_requested()
    title, text = view.show_text.call_args.args
    assert title == "Skipped gallery files" and "/g/cat/a.png" in text and "truncated image" in text


def test_a_report_name_without_extension_gets_pdf(qtbot: Any, view: MagicMock, tmp_path: Path) -> None:
    c, _ = _controller(view, tmp_path)
    c._on_view_strokes_changed(zigzag())
    c.search()
    c._on_view_report_requested(str(tmp_path / "mushroom_report"))
    assert (tmp_path / "mushroom_report.pdf").is_file()


@pytest.mark.parametrize("live", [True, False])
def test_first_strokes_replace_the_draw_a_sketch_prompt(
    qtbot: Any, view: MagicMock, tmp_path: Path, live: bool
) -> None:
    c, _ = _controller(view, tmp_path, settings=AppSettings(top_k=4, rerank_depth=3, live=live))
    c._on_view_strokes_changed(zigzag())
    message = view.set_results_message.call_args.args[0]
    assert message != "Draw a sketch to search the gallery."
    assert ("Searching" in message) if live else ("Search now" in message)
