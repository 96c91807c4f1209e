"""Menus, the toolbar and keyboard shortcuts of the main window.

Actions either change the canvas directly (pen, eraser, undo: pure view state) or ask the user for
a path and emit the window's intent signal with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMenu,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
)

from zse_gui.model import list_configs
from zse_gui.paths import repo_path
from zse_gui.qt.session import SESSION_SUFFIX

if TYPE_CHECKING:
    from zse_gui.qt.main_window import MainWindow

__all__ = ["Actions", "build_menus", "SKETCH_FILTER", "SESSION_FILTER"]

log = logging.getLogger(__name__)

SKETCH_FILTER = "Sketches (*.json *.ndjson *.png *.jpg *.jpeg *.bmp *.webp);;All files (*)"
SESSION_FILTER = "zse-gui sessions (*.zse-session *.zse.json);;All files (*)"
CHECKPOINT_FILTER = "Checkpoints (*.pth *.pt *.safetensors);;All files (*)"
SAMPLES_DIR = repo_path("resources", "sketches")


@dataclass
class Actions:
    """The window's actions and toolbar controls (the controller never touches them)."""

    undo: QAction
    redo: QAction
    export: QAction
    report: QAction
    next_drawing: QAction
    top_k: QSpinBox
    depth: QSpinBox
    live: QCheckBox
    pen_width: QDoubleSpinBox
    smoothing: QCheckBox
    model_menu: QMenu
    devices: dict[str, QAction] = field(default_factory=dict)
    bundled: list[QAction] = field(default_factory=list)


def _act(
    win: MainWindow,
    menu: QMenu,
    text: str,
    shortcut: str | QKeySequence.StandardKey | None = None,
    tip: str = "",
) -> QAction:
    a = QAction(text, win)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(tip)
    menu.addAction(a)
    return a


