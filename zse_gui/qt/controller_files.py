"""Sessions, sketch files and export: the file-facing half of the controller (a mixin).

Split from ``controller.py`` by concern; it reads and writes the same state attributes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zse_gui.data.sketch_files import load_sketch_file
from zse_gui.errors import ZseError
from zse_gui.qt import exporting
from zse_gui.qt.protocols import MainView
from zse_gui.qt.render import ViewState
from zse_gui.qt.session import Session, ensure_suffix, load_session, save_session
from zse_gui.qt.settings import AppSettings
from zse_gui.qt.state import AppState
from zse_gui.qt.strokes import SketchImage
from zse_gui.qt.worker import JobResult, Worker
from zse_gui.results import RankedItem
from zse_gui.sketch import sketch_query

if TYPE_CHECKING:
    from collections.abc import Callable

    from zse_gui.qt.controller_strokes import StrokesController

__all__ = ["FilesMixin"]

log = logging.getLogger(__name__)


class FilesMixin:
    """Sketch files, sessions and exports for ``Controller``."""

    # owned by Controller
    view: MainView
    worker: Worker
    settings: AppSettings
    state: AppState
    view_state: ViewState
    strokes: StrokesController
    load_model: Callable[[str, str], None]
    open_gallery: Callable[[str], None]
    search: Callable[..., int | None]
    _on_sketch_changed: Callable[[], None]

    def _on_view_sketch_open_requested(self, path: str) -> None:
        self._open_sketch(path, 0)

    def _on_view_next_drawing_requested(self) -> None:
        if self.state.drawing_file is not None:
            path, index = self.state.drawing_file
            self._open_sketch(path, index + 1)

    def _open_sketch(self, path: str, drawing: int) -> None:
        st = self.state
        try:
            loaded = load_sketch_file(path, st.sketch.canvas_size, self.settings.pen_width, drawing)
        except ZseError as exc:
            self.view.show_error("Cannot open sketch", str(exc))
            return
        # the canvas emits sketch_image_changed and strokes_changed, which update the state
        self.view.set_sketch(loaded.sketch, _image(loaded.background, loaded.source))
        st.with_background(loaded.background, loaded.source)
        st.with_sketch(loaded.sketch)
        self._on_sketch_changed()
        st.drawing_file = (path, loaded.drawing) if loaded.drawing is not None else None
        self.view.set_next_drawing_enabled(loaded.has_next)
        which = f" drawing {loaded.drawing + 1}" if loaded.drawing is not None else ""
        label = f" ({loaded.label})" if loaded.label else ""
        more = " · File > Next drawing in file (Ctrl+Shift+N) for the next one" if loaded.has_next else ""
        self.view.set_status(f"Loaded {Path(path).name}{which}{label}{more}", 8000)
        self.search()

    def session(self) -> Session:
        """The current session (for saving)."""
        st = self.state
        selected = self.view.selected_result()
        return Session(
            sketch=st.sketch,
            model=st.model_request[0],
            weights=st.model_request[1],
            weights_sha256=st.model.sha256 if st.model else "",
            gallery=st.gallery.folder if st.gallery else st.gallery_request,
            settings=self.settings,
            selected=selected.index if selected is not None else None,
            sketch_image=st.sketch_source if st.background is not None else "",
        )

    def _on_view_session_save_requested(self, path: str) -> None:
        try:
            p = save_session(path, self.session())
        except OSError as exc:
            self.view.show_error("Cannot save the session", f"{path}: {exc}")
            return
        self.view.set_status(f"Session saved to {p}", 8000)

    def _on_view_session_open_requested(self, path: str) -> None:
        try:
            s = load_session(path)
        except ZseError as exc:
            self.view.show_error("Cannot open the session", str(exc))
            return
        st = self.state
        self.settings = s.settings
        self.view_state = ViewState(correspondence=s.settings.correspondence())
        self.view.set_settings(s.settings)
        background, source = None, ""
        if s.sketch_image:
            try:
                loaded = load_sketch_file(s.sketch_image, s.sketch.canvas_size, s.settings.pen_width)
                background, source = loaded.background, loaded.source
            except ZseError as exc:
                # the strokes still open; only the image under them is gone
                self.view.show_error("Sketch image missing", f"{exc}; opening the strokes without it.")
        self.view.set_sketch(s.sketch, _image(background, source))
        st.with_background(background, source)
        st.with_sketch(s.sketch)
        self._on_sketch_changed()
        st.drawing_file = None
        self.view.set_next_drawing_enabled(False)
        st.pending_select = s.selected
        same_model = st.model is not None and (s.model, s.weights) == st.model_request
        if s.model and not same_model:
            st.expected_sha = s.weights_sha256
            if s.gallery:
                st.gallery_request = s.gallery
            self.load_model(s.model, s.weights)
        elif s.gallery and (st.gallery is None or st.gallery.folder != s.gallery):
            self.open_gallery(s.gallery)
        else:
            self.search(force=True)
        self.view.set_status(f"Session {Path(path).name} opened", 5000)

    def _on_view_export_requested(self, path: str) -> None:
        explained = self.state.explained
        if explained is None or explained.revision != self.state.revision:
            self.view.show_error(
                "Nothing to export", "Select a result first; its explanation is what is exported."
            )
            return
        job = exporting.export_job(
            explained, path, self.view_state, self.settings.export_formats, self._provenance(explained.item)
        )
        self.view.set_status(f"Exporting to {path}…")
        self.worker.submit(job)

    def _on_view_report_requested(self, path: str) -> None:
        path = str(ensure_suffix(path, ".pdf"))
        query = sketch_query(self.state.sketch, self.state.background)
        result = self.state.result
        if result is None or query is None:
            self.view.show_error("Nothing to report", "Draw a sketch and get results first.")
            return
        provs = [self._provenance(it) for it in result.items]
        faith = self.settings.faithfulness_top
        # What the Strokes tab already measured for this drawing is reused, not measured again.
        measured = self.strokes.measured() if query is self.state.sketch else {}
        job = exporting.report_job(
            query, result, path, self.view_state, faith, provs, self.settings.corr_readout, measured
        )
        self.view.set_progress(0, len(result.items), "report…")
        self.worker.submit(job)

    def _track_progress(self, res: JobResult, what: str) -> bool:
        """Show a long job's progress; True when ``res`` was a progress report (nothing else to do)."""
        if res.stage == "progress":
            done, total = res.payload
            self.view.set_progress(done, total, f"{what} {done} / {total}")
            return True
        self.view.hide_progress()
        return False

    def _on_export_result(self, res: JobResult) -> None:
        if self._track_progress(res, "explaining"):
            return
        if res.stage == "cancelled":
            self.view.set_status("Export cancelled.", 5000)
        elif res.stage == "error":
            self.view.show_error("Export failed", res.error)
        elif res.stage == "done":
            files = res.payload
            self.view.set_status(
                f"Wrote {len(files)} files: {', '.join(Path(f).name for f in files[:6])}", 15000
            )

    def _provenance(self, item: RankedItem) -> exporting.Provenance:
        st = self.state
        return exporting.Provenance(
            model=st.model.name if st.model else "",
            weights_sha256=st.model.sha256 if st.model else "",
            weights_source=st.model.source if st.model else "",
            sketch_source=st.sketch_source if st.background is not None else "<strokes>",
            strokes=st.sketch,
            photo_path=item.path,
            photo_label=item.label,
            rank=item.final_rank,
        )


def _image(rgb: np.ndarray | None, source: str) -> SketchImage | None:
    return SketchImage(rgb, source) if rgb is not None else None
