"""The whole app on the tiny model and a generated gallery: draw, see results, explain, export."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt

from zse_gui.qt.app import AppParts, build_window, choose_model, parse_args
from zse_gui.qt.settings import AppSettings, load_settings
from zse_gui.qt.state import Stamped
from zse_gui.qt.worker import JobResult
from zse_gui.results import RetrievalResult

from .conftest import zigzag
from .test_qt_canvas import draw


def _draw_on_window(qtbot: Any, parts: AppParts) -> None:
    w = parts.window
    w.show()
    qtbot.waitExposed(w)
    draw(qtbot, w.canvas, [(60, 60), (150, 200), (260, 90)])
    # live retrieval waits for the adaptive debounce; the test fires it instead of waiting
    assert parts.controller.timer.isActive()
    parts.controller.timer.timeout.emit()


def test_drawing_with_the_mouse_updates_the_results(qtbot: Any, sync_app: AppParts) -> None:
    w = sync_app.window
    assert w.results.list.count() == 0
    _draw_on_window(qtbot, sync_app)
    result = sync_app.controller.state.result
    assert result is not None and result.mode == "rerank"
    assert w.results.list.count() == 6  # top_k of the fixture settings
    assert "stage 1" in w.latency.text() and "re-rank" in w.latency.text()
    first = w.results.items()[0]
    assert first.final_rank == 0 and Path(first.path).is_file()


def test_unchanged_sketch_is_not_searched_again(qtbot: Any, sync_app: AppParts) -> None:
    sync_app.window.set_sketch(zigzag())
    gen1 = sync_app.controller.search()
    assert gen1 is not None
    assert sync_app.controller.search() is None, "the same sketch must not be re-run"
    assert sync_app.controller.search(force=True) is not None


def test_undo_to_empty_clears_results(qtbot: Any, sync_app: AppParts) -> None:
    _draw_on_window(qtbot, sync_app)
    assert sync_app.window.results.list.count() > 0
    sync_app.window.actions_.undo.trigger()
    sync_app.controller.timer.timeout.emit()
    assert sync_app.window.results.list.count() == 0
    sync_app.window.actions_.redo.trigger()
    sync_app.controller.timer.timeout.emit()
    assert sync_app.window.results.list.count() == 6


def test_selecting_a_result_fills_every_explanation_view(qtbot: Any, sync_app: AppParts) -> None:
    _draw_on_window(qtbot, sync_app)
    ex = sync_app.window.explanation
    # the first result is selected and explained when the final ranking arrives
    assert sync_app.controller.state.explained is not None
    sync_app.window.select_result(2)
    item = sync_app.window.selected_result()
    assert sync_app.controller.state.explained.item == item
    for tab in (ex.correspondences, ex.attention, ex.synthesis, ex.kernel):
        assert tab.pane.has_image(), type(tab).__name__
    assert f"#{item.final_rank + 1}" in ex.header.text()
    assert "Relation score" in ex.kernel.info.text()


def test_clicking_a_patch_highlights_its_matches(qtbot: Any, sync_app: AppParts) -> None:
    _draw_on_window(qtbot, sync_app)
    tab = sync_app.window.explanation.correspondences
    sync_app.window.explanation.tabs.setCurrentWidget(tab)
    qtbot.waitExposed(tab.pane)
    before = tab.pane._image
    panel = tab.layout_.panel("photo")
    x, y = panel.centre(5)
    qtbot.mouseClick(tab.pane, Qt.MouseButton.LeftButton, pos=tab.pane.image_to_widget(x, y).toPoint())
    assert sync_app.controller.view_state.highlight == ("photo", 5)
    assert "photo patch 5" in tab.info.text()
    assert tab.pane._image != before, "the view is redrawn with the highlight"
    tab.clear_btn.click()
    assert sync_app.controller.view_state.highlight is None


def test_correspondence_controls_redraw_and_persist(qtbot: Any, sync_app: AppParts, tmp_path: Path) -> None:
    _draw_on_window(qtbot, sync_app)
    tab = sync_app.window.explanation.correspondences
    tab.head.setCurrentIndex(2)  # head 1
    tab.top_k.setValue(3)
    tab.mutual.setChecked(True)
    cs = sync_app.controller.view_state.correspondence
    assert (cs.head, cs.top_k, cs.mutual_only) == (1, 3, True)
    saved = load_settings(tmp_path / "config")
    assert (saved.corr_head, saved.corr_top_k, saved.mutual_only) == (1, 3, True)


def test_the_readout_setting_reaches_the_explanation(qtbot: Any, tmp_path: Path, gallery: Path) -> None:
    parts = build_window(
        AppSettings(top_k=6, rerank_depth=8, corr_readout="sinkhorn"), tmp_path / "c", sync=True
    )
    qtbot.addWidget(parts.window)
    try:
        parts.controller.state.gallery_request = str(gallery)
        parts.controller.load_model("zse_test", "")
        _draw_on_window(qtbot, parts)
        expl = parts.controller.state.explained.explanation
        assert {c.readout for c in expl.correspondences} == {"sinkhorn"}
    finally:
        parts.controller.shutdown()


def test_choosing_another_readout_recomputes_and_persists(
    qtbot: Any, sync_app: AppParts, tmp_path: Path
) -> None:
    from zse_gui.qt.explain_views import READOUT_LABELS
    from zse_gui.results import CORRESPONDENCE_READOUTS, DEFAULT_READOUT

    assert tuple(READOUT_LABELS) == CORRESPONDENCE_READOUTS
    _draw_on_window(qtbot, sync_app)
    tab = sync_app.window.explanation.correspondences
    assert tab.readout.currentData() == DEFAULT_READOUT
    assert sync_app.controller.state.explained.explanation.correspondences[0].readout == DEFAULT_READOUT
    tab.readout.setCurrentIndex(tab.readout.findData("attention"))
    assert sync_app.controller.state.explained.explanation.correspondences[0].readout == "attention"
    assert load_settings(tmp_path / "config").corr_readout == "attention"


def test_pointing_at_a_synthesis_cell_shows_its_source(qtbot: Any, sync_app: AppParts) -> None:
    _draw_on_window(qtbot, sync_app)
    tab = sync_app.window.explanation.synthesis
    sync_app.window.explanation.tabs.setCurrentWidget(tab)
    qtbot.waitExposed(tab.pane)
    e = sync_app.controller.state.explained.explanation
    x, y = tab.layout_.panel("synthesis").centre(3)
    target = tab.pane.image_to_widget(x, y).toPoint()
    # the first synthetic move into a widget is taken as the pointer entering it; move twice
    qtbot.mouseMove(tab.pane, target - QPoint(1, 0))
    qtbot.mouseMove(tab.pane, target)
    src = int(e.synthesis.source_cell[3])
    assert f"photo cell {src} " in tab.info.text()
    boxes = tab.pane.overlay()
    assert tab.layout_.panel("photo").cell_box(src) in boxes


def test_export_writes_png_svg_pdf_and_sidecar(qtbot: Any, sync_app: AppParts, tmp_path: Path) -> None:
    _draw_on_window(qtbot, sync_app)
    out = tmp_path / "out" / "fig.png"
    sync_app.window.export_requested.emit(str(out))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    for view in ("correspondences", "attention", "synthesis", "kernel"):
        for fmt in ("png", "svg", "pdf"):
            assert f"fig_{view}.{fmt}" in names
    side = json.loads((tmp_path / "out" / "fig.json").read_text())
    assert side["model"]["name"] == "zse_test"
    assert side["model"]["weights_sha256"] == sync_app.controller.state.model.sha256
    assert side["sketch"]["drawing"]["strokes"], "the strokes are in the sidecar"


def test_exported_png_matches_the_screen(qtbot: Any, sync_app: AppParts, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from zse_gui.qt.render import render_correspondence_view

    _draw_on_window(qtbot, sync_app)
    tab = sync_app.window.explanation.correspondences
    tab.top_k.setValue(4)
    sync_app.window.export_requested.emit(str(tmp_path / "e"))
    with Image.open(tmp_path / "e_correspondences.png") as im:
        png = np.asarray(im.convert("RGB"))
    screen = render_correspondence_view(
        sync_app.controller.state.explained.explanation, sync_app.controller.view_state
    )
    assert np.array_equal(png, screen.image)


def test_report_writes_a_pdf(qtbot: Any, sync_app: AppParts, tmp_path: Path) -> None:
    _draw_on_window(qtbot, sync_app)
    sync_app.window.report_requested.emit(str(tmp_path / "report.pdf"))
    pdf = tmp_path / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    side = json.loads((tmp_path / "report.json").read_text())
    assert len(side["pages"]) == 6
    n_strokes = len(sync_app.window.current_sketch().strokes)
    # a drawn sketch: the first five results each get a stroke page with one row per stroke
    assert [len(p["strokes"]["per_stroke"]) for p in side["pages"][:5]] == [n_strokes] * 5
    assert "strokes" not in side["pages"][5]
    # ... and an occlusion page, with its area under the deletion curve; a closing page: #1 vs #2
    assert all(0.0 <= p["occlusion"]["deletion_auc"] <= 1.0 for p in side["pages"][:5])
    assert "occlusion" not in side["pages"][5]
    assert side["contrast"]["a"]["name"].startswith("#1") and side["contrast"]["b"]["name"].startswith("#2")
    assert len(side["contrast"]["per_stroke"]) == n_strokes
    assert side["page_count"] == 1 + 6 + 5 + 5 + 1


def test_session_save_and_open_restores_strokes_and_settings(
    qtbot: Any, sync_app: AppParts, tmp_path: Path
) -> None:
    _draw_on_window(qtbot, sync_app)
    drawn = sync_app.window.current_sketch()
    sync_app.window.select_result(1)
    chosen = sync_app.window.selected_result()
    path = tmp_path / "s.zse.json"
    sync_app.window.session_save_requested.emit(str(path))
    data = json.loads(path.read_text())
    assert data["model"] == "zse_test" and data["weights_sha256"] == sync_app.controller.state.model.sha256
    sync_app.window.canvas.clear()
    sync_app.controller.settings = AppSettings(top_k=2)
    sync_app.window.session_open_requested.emit(str(path))
    assert len(sync_app.window.current_sketch().strokes) == len(drawn.strokes)
    assert sync_app.controller.settings.top_k == 6
    assert sync_app.window.selected_result().index == chosen.index


def test_opening_a_bad_session_shows_an_error(qtbot: Any, sync_app: AppParts, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    sync_app.window.session_open_requested.emit(str(bad))
    assert "Cannot open the session" in sync_app.window.statusBar().currentMessage()


def test_reopened_gallery_reuses_its_cache(qtbot: Any, sync_app: AppParts, gallery: Path) -> None:
    sync_app.controller.open_gallery(str(gallery))
    info = sync_app.controller.state.gallery
    assert info is not None and info.encoded == 0 and info.reused == 12
    bar = sync_app.window.statusBar()
    assert "0 encoded, 12 cached" in bar.currentMessage()
    # the message fits beside the permanent widgets of a window at its default size
    room = sync_app.window.width() - sum(
        w.sizeHint().width() for w in (sync_app.window.latency, sync_app.window.model_label)
    )
    assert bar.fontMetrics().horizontalAdvance(bar.currentMessage()) < room  # fmt: skip


def test_untrained_model_shows_the_banner(qtbot: Any, sync_app: AppParts) -> None:
    assert "No trained model" in sync_app.window.banner.text()
    assert not sync_app.window.banner.isHidden()


def test_autosave_keeps_the_strokes(qtbot: Any, sync_app: AppParts, tmp_path: Path) -> None:
    from zse_gui.qt.session import read_autosave

    _draw_on_window(qtbot, sync_app)
    saved = read_autosave(tmp_path / "config")
    assert saved is not None and len(saved.strokes) == 1


def test_cli_arguments_and_model_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from zse_gui.qt import app

    monkeypatch.setattr(app, "bundled_models", lambda: [])  # as on a copy without the demo weights
    args = parse_args(["--model", "zse_test", "--gallery", "/g", "--device", "cpu"])
    assert (args.model, args.gallery, args.device) == ("zse_test", "/g", "cpu")
    assert choose_model("zse_test", None, AppSettings()) == ("zse_test", "")
    assert choose_model(None, "/w.pth", AppSettings()) == ("zse_vitb16", "/w.pth")
    assert choose_model(None, None, AppSettings()) == ("zse_test", ""), "no demo: the random test model"
    # a saved model is reopened while its weights exist; a missing weight file is not
    assert choose_model(None, None, AppSettings(model="zse_test")) == ("zse_test", "")
    assert choose_model(None, None, AppSettings(model="zse_vitb16", weights="/gone.pth")) == ("zse_test", "")


def test_keyboard_shortcuts_are_bound(qtbot: Any, sync_app: AppParts) -> None:
    w = sync_app.window
    shortcuts = {
        a.text().replace("&", ""): a.shortcut().toString() for a in w.findChildren(type(w.actions_.undo))
    }
    assert shortcuts["Undo"] == "Ctrl+Z"
    assert shortcuts["Redo"] == "Ctrl+Shift+Z"
    assert shortcuts["Clear canvas"] == "Del"
    assert shortcuts["Save session…"] == "Ctrl+S"
    assert shortcuts["Export explanation…"] == "Ctrl+E"


def test_sample_sketch_menu_loads_strokes_and_searches(qtbot: Any, sync_app: AppParts) -> None:
    w = sync_app.window
    samples = next(m for m in w.findChildren(type(w.actions_.model_menu)) if m.title() == "Sample sketches")
    actions = samples.actions()
    assert len(actions) >= 3, "resources/sketches ships sample drawings"
    actions[0].trigger()
    assert not w.current_sketch().is_empty
    assert w.results.list.count() == 6


def test_user_guide_opens_from_help(qtbot: Any, sync_app: AppParts) -> None:
    from PySide6.QtWidgets import QTextBrowser

    w = sync_app.window
    guide = next(a for a in w.findChildren(type(w.actions_.undo)) if a.text() == "User guide")
    guide.trigger()
    browsers = w.findChildren(QTextBrowser)
    assert browsers and "Keyboard shortcuts" in browsers[0].toPlainText()


def test_checkpoint_with_seen_classes_marks_zero_shot_results(
    qtbot: Any, sync_app: AppParts, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QDialog, QPlainTextEdit

    from zse_gui.model import create_model, save_safetensors
    from zse_gui.qt.results_view import UNSEEN_ROLE

    ckpt = tmp_path / "trained.safetensors"
    save_safetensors(create_model("zse_test", seed=1), ckpt, "zse_test", meta={"seen_classes": ["circle"]})
    w = sync_app.window
    w.model_requested.emit("zse_test", str(ckpt))
    info = sync_app.controller.state.model
    assert info is not None and info.trained and info.seen_classes == frozenset({"circle"})
    assert w.banner.isHidden(), "a trained checkpoint needs no warning banner"
    reports = [d for d in w.findChildren(QDialog) if d.windowTitle() == "Load report"]
    assert reports and "loaded tensors" in reports[-1].findChild(QPlainTextEdit).toPlainText()
    assert sync_app.controller.state.gallery is not None, "the gallery is re-indexed with the new weights"
    w.set_sketch(zigzag())
    sync_app.controller.search()
    shown = w.results.items()
    assert len(shown) == 6
    badges = {it.label: w.results.list.item(k).data(UNSEEN_ROLE) for k, it in enumerate(shown)}
    assert badges == {lb: lb != "circle" for lb in badges}, "every class but the seen 'circle' is zero-shot"
    assert set(badges) - {"circle"}, "the top 6 of 12 photos in 3 classes include an unseen class"


def test_unavailable_device_falls_back(qtbot: Any, sync_app: AppParts) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("on a GPU machine 'cuda' works: nothing to fall back from")
    before = sync_app.controller.settings.device
    sync_app.window.device_requested.emit("cuda")
    assert sync_app.controller.settings.device == before
    assert sync_app.controller.state.model is not None and sync_app.controller.state.model.device == "cpu"
    assert "CUDA is not available" in sync_app.window.statusBar().currentMessage()


def test_screenshots_render_every_view(qtbot: Any, tmp_path: Path, gallery: Path) -> None:
    from PIL import Image

    from zse_gui.qt.screenshots import take_screenshots

    shots = take_screenshots(tmp_path / "shots", "fish", model=("zse_test", ""), gallery=str(gallery))
    names = sorted(p.name for p in shots)
    assert names == sorted(
        [
            "main-window.png",
            "correspondences.png",
            "ret-attention.png",
            "synthesis.png",
            "relation-kernel.png",
            "strokes.png",
            "replay-main.png",
            "strokes-contrast.png",
        ]
    )
    sizes = set()
    for p in shots:
        with Image.open(p) as im:
            sizes.add(im.size)
    assert len(sizes) == 1 and next(iter(sizes))[0] >= 1200


def test_toolbar_top_k_and_pen_settings_apply_and_persist(
    qtbot: Any, sync_app: AppParts, tmp_path: Path
) -> None:
    _draw_on_window(qtbot, sync_app)
    a = sync_app.window.actions_
    a.top_k.setValue(3)
    assert sync_app.window.results.list.count() == 3
    a.depth.setValue(0)  # stage 1 only
    assert sync_app.controller.state.result is not None and sync_app.controller.state.result.mode == "ret"
    a.pen_width.setValue(9.0)
    assert sync_app.window.canvas.pen_width == 9.0
    saved = load_settings(tmp_path / "config")
    assert (saved.top_k, saved.rerank_depth, saved.pen_width) == (3, 0, 9.0)


def test_open_sketch_image_searches_with_it_and_strokes_drawn_over_it(
    qtbot: Any, sync_app: AppParts, tmp_path: Path
) -> None:
    import numpy as np
    from PIL import Image

    img = np.full((80, 80, 3), 255, np.uint8)
    img[20:60, 38:42] = 0
    Image.fromarray(img).save(tmp_path / "line.png")
    sync_app.window.sketch_open_requested.emit(str(tmp_path / "line.png"))
    c = sync_app.controller
    assert c.state.background is not None and sync_app.window.current_sketch().is_empty
    first = c.state.result
    assert first is not None and len(first.items) == 6, "an image alone is a query"
    _draw_on_window(qtbot, sync_app)
    new = c.state.result
    assert new is not None and new is not first, "strokes drawn over the image start a new search"
    # a session keeps the image the strokes were drawn over
    sync_app.window.session_save_requested.emit(str(tmp_path / "s.json"))
    sync_app.window.canvas.clear()  # Clear canvas removes the image too
    assert c.state.background is None and c.state.result is None
    sync_app.window.canvas.undo()  # ... and undo brings both back, and searches with them
    assert c.state.background is not None and not sync_app.window.current_sketch().is_empty
    assert c.state.result is not None and c.state.sketch_source.endswith("line.png")
    sync_app.window.canvas.redo()
    assert c.state.background is None and c.state.result is None and c.state.sketch_source == "<strokes>"
    sync_app.window.session_open_requested.emit(str(tmp_path / "s.json"))
    assert c.state.background is not None and not sync_app.window.current_sketch().is_empty


def test_next_drawing_walks_through_a_quickdraw_file(qtbot: Any, sync_app: AppParts, tmp_path: Path) -> None:
    import json

    lines = [
        {"word": w, "countrycode": "", "recognized": True, "key_id": str(k), "drawing": d}
        for k, (w, d) in enumerate(
            [("cat", [[[0, 200], [0, 200]]]), ("cat", [[[0, 100, 200], [0, 50, 0]], [[10, 20], [200, 255]]])]
        )
    ]
    (tmp_path / "cat.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines))
    w, c = sync_app.window, sync_app.controller
    assert not w.actions_.next_drawing.isEnabled()
    w.sketch_open_requested.emit(str(tmp_path / "cat.ndjson"))
    assert len(w.current_sketch().strokes) == 1 and w.actions_.next_drawing.isEnabled()
    assert "drawing 1 (cat)" in w.statusBar().currentMessage()
    first = c.state.result
    w.actions_.next_drawing.trigger()
    assert len(w.current_sketch().strokes) == 2 and not w.actions_.next_drawing.isEnabled()
    assert "drawing 2 (cat)" in w.statusBar().currentMessage()
    assert c.state.result is not None and c.state.result is not first, "the next drawing is searched"
    w.canvas.undo()  # loading a drawing is an ordinary undoable edit
    assert len(w.current_sketch().strokes) == 1


def test_bad_sketch_file_is_reported(qtbot: Any, sync_app: AppParts, tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    sync_app.window.sketch_open_requested.emit(str(tmp_path / "broken.png"))
    assert "Cannot open sketch" in sync_app.window.statusBar().currentMessage()
    assert sync_app.controller.state.background is None


def test_bundled_demo_replaces_a_random_stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from zse_gui.qt import app

    monkeypatch.setattr(app, "bundled_models", lambda: [("zse_lite", "demo")])
    assert app.choose_model(None, None, AppSettings()) == ("zse_lite", "default")
    assert app.choose_model(None, None, AppSettings(model="zse_test")) == ("zse_lite", "default")
    ckpt = tmp_path / "mine.safetensors"
    ckpt.write_bytes(b"x")
    saved = AppSettings(model="zse_test", weights=str(ckpt))
    assert app.choose_model(None, None, saved) == ("zse_test", str(ckpt)), "trained weights are reopened"
    assert app.choose_model("zse_lite", None, AppSettings()) == ("zse_lite", "default")


def test_text_windows_have_a_close_button(qtbot: Any, sync_app: AppParts) -> None:
    from PySide6.QtWidgets import QDialog, QDialogButtonBox

    w = sync_app.window
    w.show_text("Gallery classes", "cat\ndog")
    dialogs = [d for d in w.findChildren(QDialog) if d.windowTitle() == "Gallery classes"]
    assert dialogs and dialogs[-1].isVisible()
    box = dialogs[-1].findChild(QDialogButtonBox)
    assert box is not None
    close = box.button(QDialogButtonBox.StandardButton.Close)
    assert close is not None
    close.click()
    assert not dialogs[-1].isVisible()


def _reranked(result: RetrievalResult, order: list[int]) -> RetrievalResult:
    """The same items in another order, as the next sketch's final ranking would bring them."""
    items = tuple(replace(result.items[k], final_rank=r) for r, k in enumerate(order))
    return replace(result, items=items)


