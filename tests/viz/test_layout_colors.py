"""Panel geometry, hit-testing and colour tables."""

from __future__ import annotations

import numpy as np
import pytest

from zse_gui.errors import ConfigError
from zse_gui.viz import (
    PanelLayout,
    colormap_lut,
    default_panel_size,
    head_colors,
    hit_test,
    map_scores,
    row_layout,
)


def test_default_panel_size_is_an_integer_multiple_of_at_least_224() -> None:
    assert default_panel_size(224) == 224
    assert default_panel_size(448) == 448
    assert default_panel_size(32) == 224
    assert default_panel_size(100) % 100 == 0 and default_panel_size(100) >= 224


def test_cells_tile_the_panel_and_centres_sit_in_the_middle() -> None:
    lay = row_layout(("sketch", "photo"), size=224, grid=14, gap=16, margin=8, footer=30)
    photo = lay.panel("photo")
    assert photo.x0 == 8 + 224 + 16 and photo.y0 == 8
    assert lay.width == 8 + 224 + 16 + 224 + 8 and lay.height == 8 + 224 + 30 + 8
    assert photo.cell_box(0) == (photo.x0, 8, photo.x0 + 16, 24)
    assert photo.cell_box(15) == (photo.x0 + 16, 24, photo.x0 + 32, 40)  # row 1, column 1
    assert photo.centre(195) == (photo.x0 + 224 - 8, 8 + 224 - 8)


def test_hit_test_maps_clicks_to_panel_and_patch() -> None:
    lay = row_layout(("sketch", "photo"), size=224, grid=14, gap=16, margin=8, footer=0)
    photo = lay.panel("photo")
    for patch in (0, 13, 14, 97, 195):
        x, y = photo.centre(patch)
        assert hit_test(lay, x, y) == ("photo", patch)
        x, y = lay.panel("sketch").centre(patch)
        assert hit_test(lay, x, y) == ("sketch", patch)
    assert hit_test(lay, 8 + 224 + 5, 50) is None  # in the gap
    assert hit_test(lay, 2, 2) is None  # in the margin
    assert hit_test(lay, photo.x0 + 223.9, 8 + 223.9) == ("photo", 195)


def test_layout_round_trips_through_a_dict() -> None:
    lay = row_layout(("a", "b", "c"), size=100, grid=5, gap=4, margin=2, footer=11)
    assert PanelLayout.from_dict(lay.to_dict()) == lay


def test_colour_tables() -> None:
    lut = colormap_lut("viridis")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    with pytest.raises(ValueError):
        lut[0, 0] = 1  # shared cache: read-only
    rgb = map_scores(np.array([0.0, 0.5, 1.0, 7.0]), 0.0, 1.0, "viridis")
    assert (rgb[0] == lut[0]).all() and (rgb[2] == lut[255]).all() and (rgb[3] == lut[255]).all()
    with pytest.raises(ConfigError, match="unknown colour map"):
        colormap_lut("not-a-map")
    heads = head_colors(12)
    assert heads.shape == (12, 3)
    assert len({tuple(c) for c in heads}) == 12  # all distinct
    assert tuple(heads[0]) == (0, 114, 178) and tuple(heads[1]) == (230, 159, 0)  # blue, orange as in Fig. 1a