def build_menus(win: MainWindow) -> Actions:
    """Create menus, toolbar and shortcuts on ``win`` and connect them to its canvas and intents."""
    mb = win.menuBar()
    file_menu = mb.addMenu("&File")
    edit_menu = mb.addMenu("&Edit")
    search_menu = mb.addMenu("&Search")
    model_menu = mb.addMenu("&Model")
    help_menu = mb.addMenu("&Help")

    # ---- file
    _act(
        win, file_menu, "Open &gallery folder…", "Ctrl+G", "Index a folder of photos and search it"
    ).triggered.connect(lambda: _ask_folder(win))
    _act(
        win,
        file_menu,
        "&Open sketch…",
        "Ctrl+O",
        "Load strokes (.json), a QuickDraw .ndjson or a sketch image",
    ).triggered.connect(lambda: _ask_open(win, "Open sketch", SKETCH_FILTER, win.sketch_open_requested))
    next_drawing = _act(
        win,
        file_menu,
        "&Next drawing in file",
        "Ctrl+Shift+N",
        "Load the next drawing of the open QuickDraw .ndjson file",
    )
    next_drawing.triggered.connect(win.next_drawing_requested)
    next_drawing.setEnabled(False)
    samples = file_menu.addMenu("Sample sketches")
    for path in sorted(SAMPLES_DIR.glob("*.json")):
        a = QAction(path.stem.replace("_", " "), win)
        a.triggered.connect(lambda _=False, p=str(path): win.sketch_open_requested.emit(p))
        samples.addAction(a)
    samples.setEnabled(bool(samples.actions()))
    classes = _act(
        win, file_menu, "Gallery &classes…", None, "Which gallery classes the model saw in training"
    )
    classes.triggered.connect(win.gallery_classes_requested)
    _act(
        win, file_menu, "S&kipped gallery files…", None, "Gallery files that could not be indexed, and why"
    ).triggered.connect(win.skipped_files_requested)
    file_menu.addSeparator()
    _act(
        win, file_menu, "Open &session…", "Ctrl+Shift+O", "Restore strokes, model, gallery and settings"
    ).triggered.connect(lambda: _ask_open(win, "Open session", SESSION_FILTER, win.session_open_requested))
    _act(
        win, file_menu, "&Save session…", "Ctrl+S", "Save strokes, model, gallery and settings as JSON"
    ).triggered.connect(
        lambda: _ask_save(
            win, "Save session", "session" + SESSION_SUFFIX, SESSION_FILTER, win.session_save_requested
        )
    )
    file_menu.addSeparator()
    export = _act(
        win,
        file_menu,
        "&Export explanation…",
        "Ctrl+E",
        "Write the selected result's explanation as PNG, SVG, PDF and a JSON sidecar",
    )
    export.triggered.connect(
        lambda: _ask_save(
            win, "Export explanation (base name)", "explanation", "All files (*)", win.export_requested
        )
    )
    report = _act(
        win,
        file_menu,
        "Export top-k &report (PDF)…",
        "Ctrl+Shift+E",
        "A multi-page PDF explaining every result shown",
    )
    report.triggered.connect(
        lambda: _ask_save(win, "Export report", "report.pdf", "PDF (*.pdf)", win.report_requested)
    )
    export.setEnabled(False)
    report.setEnabled(False)
    file_menu.addSeparator()
    _act(win, file_menu, "&Quit", QKeySequence.StandardKey.Quit).triggered.connect(win.close)

    # ---- edit (pure canvas state: handled by the view)
    undo = _act(win, edit_menu, "&Undo", "Ctrl+Z")
    undo.triggered.connect(win.canvas.undo)
    redo = _act(win, edit_menu, "&Redo", "Ctrl+Shift+Z")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    redo.triggered.connect(win.canvas.redo)
    undo.setEnabled(False)
    redo.setEnabled(False)
    clear = _act(win, edit_menu, "&Clear canvas", "Delete", "Remove every stroke (undoable)")
    clear.triggered.connect(win.canvas.clear)
    edit_menu.addSeparator()
    tools = QActionGroup(win)
    pen = _act(win, edit_menu, "&Pen", "P", "Draw strokes")
    eraser = _act(win, edit_menu, "&Stroke eraser", "E", "Click or drag over strokes to remove them")
    for a, tool in ((pen, "pen"), (eraser, "eraser")):
        a.setCheckable(True)
        tools.addAction(a)
        a.triggered.connect(lambda _=False, t=tool: win.canvas.set_tool(t))
    pen.setChecked(True)

    # ---- search
    search_now = _act(win, search_menu, "Search &now", "Ctrl+Return", "Run retrieval for the current sketch")
    search_now.triggered.connect(win.search_now_requested)

    # ---- toolbar
    tb = win.addToolBar("Tools")
    tb.setObjectName("toolsToolbar")
    tb.setMovable(False)
    for a in (pen, eraser, undo, redo, clear):
        tb.addAction(a)
    pen_width = QDoubleSpinBox(win)
    pen_width.setRange(0.5, 64.0)
    pen_width.setSingleStep(0.5)
    pen_width.setSuffix(" px")
    pen_width.setToolTip("Pen width (canvas pixels)")
    smoothing = QCheckBox("smooth", win)
    smoothing.setToolTip("Smooth each stroke when it is finished")
    tb.addWidget(QLabel(" width ", win))
    tb.addWidget(pen_width)
    tb.addWidget(smoothing)
    tb.addSeparator()
    top_k = QSpinBox(win)
    top_k.setRange(1, 500)
    top_k.setToolTip("Results shown")
    depth = QSpinBox(win)
    depth.setRange(0, 10000)
    depth.setToolTip("Stage-1 candidates re-ranked by the relation network (0 = no re-ranking)")
    live = QCheckBox("live", win)
    live.setToolTip("Search while drawing")
    tb.addWidget(QLabel(" top-k ", win))
    tb.addWidget(top_k)
    tb.addWidget(QLabel(" re-rank ", win))
    tb.addWidget(depth)
    tb.addWidget(live)
    tb.addAction(search_now)

    def _on_search_controls_changed(*_: object) -> None:
        win.search_settings_changed.emit(top_k.value(), depth.value(), live.isChecked())

    def _on_pen_controls_changed(*_: object) -> None:
        win.canvas.set_pen_width(pen_width.value())
        win.canvas.set_smoothing(smoothing.isChecked())
        win.pen_changed.emit(pen_width.value(), smoothing.isChecked())

    top_k.valueChanged.connect(_on_search_controls_changed)
    depth.valueChanged.connect(_on_search_controls_changed)
    live.toggled.connect(_on_search_controls_changed)
    pen_width.valueChanged.connect(_on_pen_controls_changed)
    smoothing.toggled.connect(_on_pen_controls_changed)

    # ---- model
    actions = Actions(
        undo, redo, export, report, next_drawing, top_k, depth, live, pen_width, smoothing, model_menu
    )
    _build_model_menu(win, model_menu, actions)

    # ---- help
    _act(win, help_menu, "User guide", "F1").triggered.connect(lambda: _show_guide(win))
    return actions


