"""Per-stroke renderers: colours follow the sign of the contribution, hits find the stroke."""

from __future__ import annotations

import numpy as np
import pytest

from zse_gui.sketch import Stroke, StrokeSketch
from zse_gui.stroke_results import Replay, StrokeAttribution
from zse_gui.viz.strokes import (
    render_replay_frame,
    render_stroke_attribution,
    replay_figure,
    stroke_at,
    stroke_table,
)


def two_strokes() -> StrokeSketch:
    left = Stroke(np.array([[40, 40], [40, 200]], np.float32), 6.0)
    right = Stroke(np.array([[200, 40], [200, 200]], np.float32), 6.0)
    return StrokeSketch((left, right), (256, 256))


def test_supporting_and_opposing_strokes_get_opposite_ends_of_the_map() -> None:
    sk = two_strokes()
    img, panel = render_stroke_attribution(sk, np.array([2.0, -2.0]), size=256)
    assert img.shape == (256 + 44, 256, 3) and img.dtype == np.uint8

    def pixel(canvas_xy: tuple[float, float]) -> np.ndarray:
        x, y = np.asarray(canvas_xy) * panel.scale + np.asarray(panel.offset)
        return img[int(round(y)), int(round(x))].astype(int)

    left, right = pixel((40, 120)), pixel((200, 120))
    assert left[0] > left[2]  # orange: supports the result
    assert right[2] > right[0]  # purple: the result is better without it


def test_nan_values_draw_grey_and_wrong_lengths_are_refused() -> None:
    sk = two_strokes()
    img, panel = render_stroke_attribution(sk, np.array([np.nan, 1.0]), size=256)
    x, y = np.asarray((40, 120)) * panel.scale + np.asarray(panel.offset)
    px = img[int(round(y)), int(round(x))].astype(int)
    assert abs(px[0] - px[2]) < 8 and px[0] < 230
    with pytest.raises(ValueError):
        render_stroke_attribution(sk, np.array([1.0]))


def test_stroke_at_finds_the_nearest_stroke_within_tolerance() -> None:
    sk = two_strokes()
    _, panel = render_stroke_attribution(sk, np.zeros(2), size=256)

    def at(cx: float, cy: float) -> int | None:
        return stroke_at(sk, panel, cx * panel.scale + panel.offset[0], cy * panel.scale + panel.offset[1])

    assert at(42, 100) == 0
    assert at(198, 150) == 1
    assert at(120, 120) is None


def test_stroke_table_has_one_row_per_stroke_with_nulls_for_missing_variants() -> None:
    sk = two_strokes()
    attr = StrokeAttribution(
        3,
        "p.png",
        1.5,
        0,
        (3,),
        np.array([np.nan, 0.5], np.float32),
        np.array([1.0, 0.2], np.float32),
        np.array([-1, 0]),
        np.array([0, 1]),
    )
    rows = stroke_table(attr, sk)
    assert [r["stroke"] for r in rows] == [0, 1]
    assert rows[0]["removed_logit"] is None and rows[0]["removed_rank"] is None
    assert rows[1]["contribution_logit"] == pytest.approx(1.0)


def test_replay_views() -> None:
    sk = two_strokes()
    rep = Replay(
        "class:x",
        (4,),
        10,
        "rerank",
        5,
        np.array([6, 0]),
        np.array([[1, 2], [4, 1]]),
        np.full((2, 2), np.nan, np.float32),
        np.array([2, 2]),
    )
    assert rep.strokes_to_reach(1) == 2 and rep.strokes_to_reach(10) == 1
    np.testing.assert_allclose(rep.percentile, [1 - 6 / 9, 1.0])
    fig = replay_figure(rep)
    assert fig.axes[0].get_ylabel().startswith("rank")
    frame = render_replay_frame(sk, 2, rep, [np.zeros((20, 30, 3), np.uint8)] * 2)
    # The target (index 4) is first after stroke 2: its tile gets the green frame.
    assert (frame == np.array([0, 158, 115], np.uint8)).all(axis=2).any()


def test_occlusion_view_colours_only_where_the_score_dropped() -> None:
    from zse_gui.stroke_results import OcclusionMap
    from zse_gui.viz.strokes import render_occlusion

    drop = np.zeros((4, 4), np.float32)
    drop[0, 0] = 0.5
    photo = np.full((32, 32, 3), 128, np.uint8)
    occ = OcclusionMap(4, 1, drop, 0.9, np.linspace(0.9, 0.1, 11, dtype=np.float32), 0.5, photo)
    img = render_occlusion(occ, size=64)
    assert img.shape[1] == 64 and img.dtype == np.uint8
    hot, cold = img[8, 8].astype(int), img[56, 56].astype(int)
    assert np.abs(hot - 128).sum() > np.abs(cold - 128).sum() + 60