def test_the_explanation_follows_number_one_until_the_user_picks_a_result(
    qtbot: Any, sync_app: AppParts
) -> None:
    _draw_on_window(qtbot, sync_app)
    c, w = sync_app.controller, sync_app.window
    first = c.state.result
    assert first is not None and c.state.explained is not None and len(first.items) >= 5
    assert c.state.explained.item.index == first.items[0].index and not w.results.user_chose

    def arrive(result: RetrievalResult) -> None:  # the next sketch's final ranking (same revision)
        c._on_search_result(JobResult("search", 99, "done", Stamped(c.state.revision, result)))

    # The photo explained as #1 drops to #4: the new #1 is explained, not the old one down the grid.
    moved = _reranked(first, [4, 1, 2, 0, 3, *range(5, len(first.items))])
    arrive(moved)
    assert c.state.explained is not None and c.state.explained.item.index == moved.items[0].index
    assert w.selected_result() is not None and w.selected_result().final_rank == 0
    # A result the user picks is followed (and explained) while later rankings still list it.
    w.select_result(2)
    picked = w.selected_result()
    assert picked is not None and w.results.user_chose
    arrive(first)
    assert c.state.explained is not None and c.state.explained.item.index == picked.index
    assert w.selected_result() is not None and w.selected_result().index == picked.index
