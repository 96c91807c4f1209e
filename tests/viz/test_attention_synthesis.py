"""[Ret] attention, synthesis, kernel and strip renderers against known data."""

from __future__ import annotations

import numpy as np
import pytest

from zse_gui.errors import ConfigError
from zse_gui.results import Explanation, RetrievalResult
from zse_gui.viz import (
    attention_layout,
    colormap_lut,
    head_colors,
    render_kernel,
    render_ret_attention,
    render_retrieval_strip,
    render_synthesis,
    ret_attention_maps,
    strip_cells,
    synthesis_layout,
)
from zse_gui.viz.strip import MATCH_RGB, MISS_RGB
from zse_gui.viz.synthesis import KERNEL_PALETTE


def test_attention_maps_pick_each_heads_peak(expl: Explanation) -> None:
    # Head h puts almost all its mass on patch h * (grid + 1).
    maps = ret_attention_maps(expl.ret_attn_sketch, keep_mass=0.6)
    assert maps.heads == (0, 1)
    assert maps.winner[0] == 0 and maps.winner[5] == 1
    assert maps.strength[0] == pytest.approx(1.0) and maps.strength[5] == pytest.approx(1.0)
    assert (maps.winner[[1, 2, 3, 4, 6, 15]] == -1).all()  # weak cells fall outside the kept mass
    every = ret_attention_maps(expl.ret_attn_sketch, keep_mass=1.0)
    assert (every.winner >= 0).all()
    only1 = ret_attention_maps(expl.ret_attn_sketch, heads=[1])
    assert only1.heads == (1,) and only1.winner[0] == -1 and only1.winner[5] == 0
    assert tuple(only1.colors[0]) == tuple(
        head_colors(2)[1]
    )  # a head keeps its colour when others are hidden
    with pytest.raises(ConfigError):
        ret_attention_maps(expl.ret_attn_sketch, heads=[2])
    with pytest.raises(ConfigError):
        ret_attention_maps(expl.ret_attn_sketch, keep_mass=0.0)


def test_attention_raster_colours_the_peak_cells(expl: Explanation) -> None:
    img = render_ret_attention(expl, side="both", background="black")
    lay = attention_layout(expl, "both", None, [0, 1])
    assert img.dtype == np.uint8 and img.shape == (lay.height, lay.width, 3)
    colors = head_colors(2)
    for name in ("sketch", "photo"):
        panel = lay.panel(name)
        for head, patch in ((0, 0), (1, 5)):
            x, y = panel.centre(patch)
            assert tuple(img[int(y), int(x)]) == tuple(colors[head])
        x, y = panel.centre(10)
        assert tuple(img[int(y), int(x)]) == (0, 0, 0)  # not kept: black, as in the paper
    overlay = render_ret_attention(expl, side="sketch", background="image")
    sk = attention_layout(expl, "sketch", None, [0, 1]).panel("sketch")
    x, y = sk.centre(11)  # odd patches carry no ink
    assert tuple(overlay[int(y), int(x)]) == (255, 255, 255)  # the white sketch paper shows through
    x, y = sk.centre(0)
    px = overlay[int(y), int(x)].astype(int)
    assert px[2] > px[0]  # tinted towards head 0's blue
    with pytest.raises(ConfigError):
        render_ret_attention(expl, side="left")


