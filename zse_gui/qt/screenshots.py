"""Render the main views to PNG files: ``python -m zse_gui.qt.screenshots docs/screenshots``.

Runs the real window with a synchronous worker (so every view is filled before it is grabbed) on
the bundled demo model and gallery when present, else the tiny random model on a generated
gallery. Nothing is persisted (no settings, no autosave), so the user's config is never touched.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from zse_gui.data.synthetic import TOY_SHAPES, make_toy_dataset
from zse_gui.qt.app import AppParts, apply_style, build_window, choose_model, default_gallery
from zse_gui.qt.menus import SAMPLES_DIR
from zse_gui.qt.settings import AppSettings
from zse_gui.viz.correspondence import select_pairs

__all__ = ["main", "take_screenshots"]

log = logging.getLogger(__name__)

SIZE = (1440, 920)


def _generated_gallery(root: Path) -> Path:
    """A small gallery of generated shape photos, for when no demo gallery is bundled."""
    _, photos = make_toy_dataset(root, TOY_SHAPES, sketches_per_class=0, photos_per_class=6, size=96)
    return photos


def _grab(widget: QWidget, path: Path) -> Path:
    QApplication.processEvents()
    if not widget.grab().save(str(path)):
        raise OSError(f"cannot write screenshot {path}")
    log.info("wrote %s", path)
    return path


def _point_at(widget: QWidget, pos: QPoint, click: bool) -> None:
    """Deliver a mouse move (and a click) to a widget, as a real pointer would."""
    move = QMouseEvent(
        QMouseEvent.Type.MouseMove,
        pos,
        widget.mapToGlobal(pos),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, move)
    if click:
        for kind in (QMouseEvent.Type.MouseButtonPress, QMouseEvent.Type.MouseButtonRelease):
            ev = QMouseEvent(
                kind,
                pos,
                widget.mapToGlobal(pos),
                Qt.MouseButton.LeftButton,
                Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier,
            )
            QApplication.sendEvent(widget, ev)


def take_screenshots(
    out_dir: Path, sketch: str = "fish", model: tuple[str, str] | None = None, gallery: str = ""
) -> list[Path]:
    """Open the app, draw a sample sketch, and grab the window once per view.

    Args:
        out_dir: where the PNGs go.
        sketch: a sample sketch name (``resources/sketches/<name>.json``).
        model: (name, weights); default: what ``make run`` opens.
        gallery: gallery folder; default: the demo gallery, else a generated one.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zse-shots-") as tmp:
        return _take(out_dir, sketch, model, gallery, Path(tmp))


def _take(out_dir: Path, sketch: str, model: tuple[str, str] | None, gallery: str, work: Path) -> list[Path]:
    name, weights = model or choose_model(None, None, AppSettings())
    gallery = gallery or default_gallery() or str(_generated_gallery(work / "gallery"))
    parts: AppParts = build_window(
        AppSettings(top_k=18, rerank_depth=40), work / "config", sync=True, persist=False
    )
    win = parts.window
    win.resize(*SIZE)
    win.show()
    parts.controller.state.gallery_request = gallery
    parts.controller.load_model(name, weights)
    sample = SAMPLES_DIR / f"{sketch}.json"
    win.sketch_open_requested.emit(str(sample))
    QApplication.processEvents()
    shots = [_grab(win, out_dir / "main-window.png")]
    ex = win.explanation
    tab = ex.correspondences
    ex.tabs.setCurrentWidget(tab)
    QApplication.processEvents()
    if tab.layout_ is not None:
        # click the sketch patch of the strongest drawn line, to show the highlight view
        explained = parts.controller.state.explained
        e = explained.explanation if explained else None
        if e is not None:
            lines = select_pairs(e, parts.controller.view_state.correspondence)
            patch = lines[0].sketch_patch if lines else int(np.argmax(e.for_head(None).ink))
            x, y = tab.layout_.panel("sketch").centre(patch)
            _point_at(tab.pane, tab.pane.image_to_widget(x, y).toPoint(), click=True)
    shots.append(_grab(win, out_dir / "correspondences.png"))
    ex.tabs.setCurrentWidget(ex.attention)
    shots.append(_grab(win, out_dir / "ret-attention.png"))
    ex.tabs.setCurrentWidget(ex.synthesis)
    QApplication.processEvents()
    syn = ex.synthesis
    if syn.layout_ is not None:
        g = syn.layout_.panels[0].grid
        x, y = syn.layout_.panel("synthesis").centre(g * (g // 2) + g // 2)  # a cell near the middle
        _point_at(syn.pane, syn.pane.image_to_widget(x, y).toPoint(), click=False)
    shots.append(_grab(win, out_dir / "synthesis.png"))
    ex.tabs.setCurrentWidget(ex.kernel)
    shots.append(_grab(win, out_dir / "relation-kernel.png"))
    ex.tabs.setCurrentWidget(ex.strokes)  # the sync worker measures the strokes right here
    QApplication.processEvents()
    st = ex.strokes
    drawn = parts.controller.state.sketch
    if st._panel is not None and drawn.strokes:
        body = max(range(len(drawn.strokes)), key=lambda k: len(drawn.strokes[k].points))
        px, py = drawn.strokes[body].points[len(drawn.strokes[body].points) // 3]
        st.attribution.hovered.emit(
            px * st._panel.scale + st._panel.offset[0], py * st._panel.scale + st._panel.offset[1]
        )
    shots.append(_grab(win, out_dir / "strokes.png"))
    if st.step.maximum() >= 2:  # the replay in the main window, halfway through the drawing
        st.step.setValue(max(1, st.step.maximum() // 2))
        shots.append(_grab(win, out_dir / "replay-main.png"))
        st.stop_player()
    # why this and not another: the first result of another class than the selected one
    a = parts.controller.strokes.item
    labels = [st.versus.itemText(r) for r in range(1, st.versus.count())]
    other = next((r for r, t in enumerate(labels, 1) if a is not None and a.label and a.label not in t), 1)
    if st.versus.count() > 1:
        st.versus.setCurrentIndex(other)
        st.versus.activated.emit(other)
        QApplication.processEvents()
        shots.append(_grab(win, out_dir / "strokes-contrast.png"))
    parts.controller.shutdown()
    win.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m zse_gui.qt.screenshots OUT_DIR [--sketch NAME]``."""
    p = argparse.ArgumentParser(prog="python -m zse_gui.qt.screenshots", description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    p.add_argument("--sketch", default="fish", help="sample sketch name in resources/sketches")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    apply_style(app)
    shots = take_screenshots(args.out_dir, args.sketch)
    log.info("%d screenshots in %s", len(shots), args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
