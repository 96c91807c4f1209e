"""Pair selection and the correspondence raster, checked against a hand-built explanation.

In the fixture sketch patch i attends to photo patch ``15 - i`` with a strength growing with i,
ink is in the even sketch patches, and photo patch 0 points back to sketch 1 (so sketch 15 is
not a mutual match).
"""

from __future__ import annotations

import numpy as np
import pytest

from zse_gui.errors import ConfigError
from zse_gui.results import Explanation
from zse_gui.viz import (
    CorrespondenceSettings,
    correspondence_layout,
    hit_correspondences,
    map_scores,
    render_correspondences,
    score_range,
    select_pairs,
)

PLAIN = CorrespondenceSettings(top_k=None, ink_only=False, show_grid=False, show_colorbar=False)


def test_pairs_follow_the_argmax_strongest_first(expl: Explanation) -> None:
    pairs = select_pairs(expl, PLAIN)
    assert len(pairs) == 16
    assert [p.sketch_patch for p in pairs] == list(range(15, -1, -1))
    assert all(p.photo_patch == 15 - p.sketch_patch for p in pairs)
    scores = [p.score for p in pairs]
    assert scores == sorted(scores, reverse=True)
    corr = expl.for_head(None)
    assert pairs[0].score == pytest.approx(float(corr.sketch_score[15]))


def test_filters(expl: Explanation) -> None:
    ink = select_pairs(expl, CorrespondenceSettings(top_k=None, ink_only=True))
    assert {p.sketch_patch for p in ink} == set(range(0, 16, 2))
    assert all(p.ink for p in ink)
    mutual = select_pairs(expl, CorrespondenceSettings(top_k=None, ink_only=False, mutual_only=True))
    assert 15 not in {p.sketch_patch for p in mutual} and len(mutual) == 15
    assert all(p.mutual for p in mutual)
    top3 = select_pairs(expl, CorrespondenceSettings(top_k=3, ink_only=False))
    assert [p.sketch_patch for p in top3] == [15, 14, 13]
    cut = float(expl.for_head(None).sketch_score[8])
    thr = select_pairs(expl, CorrespondenceSettings(top_k=None, ink_only=False, threshold=cut))
    assert {p.sketch_patch for p in thr} == set(range(8, 16))


def test_head_and_photo_side(expl: Explanation) -> None:
    head1 = select_pairs(expl, CorrespondenceSettings(top_k=None, ink_only=False, head=1))
    assert head1[0].score == pytest.approx(float(expl.for_head(1).sketch_score.max()))
    assert head1 != select_pairs(expl, CorrespondenceSettings(top_k=None, ink_only=False))
    photo_side = select_pairs(expl, PLAIN, side="photo")
    by_photo = {p.photo_patch: p.sketch_patch for p in photo_side}
    assert by_photo[0] == 1 and by_photo[5] == 10
    assert not next(p for p in photo_side if p.photo_patch == 0).mutual
    with pytest.raises(ConfigError):
        select_pairs(expl, CorrespondenceSettings(head=7))
    with pytest.raises(ConfigError):
        select_pairs(expl, PLAIN, side="left")


def test_highlight_lists_the_strongest_row_entries(expl: Explanation) -> None:
    s = CorrespondenceSettings(top_k=4)
    pairs = select_pairs(expl, s, highlight=6)
    row = expl.sketch_attn.mean(axis=0)[6]
    assert [p.photo_patch for p in pairs] == list(np.argsort(-row, kind="stable")[:4])
    assert all(p.sketch_patch == 6 for p in pairs)
    assert score_range(expl, s, highlight=6) == (0.0, pytest.approx(float(row.max())))
    back = select_pairs(expl, s, highlight=2, side="photo")
    assert all(p.photo_patch == 2 for p in back)
    with pytest.raises(ConfigError):
        select_pairs(expl, s, highlight=16)


def test_pair_coordinates_are_the_layout_cell_centres(expl: Explanation) -> None:
    lay = correspondence_layout(expl, PLAIN)
    for p in select_pairs(expl, PLAIN):
        assert p.sketch_xy == lay.panel("sketch").centre(p.sketch_patch)
        assert p.photo_box == lay.panel("photo").cell_box(p.photo_patch)
        assert hit_correspondences(expl, PLAIN, *p.photo_xy) == ("photo", p.photo_patch)


def test_raster_draws_where_the_data_says(expl: Explanation) -> None:
    s = CorrespondenceSettings(top_k=1, ink_only=True, show_grid=False, show_colorbar=False)
    img = render_correspondences(expl, s)
    lay = correspondence_layout(expl, s)
    assert img.dtype == np.uint8 and img.shape == (lay.height, lay.width, 3)
    (pair,) = select_pairs(expl, s)
    assert (pair.sketch_patch, pair.photo_patch) == (14, 1)  # strongest ink pair
    lo, hi = score_range(expl, s)
    want = map_scores(np.array([pair.score]), lo, hi, s.palette)[0].astype(int)
    for x, y in (pair.sketch_xy, pair.photo_xy):
        assert np.abs(img[int(y), int(x)].astype(int) - want).max() <= 2
    # An untouched photo cell shows the photo itself (nearest-scaled from the model input).
    pp = lay.panel("photo")
    x, y = pp.centre(15)
    src = expl.photo_image[int((y - pp.y0) / pp.size * 32), int((x - pp.x0) / pp.size * 32)]
    assert np.abs(img[int(y), int(x)].astype(int) - src.astype(int)).max() <= 8
    # With nothing selected the panels are the plain images: no lines anywhere.
    empty = render_correspondences(
        expl, CorrespondenceSettings(threshold=1.0, show_colorbar=False, show_grid=False)
    )
    assert not np.array_equal(empty, img)
    assert np.abs(empty[int(y), int(x)].astype(int) - src.astype(int)).max() <= 8


def test_colorbar_and_grid_change_the_picture(expl: Explanation) -> None:
    bare = render_correspondences(expl, CorrespondenceSettings(show_colorbar=False, show_grid=False))
    grid = render_correspondences(expl, CorrespondenceSettings(show_colorbar=False, show_grid=True))
    bar = render_correspondences(expl, CorrespondenceSettings(show_colorbar=True, show_grid=False))
    assert bare.shape == grid.shape and bar.shape[0] > bare.shape[0]
    assert not np.array_equal(bare, grid)
    footer = bar[bare.shape[0] - 8 :]
    assert (footer < 250).any()  # the bar and its labels are drawn in the footer


def test_renderers_do_not_mutate_inputs(expl: Explanation) -> None:
    arrays = [expl.sketch_image, expl.photo_image, expl.sketch_attn, expl.photo_attn]
    arrays += [c.sketch_score for c in expl.correspondences]
    before = [a.copy() for a in arrays]
    for a in arrays:
        a.setflags(write=False)  # any in-place write now raises
    render_correspondences(expl, CorrespondenceSettings(top_k=None))
    render_correspondences(expl, CorrespondenceSettings(), highlight=3, side="photo")
    assert all(np.array_equal(a, b) for a, b in zip(arrays, before, strict=True))


def test_settings_validate_and_round_trip() -> None:
    s = CorrespondenceSettings(top_k=7, threshold=0.02, head=1, mutual_only=True, palette="cividis")
    assert CorrespondenceSettings.from_dict(s.to_dict()) == s
    for bad in ({"top_k": 0}, {"threshold": 2.0}, {"palette": "nope"}, {"line_width": 0}, {"panel_size": 4}):
        with pytest.raises(ConfigError):
            CorrespondenceSettings(**bad)  # type: ignore[arg-type]
