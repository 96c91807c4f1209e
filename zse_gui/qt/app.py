"""``zse-gui``: command line, application start-up, and the error hook that keeps errors visible.

``make run`` (no arguments) opens the bundled demo model and gallery when they are present;
otherwise the tiny random ``zse_test`` model with a banner saying so, and the user picks a
checkpoint and a gallery.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from zse_gui.model import default_models_dir, get_config, list_configs
from zse_gui.paths import REPO_ROOT
from zse_gui.qt.controller import Controller
from zse_gui.qt.jobs import EngineState
from zse_gui.qt.main_window import MainWindow
from zse_gui.qt.menus import set_bundled_models
from zse_gui.qt.session import read_autosave
from zse_gui.qt.settings import DEVICES, AppSettings, config_dir, load_settings
from zse_gui.qt.worker import Worker

__all__ = [
    "run_app",
    "parse_args",
    "build_window",
    "AppParts",
    "bundled_models",
    "default_gallery",
    "install_excepthook",
    "choose_model",
    "apply_style",
]

log = logging.getLogger(__name__)

REPO = REPO_ROOT
DEMO_MODEL = "zse_lite"
FALLBACK_MODEL = "zse_test"


def bundled_models() -> list[tuple[str, str]]:
    """(name, description) of registered models whose weight file is in ``models/``."""
    out = []
    for name in list_configs():
        cfg = get_config(name)
        if cfg.weights_file and (default_models_dir() / cfg.weights_file).is_file():
            out.append((name, cfg.description))
    return out


def default_gallery() -> str:
    """The bundled demo gallery, or "" when it is not there."""
    demo = REPO / "resources" / "demo_gallery"
    return str(demo) if demo.is_dir() and any(p.is_dir() for p in demo.iterdir()) else ""


def choose_model(args_model: str | None, args_weights: str | None, settings: AppSettings) -> tuple[str, str]:
    """The model to open: the command line, else the last trained model used, else the bundled
    demo, else the random test model.

    A last-used model is reopened only while its weights still exist; a last-used random init
    gives way to the demo once one is bundled (it was only ever a stand-in).
    """
    bundled = {n for n, _ in bundled_models()}
    if args_model or args_weights:
        name = args_model or "zse_vitb16"
        return name, args_weights or ("default" if name in bundled else "")
    demo = DEMO_MODEL in bundled
    if settings.model in list_configs():
        weights = settings.weights
        if weights == "default":
            usable = settings.model in bundled
        elif weights:
            usable = Path(weights).is_file()
        else:
            usable = not demo
        if usable:
            return settings.model, weights
    if demo:
        return DEMO_MODEL, "default"
    return FALLBACK_MODEL, ""


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse ``zse-gui [--model NAME] [--weights PATH] [--gallery DIR] [--device ...]``."""
    p = argparse.ArgumentParser(
        prog="zse-gui",
        description="Explainable zero-shot sketch-based image retrieval: draw, search, see why.",
        epilog=(
            "Examples:\n  zse-gui\n"
            "  zse-gui --model zse_vitb16 --weights best_checkpoint.pth --gallery photos/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", help=f"model name ({', '.join(list_configs())})")
    p.add_argument("--weights", help="checkpoint file (.pth official, or .safetensors), or 'default'")
    p.add_argument("--gallery", help="folder of photos (class sub-folders give labels)")
    p.add_argument(
        "--device", choices=DEVICES, help="where the model runs (default: the saved setting, auto)"
    )
    p.add_argument("--sync", action="store_true", help=argparse.SUPPRESS)  # debugging: no worker thread
    return p.parse_args(argv)


@dataclass
class AppParts:
    """The pieces of a running app (tests and screenshots drive them directly)."""

    window: MainWindow
    controller: Controller
    worker: Worker


def build_window(
    settings: AppSettings, config_folder: Path | None = None, sync: bool = False, persist: bool = True
) -> AppParts:
    """Create the window, worker and controller; nothing is loaded yet."""
    window = MainWindow()
    worker = Worker(EngineState(), sync=sync)
    controller = Controller(window, worker, settings, config_folder=config_folder, persist=persist)
    bundled = bundled_models()
    set_bundled_models(window, bundled)
    controller.bundled = [name for name, _ in bundled]
    return AppParts(window, controller, worker)


def apply_style(app: QApplication) -> None:
    """The app's style sheet and icon from ``resources/`` (missing files are not an error)."""
    style = REPO / "resources" / "style.qss"
    if style.is_file():
        app.setStyleSheet(style.read_text(encoding="utf-8"))
    icon = REPO / "resources" / "icon.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))


def install_excepthook(window: MainWindow | None) -> None:
    """Log every uncaught exception and show it, instead of letting Qt swallow it or abort.

    Covers the GUI thread (``sys.excepthook``) and other threads (``threading.excepthook``).
    """
    crash_log = config_dir() / "errors.log"

    def _report(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        log.error("uncaught exception:\n%s", text)
        try:
            crash_log.parent.mkdir(parents=True, exist_ok=True)
            with crash_log.open("a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            log.warning("cannot write %s: %s", crash_log, exc)
        if window is not None and QApplication.instance() is not None:
            # queued: a dialog must be opened from the GUI thread
            QTimer.singleShot(0, window, lambda: _show(f"{kind.__name__}: {value}", text))

    def _show(summary: str, text: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Critical, "Unexpected error", summary, QMessageBox.StandardButton.Ok, window
        )
        box.setInformativeText(f"The app keeps running. Details are in {crash_log}.")
        box.setDetailedText(text)
        box.setModal(False)
        box.show()

    def _thread_hook(args: threading.ExceptHookArgs) -> None:
        _report(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    sys.excepthook = _report
    threading.excepthook = _thread_hook


def _quit_on_signals(app: QApplication) -> None:
    """Ctrl+C or SIGTERM closes the app through its normal shutdown (worker stopped, state saved)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.quit())
    # Python runs signal handlers only between bytecodes; an idle timer lets it do so in exec()
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(250)


def run_app(argv: list[str]) -> int:
    """Start the desktop app; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv[1:])
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv[:1])
    app.setApplicationName("zse-gui")
    app.setOrganizationName("zse-gui")
    apply_style(app)
    settings = load_settings()
    if args.device:
        settings = replace(settings, device=args.device)
    parts = build_window(settings, sync=args.sync)
    install_excepthook(parts.window)
    restored = read_autosave()
    if restored is not None:
        parts.window.set_sketch(restored)
        parts.window.set_status("Restored the strokes of the last session.", 6000)
    name, weights = choose_model(args.model, args.weights, settings)
    gallery = args.gallery or (
        settings.gallery if settings.gallery and Path(settings.gallery).is_dir() else ""
    )
    gallery = gallery or default_gallery()
    if gallery:
        parts.controller.state.gallery_request = gallery
    else:
        parts.window.set_results_message("No gallery is open: File > Open gallery folder… (Ctrl+G).")
    parts.controller.load_model(name, weights)
    parts.window.show()
    _quit_on_signals(app)
    code = int(app.exec())
    parts.controller.shutdown()
    return code
