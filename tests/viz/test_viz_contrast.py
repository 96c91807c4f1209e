"""Why A and not B: the per-patch contrast map, the side-by-side correspondences, files and report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from zse_gui.results import Explanation, RetrievalResult
from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import OcclusionMap, PatchContrast, StrokeAttribution, StrokeContrast
from zse_gui.viz import (
    CorrespondenceSettings,
    ReportPage,
    read_sidecar,
    render_correspondences,
    write_pdf_report,
)
from zse_gui.viz.contrast import (
    ContrastView,
    contrast_lines,
    contrast_record,
    render_contrast_correspondences,
    render_patch_contrast,
)
from zse_gui.viz.export import export_contrast


def _pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))


def patch_contrast(grid: int = 4) -> PatchContrast:
    """Cell (0, 0) pulls towards A, cell (3, 3) towards B, cell (1, 1) has no ink; the rest nothing."""
    masked_a = np.full((grid, grid), 2.0, np.float32)
    masked_b = np.full((grid, grid), 1.0, np.float32)
    masked_a[0, 0] = 1.0  # A loses 1 without it, B nothing: +1 towards A
    masked_b[grid - 1, grid - 1] = 0.0  # B loses 1: -1, towards B
    masked_a[1, 1] = masked_b[1, 1] = np.nan
    ink = np.ones((grid, grid), bool)
    ink[1, 1] = False
    return PatchContrast(
        grid=grid,
        window=1,
        index_a=3,
        index_b=5,
        path_a="/g/cat/3.png",
        path_b="/g/dog/5.png",
        base_logit_a=2.0,
        base_logit_b=1.0,
        masked_logit_a=masked_a,
        masked_logit_b=masked_b,
        ink=ink,
        sketch_image=np.full((grid * 8, grid * 8, 3), 255, np.uint8),
    )


def stroke_contrast(strokes: StrokeSketch) -> StrokeContrast:
    s = len(strokes.strokes)

    def attr(index: int, removed: list[float]) -> StrokeAttribution:
        return StrokeAttribution(
            index, f"/g/{index}.png", 1.0, 0, (3, 5), np.asarray(removed, np.float32),
            np.zeros(s, np.float32), np.zeros(s, np.int64), np.zeros(s, np.int64),
        )  # fmt: skip

    return StrokeContrast(attr(3, [0.0] + [1.0] * (s - 1)), attr(5, [1.0] * s))


def test_patch_contrast_numbers_and_their_sign() -> None:
    con = patch_contrast()
    assert con.difference[0, 0] == pytest.approx(1.0) and con.difference[3, 3] == pytest.approx(-1.0)
    assert np.isnan(con.difference[1, 1]) and con.windows == 15
    assert con.difference[2, 2] == pytest.approx(0.0)


def test_contrast_map_colours_towards_a_and_b_at_opposite_ends_and_leaves_blank_cells_white() -> None:
    img = render_patch_contrast(patch_contrast(), size=64, name_a="#1 cat", name_b="#2 dog")
    assert img.shape == (64 + 44, 64, 3) and img.dtype == np.uint8
    towards_a, towards_b = img[8, 8].astype(int), img[56, 56].astype(int)
    neither, no_ink = img[40, 40].astype(int), img[24, 24].astype(int)
    # PuOr_r: orange (red > blue) towards A, purple (blue > red) towards B, pale where neither
    assert towards_a[0] > towards_a[2] + 60 and towards_b[2] > towards_b[0] + 20
    assert neither.min() > 200 and (no_ink == 255).all()


def test_side_by_side_correspondences_are_the_standard_renderer_twice(expl: Explanation) -> None:
    settings = CorrespondenceSettings(top_k=5)
    both = render_contrast_correspondences(expl, expl, settings, "#1 cat", "#2 dog")
    one = render_correspondences(expl, settings)
    h, w = one.shape[:2]
    assert both.shape[1] == 2 * w + 24
    np.testing.assert_array_equal(both[22 : 22 + h, :w], one)
    np.testing.assert_array_equal(both[22 : 22 + h, w + 24 :], one)
    stacked = render_contrast_correspondences(expl, expl, settings, "#1 cat", "#2 dog", stacked=True)
    assert stacked.shape[:2] == (2 * (h + 22) + 24, w)
    np.testing.assert_array_equal(stacked[22 : 22 + h], one)
    np.testing.assert_array_equal(stacked[h + 22 + 24 + 22 :], one)
    assert not np.array_equal(stacked[:22], stacked[h + 46 : h + 68])  # each part has its own title


def test_contrast_lines_name_the_leading_patches_and_strokes(
    expl: Explanation, strokes: StrokeSketch
) -> None:
    view = ContrastView(patch_contrast(), expl, expl, "#1 cat", "#2 dog", stroke_contrast(strokes), strokes)
    text = "\n".join(contrast_lines(view))
    assert "towards #1 cat: row 1 col 1 (+1.00)" in text
    assert "towards #2 dog: row 4 col 4 (-1.00)" in text
    assert "Strokes pulling most towards #1 cat: 1 (+1.00)." in text
    assert "Strokes pulling most towards #2 dog: none." in text


def test_export_contrast_writes_every_format_and_a_sidecar_with_the_numbers(
    expl: Explanation, strokes: StrokeSketch, tmp_path: Path
) -> None:
    view = ContrastView(patch_contrast(), expl, expl, "#1 cat", "#2 dog", stroke_contrast(strokes), strokes)
    res = export_contrast(view, tmp_path, "why")
    names = sorted(f.name for f in res.files)
    assert names == [
        "why_contrast.pdf",
        "why_contrast.png",
        "why_contrast.svg",
        "why_contrast_correspondences.png",
        "why_contrast_patches.png",
    ]
    assert all(f.stat().st_size > 0 for f in res.files)
    assert _pages((tmp_path / "why_contrast.pdf").read_bytes()) == 1
    doc = read_sidecar(res.sidecar)
    rec = doc["contrast"]
    assert rec["difference_logit"][0][0] == pytest.approx(1.0) and rec["difference_logit"][1][1] is None
    assert rec["a"]["index"] == 3 and rec["b"]["path"] == "/g/dog/5.png"
    assert [r["stroke"] for r in rec["per_stroke"]] == list(range(len(strokes.strokes)))
    assert rec["correspondences"]["a"] and sorted(rec["files"]) == names
    json.dumps(contrast_record(view))  # plain JSON (no NaN, no numpy scalars)


def test_report_adds_occlusion_pages_and_a_closing_contrast_page(
    expl: Explanation, result: RetrievalResult, strokes: StrokeSketch, tmp_path: Path
) -> None:
    occ = OcclusionMap(
        4, 2, np.zeros((4, 4), np.float32), 0.9, np.linspace(0.9, 0.1, 11, dtype=np.float32), 0.45,
        expl.photo_image,
    )  # fmt: skip
    view = ContrastView(patch_contrast(), expl, expl, "#1 cat", "#2 dog", stroke_contrast(strokes), strokes)
    pages = [ReportPage(expl, it, occlusion=occ) for it in result.items[:2]] + [
        ReportPage(expl, result.items[2])
    ]
    pdf, side = write_pdf_report(tmp_path / "r.pdf", pages, contrast=view)
    # result 1 + occlusion, result 2 + occlusion, result 3, the contrast page
    assert _pages(pdf.read_bytes()) == 6
    doc = read_sidecar(side)
    assert doc["page_count"] == 6
    assert doc["pages"][0]["occlusion"]["deletion_auc"] == pytest.approx(0.45)
    assert "occlusion" not in doc["pages"][2]
    assert doc["contrast"]["a"]["name"] == "#1 cat" and doc["contrast"]["grid"] == 4


def test_hovering_the_contrast_map_finds_the_patch_and_its_numbers() -> None:
    from zse_gui.viz.contrast import patch_contrast_at, patch_contrast_texts

    con = patch_contrast()
    assert patch_contrast_at(con, 64, 8, 8) == 0 and patch_contrast_at(con, 64, 63.5, 63.5) == 15
    assert patch_contrast_at(con, 64, 24, 8) == 1 and patch_contrast_at(con, 64, 8, 24) == 4
    assert patch_contrast_at(con, 64, 64, 8) is None and patch_contrast_at(con, 64, -1, 8) is None
    texts = patch_contrast_texts(con, "#1 cat", "#2 dog")
    assert len(texts) == 16
    assert (
        texts[0]
        == "Patch row 1, col 1: towards #1 cat by 1.00 logit (masked, #1 cat changes -1.00, #2 dog +0.00)"
    )
    assert texts[15].startswith("Patch row 4, col 4: towards #2 dog by 1.00")
    assert texts[5] == "Patch row 2, col 2: no ink (not scored)"
