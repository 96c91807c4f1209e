"""The Strokes tab's part of the controller: when to compute it, and what to show.

The numbers are computed only while the tab is on show, for the selected result of the current
ranking, on the worker's ``strokes`` lane; a contrast with a second result (why A and not B) runs
on the ``contrast`` lane. Every request carries the sketch revision; whatever comes back for
another revision is dropped, and a new sketch cancels both lanes at once.

The replay player drives the main window too: on stroke k the canvas shows the drawing after
stroke k (read-only) and the results grid the ranking the replay measured there, the followed
photo outlined. Both are views over the real sketch and ranking, which stay in ``AppState``
untouched (a replayed ranking is never stored as ``shown``, so it can neither pass for the current
sketch's results nor replace one that arrives meanwhile); only a replay of the current revision
is shown, and Stop, the end, a press on the canvas or any edit brings the real ones back.
"""

from __future__ import annotations

import html
import logging
import math
import re
from collections import OrderedDict
from typing import TYPE_CHECKING

from zse_gui.errors import ZseError
from zse_gui.qt.exporting import contrast_export_job
from zse_gui.qt.jobs import SearchParams, contrast_job, strokes_job
from zse_gui.qt.state import ContrastPayload, StrokesPayload
from zse_gui.qt.worker import JobResult
from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import OcclusionMap, StrokeAttribution
from zse_gui.viz.contrast import (
    ContrastView,
    contrast_lines,
    patch_contrast_at,
    patch_contrast_texts,
    render_contrast_correspondences,
    render_patch_contrast,
)
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

__all__ = ["StrokesController", "NEEDS_STROKES", "CONTRAST_CHOICES"]

CONTRAST_CHOICES = 20  # results offered as B in "why this and not"
PATCH_VIEW_SIZE = 320  # side of the per-patch contrast drawing in the tab

log = logging.getLogger(__name__)

NEEDS_STROKES = "Stroke views need a drawing made of strokes (an opened sketch image has none)."


KEPT_PAYLOADS = 6  # finished Strokes-tab payloads kept for undo / redo


