"""PNG/SVG/PDF export, sidecars and the PDF report."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zse_gui.errors import ConfigError, ZseError
from zse_gui.results import Explanation, RetrievalResult
from zse_gui.sketch import StrokeSketch
from zse_gui.viz import (
    VIEWS,
    CorrespondenceSettings,
    ExportOptions,
    Provenance,
    ReportPage,
    export_explanation,
    read_sidecar,
    redraw_correspondences,
    render_view,
    select_pairs,
    write_pdf_report,
)

SVG = "{http://www.w3.org/2000/svg}"


def _pdf_pages(data: bytes) -> int:
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    return len(re.findall(rb"/Type\s*/Page\b", data))


@pytest.fixture
def provenance(strokes: StrokeSketch) -> Provenance:
    return Provenance(
        model="zse_test",
        weights_sha256="ab" * 32,
        weights_source="random-init",
        sketch_source="<strokes>",
        strokes=strokes,
        photo_path="/g/cat/1.png",
        photo_label="cat",
        query_label="cat",
        rank=0,
    )


def test_export_writes_every_view_and_format(
    expl: Explanation, provenance: Provenance, tmp_path: Path
) -> None:
    opts = ExportOptions(correspondence=CorrespondenceSettings(top_k=6))
    res = export_explanation(expl, tmp_path, "ex", opts, provenance)
    assert len(res.files) == len(VIEWS) * 3 and all(f.is_file() and f.stat().st_size > 0 for f in res.files)
    assert res.pairs == 6
    for view in VIEWS:
        png = np.asarray(Image.open(tmp_path / f"ex_{view}.png").convert("RGB"))
        assert np.array_equal(png, render_view(expl, view, opts))  # the file is what the screen shows
        assert _pdf_pages((tmp_path / f"ex_{view}.pdf").read_bytes()) == 1
        ET.parse(tmp_path / f"ex_{view}.svg")  # well-formed XML


def test_svg_has_one_path_per_drawn_line(expl: Explanation, tmp_path: Path) -> None:
    opts = ExportOptions(
        formats=("svg",), views=("correspondences",), correspondence=CorrespondenceSettings(top_k=5)
    )
    export_explanation(expl, tmp_path, "s", opts)
    root = ET.parse(tmp_path / "s_correspondences.svg").getroot()
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("pair-")}
    assert sorted(groups) == [f"pair-{k}" for k in range(5)]
    for g in groups.values():
        assert len(list(g.iter(f"{SVG}path"))) == 1
    assert any(
        img.get("{http://www.w3.org/1999/xlink}href", "").startswith("data:image/png")
        for img in root.iter(f"{SVG}image")
    )


def test_sidecar_round_trips_and_reproduces_the_png(
    expl: Explanation, provenance: Provenance, tmp_path: Path
) -> None:
    opts = ExportOptions(
        formats=("png",),
        correspondence=CorrespondenceSettings(top_k=4, threshold=0.01, head=1, palette="cividis"),
        highlight=None,
        heads=(1,),
        background="black",
        synthesis_grid=False,
        sketch_overlay_alpha=0.5,
    )
    res = export_explanation(expl, tmp_path, "rt", opts, provenance)
    doc = read_sidecar(res.sidecar)
    assert doc["model"] == {"name": "zse_test", "weights_sha256": "ab" * 32, "weights_source": "random-init"}
    back = Provenance.from_dict(doc)
    assert back.strokes is not None and provenance.strokes is not None
    assert back.strokes.canvas_size == provenance.strokes.canvas_size
    for a, b in zip(back.strokes.strokes, provenance.strokes.strokes, strict=True):
        assert np.allclose(a.points, b.points) and a.width == b.width
    assert (back.photo_path, back.photo_label, back.rank) == ("/g/cat/1.png", "cat", 0)
    again = ExportOptions.from_dict(doc["settings"])
    assert again == opts
    record = doc["views"]["correspondences"]
    pairs = select_pairs(expl, opts.correspondence)
    assert [(p["sketch_patch"], p["photo_patch"]) for p in record["pairs"]] == [
        (p.sketch_patch, p.photo_patch) for p in pairs
    ]
    assert (
        record["pairs"][0]["photo_box_model"][2] - record["pairs"][0]["photo_box_model"][0] == expl.patch_size
    )
    png = np.asarray(Image.open(tmp_path / "rt_correspondences.png").convert("RGB"))
    # From the sidecar's pairs alone (no attention maps) ...
    assert np.array_equal(redraw_correspondences(record, expl.sketch_image, expl.photo_image), png)
    # ... and from its settings with the explanation, for every view.
    for view in VIEWS:
        file_png = np.asarray(Image.open(tmp_path / f"rt_{view}.png").convert("RGB"))
        assert np.array_equal(render_view(expl, view, again), file_png)


def test_highlight_is_recorded(expl: Explanation, tmp_path: Path) -> None:
    opts = ExportOptions(formats=("png",), views=("correspondences",), highlight=3, side="photo")
    res = export_explanation(expl, tmp_path, "hl", opts)
    record = read_sidecar(res.sidecar)["views"]["correspondences"]
    assert record["highlight"] == ["photo", 3]
    assert all(p["photo_patch"] == 3 for p in record["pairs"])
    png = np.asarray(Image.open(tmp_path / "hl_correspondences.png").convert("RGB"))
    assert np.array_equal(redraw_correspondences(record, expl.sketch_image, expl.photo_image), png)


def test_exports_are_byte_stable(expl: Explanation, tmp_path: Path) -> None:
    opts = ExportOptions(formats=("svg", "pdf"), views=("correspondences", "kernel"))
    export_explanation(expl, tmp_path / "a", "x", opts)
    export_explanation(expl, tmp_path / "b", "x", opts)
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name


def test_pdf_report_has_one_page_per_result_plus_the_strip(
    expl: Explanation, result: RetrievalResult, provenance: Provenance, tmp_path: Path
) -> None:
    pages = [ReportPage(expl, it, provenance) for it in result.items[:3]]
    thumbs = [expl.photo_image] * 3
    pdf, side = write_pdf_report(
        tmp_path / "r.pdf", pages, strip=(expl.sketch_image, result, thumbs, "cat"), header="test"
    )
    assert _pdf_pages(pdf.read_bytes()) == 4
    doc = read_sidecar(side)
    assert doc["page_count"] == 4 and len(doc["pages"]) == 3
    assert doc["pages"][0]["pairs"] and doc["pages"][0]["model"]["name"] == "zse_test"
    pdf2, _ = write_pdf_report(tmp_path / "r2.pdf", pages[:1])
    assert _pdf_pages(pdf2.read_bytes()) == 1


def test_pdf_report_adds_a_stroke_page_where_a_page_carries_an_attribution(
    expl: Explanation, result: RetrievalResult, provenance: Provenance, strokes: StrokeSketch, tmp_path: Path
) -> None:
    from zse_gui.stroke_results import StrokeAttribution

    s = len(strokes.strokes)
    removed = np.linspace(-1.0, 2.0, s).astype(np.float32)
    attr = StrokeAttribution(
        target_index=result.items[0].index,
        target_path=result.items[0].path,
        base_logit=1.5,
        base_rank=0,
        compared=tuple(it.index for it in result.items[:3]),
        removed_logit=removed,
        alone_logit=np.full(s, 0.5, np.float32),
        removed_rank=np.arange(s, dtype=np.int64) % 3,
        alone_rank=np.zeros(s, np.int64),
    )
    pages = [ReportPage(expl, result.items[0], provenance, strokes, attr), ReportPage(expl, result.items[1])]
    pdf, side = write_pdf_report(tmp_path / "r.pdf", pages)
    assert _pdf_pages(pdf.read_bytes()) == 3  # result 1, its stroke page, result 2
    doc = read_sidecar(side)
    assert doc["page_count"] == 3 and "strokes" not in doc["pages"][1]
    rows = doc["pages"][0]["strokes"]["per_stroke"]
    assert [r["stroke"] for r in rows] == list(range(s))
    assert [r["contribution_logit"] for r in rows] == pytest.approx(
        [1.5 - float(v) for v in removed], abs=1e-5
    )


def test_bad_options_and_sidecars(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ExportOptions(formats=("gif",))
    with pytest.raises(ConfigError):
        ExportOptions(views=("everything",))
    for bad in ({"side": "left"}, {"background": "pink"}, {"keep_mass": 0.0}, {"sketch_overlay_alpha": 2.0}):
        with pytest.raises(ConfigError):
            ExportOptions(**bad)  # type: ignore[arg-type]
    (tmp_path / "x.json").write_text('{"schema": "other"}')
    with pytest.raises(ZseError, match="not a zse-gui figure sidecar"):
        read_sidecar(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{not json")
    with pytest.raises(ZseError, match="cannot read"):
        read_sidecar(tmp_path / "y.json")


def test_viz_needs_neither_pyplot_nor_torch_nor_qt() -> None:
    code = (
        "import sys\n"
        "import zse_gui.viz, zse_gui.viz.export, zse_gui.viz.figures\n"
        "bad = [m for m in ('matplotlib.pyplot', 'torch', 'PySide6') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_sidecar_names_the_readout_that_drew_the_lines(
    expl: Explanation, provenance: Provenance, tmp_path: Path
) -> None:
    from dataclasses import replace

    plain = read_sidecar(
        export_explanation(expl, tmp_path / "a", "a", ExportOptions(formats=("png",))).sidecar
    )
    assert plain["explanation"]["correspondence_readout"] == "attention"
    assert plain["views"]["correspondences"]["readout"] == "attention"
    sink = replace(expl, correspondences=tuple(replace(c, readout="sinkhorn") for c in expl.correspondences))
    doc = read_sidecar(
        export_explanation(sink, tmp_path / "b", "b", ExportOptions(formats=("png",)), provenance).sidecar
    )
    assert doc["explanation"]["correspondence_readout"] == "sinkhorn"
    assert doc["views"]["correspondences"]["readout"] == "sinkhorn"