def test_synthesis_panel_shows_the_mosaic(expl: Explanation) -> None:
    img = render_synthesis(expl, show_grid=False, sketch_overlay_alpha=0.0)
    lay = synthesis_layout(expl)
    assert img.shape == (lay.height, lay.width, 3) and img.dtype == np.uint8
    mp = lay.panel("synthesis")
    g, ps = expl.grid, expl.patch_size
    for patch in range(g * g):
        x, y = mp.centre(patch)
        r, c = divmod(patch, g)
        # Cell centre in the model frame: a pixel from the middle of that mosaic cell.
        src = expl.synthesis.image[r * ps + ps // 2 - 1, c * ps + ps // 2 - 1]
        assert np.abs(img[int(y) - 1, int(x) - 1].astype(int) - src.astype(int)).max() <= 1
    faded = render_synthesis(expl, sketch_overlay_alpha=1.0)
    ink_cell = mp.cell_box(0)  # the fixture draws an ink line through the middle of patch 0
    y_ink = int(ink_cell[1] + (ink_cell[3] - ink_cell[1]) / 2)
    row = slice(int(ink_cell[0]) + 3, int(ink_cell[2]) - 3)
    assert faded[y_ink, row].astype(int).sum() < img[y_ink, row].astype(int).sum()
    with pytest.raises(ConfigError):
        render_synthesis(expl, sketch_overlay_alpha=1.5)


def test_kernel_heat_map_cells(expl: Explanation) -> None:
    img = render_kernel(expl)
    n = expl.kernel.shape[0]
    cell = 224 // n
    lut = colormap_lut(KERNEL_PALETTE)
    for a, b in ((0, 0), (n - 1, 0), (1, n - 1)):
        want = lut[int(round((float(expl.kernel[a, b]) + 1.0) / 2.0 * 255))]
        y, x = 8 + a * cell + cell // 2, 8 + b * cell + cell // 2
        assert np.abs(img[y, x].astype(int) - want.astype(int)).max() <= 1
    with pytest.raises(ConfigError):
        render_kernel(expl, vrange=(1.0, -1.0))


def test_strip_marks_true_class(expl: Explanation, result: RetrievalResult) -> None:
    thumbs = [np.full((30 + 10 * i, 40, 3), 90, np.uint8) for i in range(4)]
    img = render_retrieval_strip(expl.sketch_image, result, thumbs, k=3, query_label="cat", thumb_size=64)
    cells, width, height = strip_cells(result, 3, 64, "cat")
    assert img.shape == (height, width, 3)
    assert [c.match for c in cells] == [None, True, False, True]
    for c in cells[1:]:
        frame = tuple(img[c.y0 - 2, c.x0 + 10])
        assert frame == (MATCH_RGB if c.match else MISS_RGB)
    unknown = render_retrieval_strip(expl.sketch_image, result, thumbs, k=2, thumb_size=64)
    assert unknown.shape[1] < img.shape[1]
    with pytest.raises(ConfigError):
        render_retrieval_strip(expl.sketch_image, result, thumbs[:1], k=3)


def test_large_grid_renders(expl14: Explanation) -> None:
    # The real model's 14 x 14 grid with 8 CA heads and 12 SA heads.
    img = render_ret_attention(expl14)
    assert img.shape[2] == 3
    x = render_synthesis(expl14, show_grid=True, sketch_overlay_alpha=0.3)
    assert x.shape[1] == synthesis_layout(expl14).width


def _freeze(obj: object, seen: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Make every array reachable from a dataclass read-only, remembering a copy."""
    for value in vars(obj).values():
        if isinstance(value, np.ndarray):
            seen.append((value, value.copy()))
            value.setflags(write=False)
        elif isinstance(value, tuple):
            for v in value:
                if hasattr(v, "__dataclass_fields__"):
                    _freeze(v, seen)
        elif hasattr(value, "__dataclass_fields__"):
            _freeze(value, seen)


def test_no_renderer_mutates_its_inputs(expl: Explanation, result: RetrievalResult) -> None:
    from zse_gui.viz import (
        CorrespondenceSettings,
        correspondence_figure,
        kernel_figure,
        render_correspondences,
        report_page_figure,
        ret_attention_figure,
        strip_figure,
        synthesis_figure,
    )

    seen: list[tuple[np.ndarray, np.ndarray]] = []
    _freeze(expl, seen)
    thumbs = [expl.photo_image.copy() for _ in result.items]
    for t in thumbs:
        seen.append((t, t.copy()))
        t.setflags(write=False)
    assert len(seen) > 20
    render_correspondences(expl, CorrespondenceSettings(top_k=None, threshold=0.01), highlight=4)
    render_ret_attention(expl, background="image", show_grid=True)
    render_synthesis(expl, show_grid=True, sketch_overlay_alpha=0.8)
    render_kernel(expl)
    render_retrieval_strip(expl.sketch_image, result, thumbs, query_label="cat")
    correspondence_figure(expl, CorrespondenceSettings(threshold=0.01), title="t")
    ret_attention_figure(expl)
    synthesis_figure(expl, True, 0.5)
    kernel_figure(expl)
    strip_figure(expl.sketch_image, result, thumbs, query_label="cat")
    report_page_figure(expl, result.items[0], CorrespondenceSettings())
    assert all(np.array_equal(a, b) for a, b in seen)