class StrokesController:
    """Schedules and presents the Strokes tab for a ``Controller`` (its view, worker and state)."""

    def __init__(self, owner: Controller) -> None:
        self.c = owner
        self.asked: tuple[object, int] | None = None  # (revision, gallery index) last requested
        self.item: RankedItem | None = None  # result A of the tab
        self.contrast_asked: tuple[object, int, int] | None = None  # (revision, index A, index B)
        self.last: StrokesPayload | None = None  # to go back from a contrast to A's own attribution
        self.replay_shown: object | None = None  # the replay whose curve and frames are on show
        self.contrast_view: ContrastView | None = None  # the complete contrast on show (to export)
        self.replay_payload: StrokesPayload | None = None  # ... and the payload it came in
        self.replaying = False  # the main window shows a replayed stroke
        # Finished payloads by (revision, gallery index, search settings): an undo back to an
        # earlier drawing shows its measurements again at once instead of measuring anew (the
        # revision carries the gallery and model generations, so nothing stale can match).
        self.done: OrderedDict[tuple[object, int, SearchParams], StrokesPayload] = OrderedDict()
        self.asked_params: SearchParams | None = None

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
        self.item, self.contrast_asked, self.last, self.replay_shown = item, None, None, None
        self.contrast_view = None
        c.worker.cancel("contrast")
        c.view.clear_strokes(f"Measuring what each stroke does for #{item.final_rank + 1}…")
        others = [(k, it) for k, it in enumerate(result.items) if it.index != item.index][:CONTRAST_CHOICES]
        c.view.set_strokes_versus(
            [f"#{it.final_rank + 1} {it.label or ''}".strip() for _, it in others], [k for k, _ in others]
        )
        params = c.search_params()
        self.asked_params = params
        key = (st.revision, item.index, params)
        kept = self.done.get(key)
        if kept is not None:
            self.done.move_to_end(key)
            self.last = kept
            c.view.set_strokes_progress(0, 0)
            self._show(kept)
            return
        c.view.set_strokes_progress(0, 100, "strokes")
        c.worker.submit(strokes_job(st.sketch, item, result, params, st.revision))

    def measured(self) -> dict[int, tuple[StrokeAttribution | None, OcclusionMap | None]]:
        """Finished measurements of the drawing on show under the current search settings, by
        gallery index: (stroke attribution, photo occlusion map), for a report to reuse."""
        st, params = self.c.state, self.c.search_params()
        return {
            index: (payload.attribution, payload.occlusion)
            for (revision, index, kept_params), payload in self.done.items()
            if revision == st.revision and kept_params == params
        }

    def stop(self) -> None:
        """Cancel both lanes and forget what was asked and shown (new sketch, model or no results)."""
        self.c.worker.cancel("strokes")
        self.c.worker.cancel("contrast")
        self.end_replay()
        self.asked = self.contrast_asked = self.last = self.item = self.replay_shown = None
        self.contrast_view = None
        self.replay_payload = None

    def sketch_changed(self) -> None:
        """A new sketch (or none): what is in flight is for the old one."""
        if self.asked is not None and self.asked[0] != self.c.state.revision:
            self.stop()
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
            if self.asked_params is not None:
                self.done[(payload.revision, payload.item.index, self.asked_params)] = payload
                while len(self.done) > KEPT_PAYLOADS:
                    self.done.popitem(last=False)
        self.last = payload
        self._show(payload, attribution=self.contrast_asked is None)  # a chosen contrast keeps its pane

    def request_contrast(self, position: int) -> None:
        """Why result A (the tab's) and not ``result.items[position]``; -1 shows A's own attribution."""
        c, st = self.c, self.c.state
        a, result = self.item, st.result
        if a is None or result is None or self.asked is None or self.asked[0] != st.revision:
            return
        if position < 0 or position >= len(result.items):
            c.worker.cancel("contrast")
            self.contrast_asked, self.contrast_view = None, None
            c.view.clear_strokes_contrast()
            if self.last is not None:
                self._show(self.last)
            return
        b = result.items[position]
        if b.index == a.index or self.contrast_asked == (st.revision, a.index, b.index):
            return
        self.contrast_asked, self.contrast_view = (st.revision, a.index, b.index), None
        c.view.set_strokes_contrast(None, None, "")
        c.view.set_strokes_progress(0, 1, "contrast")
        c.worker.submit(contrast_job(st.sketch, a, b, st.revision, c.settings.corr_readout))

    def on_contrast_result(self, res: JobResult) -> None:
        c, st = self.c, self.c.state
        if self.contrast_asked is None or self.contrast_asked[0] != st.revision:
            return  # withdrawn, or for another sketch
        if res.stage == "progress":
            done, total = res.payload
            c.view.set_strokes_progress(done, total, "contrast")
            return
        if res.stage == "error":
            c.view.set_strokes_progress(0, 0)
            c.view.clear_strokes_contrast()
            c.view.show_error("Cannot compare the two results", res.error)
            self.contrast_asked = None
            return
        if res.stage not in ("partial", "done"):
            return
        p: ContrastPayload = res.payload
        if p.revision != st.revision or self.contrast_asked != (st.revision, p.a.index, p.b.index):
            return
        if res.stage == "done":
            c.view.set_strokes_progress(0, 0)
        self._show_contrast(p)
        self._show_patch_contrast(p)

    def _names(self, p: ContrastPayload) -> tuple[str, str]:
        return (
            f"#{p.a.final_rank + 1} {p.a.label or ''}".strip(),
            f"#{p.b.final_rank + 1} {p.b.label or ''}".strip(),
        )

    def _show_patch_contrast(self, p: ContrastPayload) -> None:
        """The per-patch map and both correspondences (once the final payload has them)."""
        c = self.c
        if p.patches is None or p.explanation_a is None or p.explanation_b is None:
            return
        na, nb = self._names(p)
        view = ContrastView(p.patches, p.explanation_a, p.explanation_b, na, nb, p.contrast, c.state.sketch)
        try:
            patches = render_patch_contrast(p.patches, PATCH_VIEW_SIZE, na, nb)
            corr = render_contrast_correspondences(
                p.explanation_a, p.explanation_b, c.view_state.correspondence, na, nb, stacked=True
            )
        except ZseError as exc:
            c.view.show_error("Cannot draw the contrast", str(exc))
            return
        self.contrast_view = view
        con = p.patches
        c.view.set_strokes_contrast(
            patches,
            corr,
            " ".join(contrast_lines(view)[1:3]) + " Hover a patch for its numbers.",
            lambda x, y: patch_contrast_at(con, PATCH_VIEW_SIZE, x, y),
            patch_contrast_texts(con, na, nb),
            export_base=contrast_export_base(na, nb),
        )

    def export_contrast(self, path: str) -> None:
        """Write the contrast on show (PNG, SVG, PDF and a JSON sidecar) next to ``path``."""
        c, st = self.c, self.c.state
        view, asked = self.contrast_view, self.contrast_asked
        if view is None or asked is None or asked[0] != st.revision or self.item is None:
            c.view.show_error(
                "Nothing to export", "Choose a result in 'Why this and not' and wait for it first."
            )
            return
        prov = c._provenance(self.item)
        job = contrast_export_job(view, path, c.settings.export_formats, c.view_state.correspondence, prov)
        c.view.set_status(f"Exporting the contrast to {path}…")
        c.worker.submit(job)

    def _show_contrast(self, p: ContrastPayload) -> None:
        c = self.c
        con = p.contrast
        na, nb = self._names(p)
        diff = con.difference
        image, panel = render_stroke_attribution(
            c.state.sketch, diff, label=f"towards {na} (orange) or {nb} (purple)"
        )
        rows = [
            f"Stroke {k + 1}: towards {na} by {d:+.2f} logit "
            f"(without it {na} changes {-con.a.contribution[k]:+.2f}, {nb} {-con.b.contribution[k]:+.2f})"
            for k, d in enumerate(diff)
        ]
        finite = [k for k in range(len(diff)) if diff[k] == diff[k]]
        leads = []
        for name, sign in ((na, 1.0), (nb, -1.0)):
            pulling = [k for k in finite if sign * diff[k] > 0]
            if pulling:
                k = max(pulling, key=lambda j: sign * diff[j])
                leads.append(f"stroke {k + 1} pulls most towards {html.escape(name)} ({diff[k]:+.2f})")
            else:
                leads.append(f"no stroke pulls towards {html.escape(name)}")
        summary = (
            f"Why {html.escape(na)} and not {html.escape(nb)}: logits {con.a.base_logit:.2f} vs "
            f"{con.b.base_logit:.2f}. Orange strokes pull towards {html.escape(na)}, purple ones towards "
            f"{html.escape(nb)}; " + "; ".join(leads) + ". Hover a stroke for its numbers."
        )
        c.view.set_strokes_attribution(image, c.state.sketch, panel, rows, summary)

    def _show(self, p: StrokesPayload, attribution: bool = True) -> None:
        c = self.c
        s = p.strength
        # NaN: too few results. Rounded down, so a z just under the threshold never reads as it.
        z = "" if s.z != s.z else f" (stands out by {math.floor(s.z * 10) / 10:.1f})"
        c.view.set_strength(f"<b>Match strength:</b> {html.escape(s.label)}{z}", s.tooltip)
        try:
            if p.attribution is not None and attribution:
                a = p.attribution
                image, panel = render_stroke_attribution(c.state.sketch, a.contribution)
                leads = stroke_leads(a)
                summary = (
                    f"#{p.item.final_rank + 1} {html.escape(p.item.label or '')}: relation score "
                    f"{a.base_score:.3f}, "
                    + (
                        f"rank {a.base_rank + 1} among the first {len(a.compared)} results (stroke ranks are "
                        "within these). "
                        if len(a.compared) > 1
                        else "ranks among the other results follow. "
                    )
                    + "Orange strokes support this result, purple ones pull away from it (logit drop "
                    f"without the stroke): {leads}. Hover a stroke for its numbers."
                )
                c.view.set_strokes_attribution(image, c.state.sketch, panel, stroke_hover_texts(a), summary)
            if p.replay is not None and p.replay is not self.replay_shown:  # keep a running player going
                self.replay_shown, self.replay_payload, r = p.replay, p, p.replay
                fig = replay_figure(r, title="Rank of this photo while drawing", width_in=5.0)
                c.view.set_strokes_replay(figure_rgb(fig), "", list(p.frames))
            if p.occlusion is not None:
                c.view.set_strokes_occlusion(render_occlusion(p.occlusion, size=320))
        except ZseError as exc:
            c.view.show_error("Cannot draw the stroke views", str(exc))

    # ---- the replay in the main window
    def replay_step(self, k: int) -> None:
        """The player is on stroke ``k`` (0: off): mirror it in the main canvas and results grid."""
        c, st = self.c, self.c.state
        p = self.replay_payload
        rep = p.replay if p is not None else None
        if k <= 0 or p is None or rep is None:
            self.end_replay()
            return
        if p.revision != st.revision or st.result is None or not 1 <= k <= len(rep.ranks):
            self.end_replay()  # a replay of another sketch, gallery or model is never shown
            c.view.stop_strokes_replay()
            return
        s = len(rep.ranks)
        ranking = p.replay_results[k - 1] if k <= len(p.replay_results) else None
        rank, n = int(rep.ranks[k - 1]), rep.gallery_size
        name = html.escape(f"#{p.item.final_rank + 1} {p.item.label or ''}".strip())
        if ranking is None:
            where = "no ink yet, so no ranking"
        else:
            where = f"the followed photo ({name}, outlined) is at rank {rank + 1} of {n}"
            if rank >= len(ranking.items):
                where += f", below the {len(ranking.items)} shown"
        grid = (
            f"<b>Replay, stroke {k} of {s}:</b> {where}. "
            "Stop, or press on the canvas, to return to your drawing and its results."
        )
        note = f"Replay: stroke {k} of {s} (press to return to your drawing)"
        prefix = StrokeSketch(st.sketch.strokes[:k], st.sketch.canvas_size)
        seen = st.model.seen_classes if st.model else None
        if c.view.show_replay_frame(prefix, ranking, p.item.index, note, grid, seen):
            self.replaying = True
        else:  # the user is in the middle of a stroke: the replay waits for another time
            self.end_replay()
            c.view.stop_strokes_replay()

    def replay_interrupted(self) -> None:
        """A press or an edit on the canvas during a replay: stop the player, show the real ones."""
        self.c.view.stop_strokes_replay()
        self.end_replay()

    def end_replay(self) -> None:
        """The real sketch and ranking back in the main window (nothing to do when not replaying)."""
        if self.replaying:
            self.replaying = False
            self.c.view.end_replay_frame()


def contrast_export_base(name_a: str, name_b: str) -> str:
    """The base file name offered for a contrast's files: ``why_1_fish_not_3_whale`` for "#1 fish"
    and "#3 whale" (the writer appends ``_contrast``, ``_contrast_patches``, ...)."""

    def part(name: str) -> str:
        return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_") or "result"

    return f"why_{part(name_a)}_not_{part(name_b)}"


def stroke_leads(a: StrokeAttribution) -> str:
    """The summary's clause naming the stroke that supports the result most and the one that pulls
    away most; strokes without a measure (NaN: leaving the only stroke out leaves no ink) count as
    neither."""
    drop = a.contribution
    known = [int(i) for i in a.order() if drop[i] == drop[i]]  # NaN != NaN
    if not known:
        return "no stroke could be left out and leave ink to search with, so none has a measure (draw more)"
    pos = [i for i in known if drop[i] > 0]
    neg = [i for i in known if drop[i] < 0]
    leads = f"stroke {pos[0] + 1} supports it most ({drop[pos[0]]:+.2f})" if pos else "no stroke supports it"
    if neg:
        leads += f", stroke {neg[-1] + 1} pulls away most ({drop[neg[-1]]:+.2f})"
    return leads