def _build_model_menu(win: MainWindow, menu: QMenu, actions: Actions) -> None:
    menu.addAction(_bundled_placeholder(win, menu))
    _act(
        win,
        menu,
        "Random test model (zse_test)",
        None,
        "Tiny untrained model: for trying the app, not for results",
    ).triggered.connect(lambda: win.model_requested.emit("zse_test", ""))
    _act(
        win,
        menu,
        "Open &checkpoint…",
        "Ctrl+M",
        "An official best_checkpoint.pth or one of ours (.safetensors)",
    ).triggered.connect(lambda: _ask_checkpoint(win))
    _act(win, menu, "Show load &report", None, "What the last weight load did, key by key").triggered.connect(
        win.load_report_requested
    )
    menu.addSeparator()
    dev_menu = menu.addMenu("&Device")
    group = QActionGroup(win)
    for dev in ("auto", "cpu", "cuda", "mps"):
        a = QAction(dev, win)
        a.setCheckable(True)
        group.addAction(a)
        dev_menu.addAction(a)
        a.triggered.connect(lambda _=False, d=dev: win.device_requested.emit(d))
        actions.devices[dev] = a


def _bundled_placeholder(win: MainWindow, menu: QMenu) -> QAction:
    a = QAction("No bundled model found", win)
    a.setEnabled(False)
    return a


def set_bundled_models(win: MainWindow, models: list[tuple[str, str]]) -> None:
    """List bundled models (name, description) at the top of the Model menu."""
    menu = win.actions_.model_menu
    first = menu.actions()[0]
    for a in win.actions_.bundled:
        menu.removeAction(a)
    win.actions_.bundled.clear()
    first.setVisible(not models)
    for name, desc in models:
        a = QAction(f"Bundled model ({name})", win)
        a.setStatusTip(desc)
        a.triggered.connect(lambda _=False, n=name: win.model_requested.emit(n, "default"))
        menu.insertAction(first, a)
        win.actions_.bundled.append(a)


def _ask_folder(win: MainWindow) -> None:
    folder = QFileDialog.getExistingDirectory(win, "Open gallery folder")
    if folder:
        win.gallery_open_requested.emit(folder)


def _ask_open(win: MainWindow, title: str, filt: str, signal: SignalInstance) -> None:
    path, _ = QFileDialog.getOpenFileName(win, title, "", filt)
    if path:
        signal.emit(path)


def _ask_save(win: MainWindow, title: str, default: str, filt: str, signal: SignalInstance) -> None:
    path, _ = QFileDialog.getSaveFileName(win, title, default, filt)
    if path:
        signal.emit(path)


def _ask_checkpoint(win: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(win, "Open checkpoint", "", CHECKPOINT_FILTER)
    if not path:
        return
    names = list_configs()
    default = names.index("zse_vitb16") if "zse_vitb16" in names else 0
    name, ok = QInputDialog.getItem(
        win, "Model architecture", "Architecture of this checkpoint:", names, default, False
    )
    if ok and name:
        win.model_requested.emit(name, path)


def _show_guide(win: MainWindow) -> None:
    """The user guide (docs/user-guide.md) rendered in a non-modal window."""
    docs = repo_path("docs")
    guide = docs / "user-guide.md"
    dlg = QDialog(win)
    dlg.setWindowTitle("zse-gui user guide")
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    browser = QTextBrowser(dlg)
    browser.setSearchPaths([str(docs)])  # so the guide's screenshots show
    browser.setOpenExternalLinks(True)
    if guide.is_file():
        browser.setMarkdown(guide.read_text(encoding="utf-8"))
    else:
        browser.setPlainText(f"The user guide is missing: {guide}")
    lay = QVBoxLayout(dlg)
    lay.addWidget(browser)
    dlg.resize(900, 700)
    dlg.show()
