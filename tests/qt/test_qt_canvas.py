"""The drawing canvas, driven with real mouse events."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, Qt

from zse_gui.qt.canvas import SketchCanvas
from zse_gui.sketch import StrokeSketch

from .conftest import zigzag


def _canvas(qtbot: Any) -> SketchCanvas:
    c = SketchCanvas()
    qtbot.addWidget(c)
    c.resize(400, 400)
    c.show()
    qtbot.waitExposed(c)
    return c


def draw(qtbot: Any, widget: Any, points: list[tuple[int, int]], on_page: bool = True) -> None:
    """Press at the first point, move through the others, release at the last.

    With ``on_page`` (and a canvas), points are relative to the page's top-left corner, so that a
    test's stroke lands on the white page whatever the margins of the window it runs in; without
    it they are widget coordinates.
    """
    if on_page and isinstance(widget, SketchCanvas):
        corner = widget.to_widget((0.0, 0.0))
        dx, dy = round(corner.x()), round(corner.y())
        points = [(x + dx, y + dy) for x, y in points]
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=QPoint(*points[0]))
    for p in points[1:]:
        qtbot.mouseMove(widget, QPoint(*p))
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=QPoint(*points[-1]))


def test_mouse_stroke_becomes_a_vector_stroke_in_canvas_pixels(qtbot: Any) -> None:
    c = _canvas(qtbot)
    c.set_smoothing(False)
    c.set_pen_width(6.0)
    seen: list[StrokeSketch] = []
    c.strokes_changed.connect(seen.append)
    with qtbot.waitSignal(c.edited, timeout=2000):
        draw(qtbot, c, [(50, 50), (100, 120), (200, 300)])
    strokes = c.sketch().strokes
    assert len(strokes) == 1 and strokes[0].width == 6.0
    # the widget is 400 px for a 512 px logical canvas: positions scale by 512 / 400
    assert np.allclose(strokes[0].points[0], [50 * 512 / 400, 50 * 512 / 400], atol=1.5)
    assert np.allclose(strokes[0].points[-1], [200 * 512 / 400, 300 * 512 / 400], atol=1.5)
    assert len(seen) >= 2, "strokes_changed fires while drawing, not only at the end"
    assert not seen[-1].is_empty


def test_undo_redo_clear_and_history_signal(qtbot: Any) -> None:
    c = _canvas(qtbot)
    history: list[tuple[bool, bool]] = []
    c.history_changed.connect(lambda u, r: history.append((u, r)))
    draw(qtbot, c, [(20, 20), (80, 80)])
    draw(qtbot, c, [(200, 20), (220, 180)])
    assert len(c.sketch().strokes) == 2
    c.undo()
    assert len(c.sketch().strokes) == 1
    c.redo()
    assert len(c.sketch().strokes) == 2
    c.clear()
    assert c.sketch().is_empty
    c.undo()
    assert len(c.sketch().strokes) == 2
    assert history[-1] == (True, True)


def test_stroke_eraser_removes_the_touched_stroke_only(qtbot: Any) -> None:
    c = _canvas(qtbot)
    c.load_sketch(zigzag())
    before = c.sketch().strokes
    c.set_tool("eraser")
    # the second zigzag stroke is the horizontal line at canvas y = 300 (widget y = 300 * 400 / 512)
    y = round(300 * 400 / 512)
    draw(qtbot, c, [(200, y - 30), (200, y), (200, y + 3)])
    after = c.sketch().strokes
    assert len(after) == 1 and after[0] is before[0]
    c.undo()
    assert len(c.sketch().strokes) == 2


def test_a_click_makes_a_dot_stroke(qtbot: Any) -> None:
    c = _canvas(qtbot)
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    strokes = c.sketch().strokes
    assert len(strokes) == 1 and len(strokes[0].points) == 1


def test_drawing_outside_the_canvas_clamps_to_it(qtbot: Any) -> None:
    c = _canvas(qtbot)
    c.resize(600, 400)  # the square canvas is centred: x < 100 and x > 500 are outside it
    c.set_smoothing(False)
    draw(qtbot, c, [(300, 200), (590, 390), (10, 10)], on_page=False)
    pts = c.sketch().strokes[0].points
    assert len(pts) == 3 and pts.min() >= 0 and pts.max() <= 511


def test_a_press_on_the_margin_draws_nothing(qtbot: Any) -> None:
    c = _canvas(qtbot)
    c.resize(600, 400)  # grey margins left and right of the centred square page
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=QPoint(30, 200))
    draw(qtbot, c, [(560, 50), (300, 200)], on_page=False)  # a drag from the margin starts no stroke
    assert c.sketch().strokes == ()
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=QPoint(300, 200))  # on the page: a dot
    assert len(c.sketch().strokes) == 1
