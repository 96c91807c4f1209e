"""The Strokes tab's part of the controller: when to compute it, and what to show.

The numbers are computed only while the tab is on show, for the selected result of the current
ranking, on the worker's ``strokes`` lane. Every request carries the sketch revision; whatever
comes back for another revision is dropped, and a new sketch cancels the lane at once.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING

from zse_gui.errors import ZseError
from zse_gui.qt.jobs import SearchParams, strokes_job
from zse_gui.qt.state import StrokesPayload
from zse_gui.qt.worker import JobResult
from zse_gui.viz.strokes import (
    figure_rgb,
    render_occlusion,
    render_stroke_attribution,
    replay_figure,
    stroke_hover_texts,
)

if TYPE_CHECKING:
    from zse_gui.qt.controller import Controller
    from zse_gui.results import RankedItem

__all__ = ["StrokesController", "NEEDS_STROKES"]

log = logging.getLogger(__name__)

NEEDS_STROKES = "Stroke views need a drawing made of strokes (an opened sketch image has none)."


class StrokesController:
    """Schedules and presents the Strokes tab for a ``Controller`` (its view, worker and state)."""

    def __init__(self, owner: Controller) -> None:
        self.c = owner
        self.asked: tuple[object, int] | None = None  # (revision, gallery index) last requested

    def request(self, item: RankedItem | None = None) -> None:
        """Compute the tab for ``item`` (default: the selected result) if the tab is on show."""
        c, st = self.c, self.c.state
        if not c.view.strokes_tab_active():
            return
        result = st.result
        if item is None:
            sel = c.view.selected_result()
            item = (
                None
                if sel is None or result is None
                else next((it for it in result.items if it.index == sel.index), None)
            )
        if item is None or result is None or not st.shown_final or st.gallery is None:
            return
        if st.background is not None or st.sketch.is_empty:
            c.view.clear_strokes(NEEDS_STROKES)
            return
        if self.asked == (st.revision, item.index):
            return
        self.asked = (st.revision, item.index)
        c.view.clear_strokes(f"Measuring what each stroke does for #{item.final_rank + 1}…")
        c.view.set_strokes_progress(0, 100, "strokes")
        params = SearchParams(c.settings.top_k, c.settings.rerank_depth)
        c.worker.submit(strokes_job(st.sketch, item, result, params, st.revision))

    def sketch_changed(self) -> None:
        """A new sketch (or none): what is in flight is for the old one."""
        if self.asked is not None and self.asked[0] != self.c.state.revision:
            self.c.worker.cancel("strokes")
            self.asked = None
            self.c.view.clear_strokes("The sketch changed: select a result to measure its strokes.")

    def on_result(self, res: JobResult) -> None:
        c, st = self.c, self.c.state
        if res.stage == "progress":
            if self.asked is not None and self.asked[0] == st.revision:
                done, total = res.payload
                c.view.set_strokes_progress(done, total, "strokes")
            return
        if res.stage == "error":
            if self.asked is not None and self.asked[0] == st.revision:
                c.view.set_strokes_progress(0, 0)
                c.view.clear_strokes(f"Cannot measure the strokes: {html.escape(res.error)}")
                self.asked = None
            return
        if res.stage not in ("partial", "done"):
            return
        payload: StrokesPayload = res.payload
        if payload.revision != st.revision or self.asked != (st.revision, payload.item.index):
            return  # for another sketch, gallery, model or result
        if res.stage == "done":
            c.view.set_strokes_progress(0, 0)
        self._show(payload)

    def _show(self, p: StrokesPayload) -> None:
        c = self.c
        s = p.strength
        z = "" if s.z != s.z else f" (stands out by {s.z:.1f})"  # NaN: too few results
        c.view.set_strength(f"<b>Match strength:</b> {html.escape(s.label)}{z}", s.tooltip)
        try:
            if p.attribution is not None:
                a = p.attribution
                image, panel = render_stroke_attribution(c.state.sketch, a.contribution)
                best = a.order()[0] + 1
                summary = (
                    f"#{p.item.final_rank + 1} {html.escape(p.item.label or '')}: relation score "
                    f"{a.base_score:.3f}, rank {a.base_rank + 1} of {len(a.compared)} compared. "
                    f"Orange strokes support this result, purple ones pull away from it; stroke {best} "
                    "matters most. "
                    "Hover a stroke for its numbers."
                )
                c.view.set_strokes_attribution(image, c.state.sketch, panel, stroke_hover_texts(a), summary)
            if p.replay is not None:
                r = p.replay
                fig = replay_figure(r, title="Rank of this photo while drawing", width_in=5.0)
                c.view.set_strokes_replay(figure_rgb(fig))
            if p.occlusion is not None:
                c.view.set_strokes_occlusion(render_occlusion(p.occlusion, size=320))
        except ZseError as exc:
            c.view.show_error("Cannot draw the stroke views", str(exc))
