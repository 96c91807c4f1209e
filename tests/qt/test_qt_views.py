"""Views render what setters give them and emit intents: the result grid, the image pane, the tabs."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from zse_gui.qt.explain_views import CorrespondenceTab
from zse_gui.qt.image_pane import ImagePane
from zse_gui.qt.results_view import UNSEEN_ROLE, ResultsView, movement_text
from zse_gui.results import RankedItem, RetrievalResult
from zse_gui.viz.correspondence import CorrespondenceSettings
from zse_gui.viz.layout import row_layout


def _item(index: int, s1: int, final: int, label: str | None) -> RankedItem:
    return RankedItem(index, f"/nowhere/{index}.png", label, 0.5, 0.6, 0.1, s1, final)


def test_movement_text() -> None:
    assert movement_text(_item(0, 3, 0, "a"), reranked=True, top_k=10) == ("▲3", "#1b7f3b")
    assert movement_text(_item(0, 0, 2, "a"), reranked=True, top_k=10) == ("▼2", "#b3261e")
    assert movement_text(_item(0, 1, 1, "a"), reranked=True, top_k=10)[0] == "="
    assert movement_text(_item(0, 30, 4, "a"), reranked=True, top_k=10)[0] == "▲26 new"
    assert movement_text(_item(0, 3, 0, "a"), reranked=False, top_k=10)[0] == ""


def test_results_view_marks_unseen_classes_and_keeps_selection(qtbot: Any) -> None:
    v = ResultsView()
    qtbot.addWidget(v)
    items = (
        _item(7, 1, 0, "cat"),
        _item(3, 0, 1, "zebra"),
        _item(5, 2, 2, None),
        _item(6, 3, 3, "palm_tree"),
    )
    v.set_results(RetrievalResult(items, "rerank", 4), seen=frozenset({"cat", "palm tree"}))
    roles = [v.list.item(r).data(UNSEEN_ROLE) for r in range(4)]
    assert roles == [False, True, False, False], (
        "only labelled classes missing from the seen list are zero-shot"
    )
    assert "class seen in training" in v.list.item(3).toolTip()
    with qtbot.waitSignal(v.result_selected) as blocker:
        v.select_row(1)
    assert blocker.args[0].index == 3
    # a new ranking keeps the same gallery item selected, without re-emitting the selection
    reordered = (_item(3, 0, 0, "zebra"), _item(7, 1, 1, "cat"))
    with qtbot.assertNotEmitted(v.result_selected):
        v.set_results(RetrievalResult(reordered, "rerank", 2), seen=None)
    assert v.selected_item() is not None and v.selected_item().index == 3
    assert v.list.currentRow() == 0
    assert not any(v.list.item(r).data(UNSEEN_ROLE) for r in range(2)), "unknown seen list: no badges"
    v.set_results(None)
    assert v.list.count() == 0 and v.selected_item() is None


def test_results_view_paints_tiles_without_thumbnails(qtbot: Any) -> None:
    v = ResultsView()
    qtbot.addWidget(v)
    v.resize(500, 400)
    v.set_results(RetrievalResult((_item(0, 0, 0, "cat"),), "ret", 0), seen=frozenset())
    img = v.grab().toImage()  # paints the delegate (missing file -> "no preview" text, no crash)
    assert not img.isNull()


def test_image_pane_maps_clicks_to_image_pixels(qtbot: Any) -> None:
    p = ImagePane("nothing yet")
    qtbot.addWidget(p)
    p.resize(400, 200)
    assert p.to_image(QPointF(10, 10)) is None
    p.set_image(np.zeros((100, 200, 3), np.uint8))  # drawn 2x: 400 x 200 fills the pane exactly
    xy = p.to_image(QPointF(100, 50))
    assert xy is not None and np.allclose(xy, (50, 25))
    back = p.image_to_widget(50, 25)
    assert np.allclose((back.x(), back.y()), (100, 50))
    p.set_overlay([((0, 0, 10, 10), "red")])
    assert p.overlay() == [(0, 0, 10, 10)]
    p.set_image(np.zeros((10, 10, 3), np.uint8))
    assert p.overlay() == [], "a new image clears the old overlay"


def test_correspondence_tab_controls_and_hit_test(qtbot: Any) -> None:
    tab = CorrespondenceTab()
    qtbot.addWidget(tab)
    tab.resize(700, 500)
    tab.set_heads(4)
    want = CorrespondenceSettings(top_k=7, threshold=0.01, head=2, mutual_only=True, ink_only=False)
    with qtbot.assertNotEmitted(tab.settings_changed):
        tab.set_settings(want)
    assert tab.settings() == want
    with qtbot.waitSignal(tab.settings_changed) as blocker:
        tab.top_k.setValue(9)
    assert blocker.args[0].top_k == 9
    layout = row_layout(("sketch", "photo"), 64, 4, 8, 0, 0)
    tab.set_view(np.full((layout.height, layout.width, 3), 255, np.uint8), layout, "info")
    tab.show()
    qtbot.waitExposed(tab)
    with qtbot.waitSignal(tab.patch_clicked) as blocker:
        x, y = layout.panel("photo").centre(6)
        tab._on_pane_clicked(x, y)
    assert blocker.args == ["photo", 6]
    with qtbot.assertNotEmitted(tab.patch_clicked):
        tab._on_pane_clicked(66, 10)  # the gap between the panels


def _shown_results(qtbot: Any, width: int, height: int) -> ResultsView:
    v = ResultsView()
    qtbot.addWidget(v)
    v.resize(width, height)
    v.show()
    qtbot.waitExposed(v)
    return v


def test_new_results_show_from_the_top_and_stale_ones_are_dimmed(qtbot: Any) -> None:
    v = _shown_results(qtbot, 300, 260)
    many = tuple(_item(i, i, i, "cat") for i in range(40))
    v.set_results(RetrievalResult(many, "rerank", 40))
    v.select_row(30)  # the user picks a tile far down the grid
    assert v.list.verticalScrollBar().value() > 0
    # the next sketch's stage-1 ranking still lists that photo: kept selected, but shown from the top
    stage1 = tuple(_item(i, i, i, "cat") for i in range(40))
    v.set_results(RetrievalResult(stage1, "ret", 0))
    assert v.selected_item() is not None and v.selected_item().index == 30
    assert v.list.verticalScrollBar().value() == 0, "a new ranking must be shown from its first tile"
    v.set_stale(True)
    assert v.stale and not v.list.isEnabled(), "a grid of an earlier sketch is dimmed and not clickable"
    v.set_results(RetrievalResult(stage1, "ret", 0))
    assert not v.stale and v.list.isEnabled()


def test_tile_tooltips_describe_the_tile_they_belong_to(qtbot: Any) -> None:
    v = ResultsView()
    qtbot.addWidget(v)
    v.set_results(RetrievalResult((_item(1, 0, 0, "cat"), _item(2, 1, 1, "dog")), "rerank", 2))
    assert "/nowhere/1.png" in v.list.item(0).toolTip() and "/nowhere/2.png" in v.list.item(1).toolTip()
    v.set_results(RetrievalResult((_item(2, 1, 0, "dog"), _item(1, 0, 1, "cat")), "rerank", 2))
    assert "/nowhere/2.png" in v.list.item(0).toolTip() and "final rank 1" in v.list.item(0).toolTip()


def test_focus_of_a_vanishing_control_returns_to_the_canvas(qtbot: Any) -> None:
    """Hiding or disabling the focused control must not hand Delete / Ctrl+Z to the width box."""
    from zse_gui.qt.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    tab = win.explanation.strokes
    win.explanation.tabs.setCurrentWidget(tab)
    tab.play.setEnabled(True)
    tab.versus.setEnabled(True)

    tab.play.setFocus()
    qtbot.waitUntil(tab.play.hasFocus)
    tab.play.setEnabled(False)  # the replay stops as the drawing is cleared
    qtbot.waitUntil(lambda: not tab.play.hasFocus())
    assert QApplication.focusWidget() is win.canvas

    tab.versus.setFocus()
    qtbot.waitUntil(tab.versus.hasFocus)
    tab.versus.setVisible(False)  # the contrast list goes away
    qtbot.waitUntil(lambda: not tab.versus.hasFocus())
    assert QApplication.focusWidget() is win.canvas

    # A deliberate move (the user clicks the width box) is kept.
    win.actions_.pen_width.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(win.actions_.pen_width.hasFocus)
    assert not win.canvas.hasFocus()


def test_only_a_pick_follows_its_photo_into_the_next_ranking(qtbot: Any) -> None:
    v = _shown_results(qtbot, 400, 300)
    first = tuple(_item(i, i, i, "cat") for i in range(6))
    v.set_results(RetrievalResult(first, "rerank", 6))
    v.select_row(0, chosen=False)  # the app explains #1 of a new ranking
    assert v.selected_item() is not None and not v.user_chose
    # The next sketch ranks photo 0 fourth: the app's selection is dropped (the controller then
    # selects and explains the new #1) instead of following photo 0 down the grid.
    moved = tuple(_item(i, k, k, "cat") for k, i in enumerate((5, 4, 3, 0, 1, 2)))
    v.set_results(RetrievalResult(moved, "rerank", 6))
    assert v.selected_item() is None
    # A tile the user picks is followed into the next ranking.
    v.select_row(0, chosen=False)
    rect = v.list.visualItemRect(v.list.item(2))
    qtbot.mouseClick(v.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert v.user_chose and v.selected_item() is not None and v.selected_item().index == 3
    v.set_results(RetrievalResult(first, "rerank", 6))
    assert v.selected_item() is not None and v.selected_item().index == 3
    # A click on the tile the app had selected pins it as well.
    v.set_results(RetrievalResult(moved, "rerank", 6))
    v.select_row(0, chosen=False)
    rect = v.list.visualItemRect(v.list.item(0))
    qtbot.mouseClick(v.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert v.user_chose
    v.set_results(RetrievalResult(first, "rerank", 6))
    assert v.selected_item() is not None and v.selected_item().index == 5
