"""Plain-Python state of the app: stroke history, settings, sessions, autosave, debounce, sketch files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zse_gui.qt.debounce import AdaptiveDelay
from zse_gui.qt.session import (
    Session,
    SessionError,
    load_session,
    read_autosave,
    save_session,
    write_autosave,
)
from zse_gui.qt.settings import AppSettings, config_dir, load_settings, save_settings
from zse_gui.qt.strokes import (
    SketchImage,
    StrokeDocument,
    smooth_points,
    stroke_hits,
)
from zse_gui.sketch import Stroke

from .conftest import zigzag


def _stroke(*pts: tuple[float, float], width: float = 4.0) -> Stroke:
    return Stroke(np.asarray(pts, np.float32), width)


# ------------------------------------------------------------------ strokes
def test_document_undo_redo_and_fork() -> None:
    doc = StrokeDocument()
    a, b, c = _stroke((0, 0), (10, 10)), _stroke((5, 5), (6, 9)), _stroke((1, 1), (2, 2))
    doc.add(a)
    doc.add(b)
    assert doc.strokes == (a, b)
    assert doc.undo() and doc.strokes == (a,)
    assert doc.redo() and doc.strokes == (a, b)
    assert not doc.redo()
    doc.undo()
    doc.add(c)  # a new edit after an undo drops the redo branch
    assert doc.strokes == (a, c) and not doc.can_redo
    assert doc.clear() and doc.strokes == ()
    assert not doc.clear(), "clearing an empty canvas is not an edit"
    assert doc.undo() and doc.strokes == (a, c)


def test_sketch_image_is_part_of_the_undo_history() -> None:
    doc = StrokeDocument()
    img = SketchImage(np.zeros((4, 4, 3), np.uint8), "a.png")
    a = _stroke((0, 0), (10, 10))
    doc.replace_all((), image=img)  # opening an image is one edit
    doc.add(a)  # strokes drawn over it keep it
    assert doc.image is img and doc.strokes == (a,)
    assert doc.clear() and doc.image is None and doc.strokes == ()
    assert doc.undo() and doc.image is img and doc.strokes == (a,), "undoing Clear restores the image"
    assert doc.redo() and doc.image is None
    doc.undo()
    doc.undo()
    assert doc.image is img and doc.strokes == ()
    assert doc.clear(), "an image alone is something to clear"
    doc.replace_all((a,))  # loading strokes without an image drops it
    assert doc.image is None


def test_erase_removes_whole_strokes_in_one_step() -> None:
    doc = StrokeDocument()
    for k in range(3):
        doc.add(_stroke((k, 0), (k, 10)))
    assert not doc.erase(set())
    assert doc.erase({0, 2})
    assert len(doc.strokes) == 1 and float(doc.strokes[0].points[0, 0]) == 1.0
    doc.undo()
    assert len(doc.strokes) == 3


def test_stroke_hits_uses_segment_distance_and_pen_width() -> None:
    s = _stroke((0, 0), (100, 0), width=4.0)
    assert stroke_hits(s, (50, 3), radius=1.5)  # 3 <= 1.5 + 4/2
    assert not stroke_hits(s, (50, 10), radius=1.5)
    assert not stroke_hits(s, (120, 0), radius=5)
    assert stroke_hits(_stroke((7, 7)), (8, 7), radius=0.5)


def test_smoothing_keeps_end_points_and_reduces_corners() -> None:
    pts = np.array([[0, 0], [10, 0], [10, 10]], np.float32)
    out = smooth_points(pts)
    assert np.allclose(out[0], pts[0]) and np.allclose(out[-1], pts[-1])
    assert len(out) > len(pts)
    # the sharp corner at (10, 0) is cut: no output point sits on it
    assert np.min(np.linalg.norm(out - np.array([10, 0]), axis=1)) > 1.0
    assert smooth_points(pts[:2]).shape == (2, 2)


# ------------------------------------------------------------------ settings
def test_settings_round_trip(tmp_path: Path) -> None:
    s = AppSettings(top_k=7, device="cpu", mutual_only=True, export_formats=("png",))
    save_settings(s, tmp_path)
    assert load_settings(tmp_path) == s


def test_bad_setting_values_fall_back_to_defaults(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "settings.json").write_text(
        json.dumps(
            {
                "top_k": -3,
                "live": "yes",
                "device": "tpu",
                "pen_width": 6,
                "corr_threshold": 0.01,
                "top_k_x": 1,
                "rerank_depth": True,
                "export_formats": ["gif"],
            }
        )
    )
    s = load_settings(tmp_path)
    d = AppSettings()
    assert (s.top_k, s.live, s.device, s.rerank_depth, s.export_formats) == (
        d.top_k,
        d.live,
        d.device,
        d.rerank_depth,
        d.export_formats,
    )
    assert s.pen_width == 6.0 and s.corr_threshold == 0.01  # the good values are kept
    assert "top_k" in caplog.text


def test_correspondence_readout_setting_is_checked(tmp_path: Path) -> None:
    save_settings(AppSettings(corr_readout="attention"), tmp_path)  # the earlier readout stays selectable
    assert load_settings(tmp_path).corr_readout == "attention"
    (tmp_path / "settings.json").write_text(json.dumps({"corr_readout": "argmax-of-something"}))
    assert load_settings(tmp_path).corr_readout == AppSettings().corr_readout


def test_an_older_files_default_readout_gives_way_to_todays_default(tmp_path: Path) -> None:
    # Version-1 files stored every value: their corr_readout "dual_sinkhorn" was that version's
    # default, not a choice, so today's default applies; other values are kept.
    (tmp_path / "settings.json").write_text(json.dumps({"corr_readout": "dual_sinkhorn", "top_k": 9}))
    s = load_settings(tmp_path)
    assert s.corr_readout == AppSettings().corr_readout == "consensus" and s.top_k == 9
    # Another readout in an old file was a choice; and from version 2 on, dual_sinkhorn is one too.
    (tmp_path / "settings.json").write_text(json.dumps({"corr_readout": "attention"}))
    assert load_settings(tmp_path).corr_readout == "attention"
    save_settings(AppSettings(corr_readout="dual_sinkhorn"), tmp_path)
    assert json.loads((tmp_path / "settings.json").read_text())["settings_version"] == 2
    assert load_settings(tmp_path).corr_readout == "dual_sinkhorn"


def test_unreadable_settings_file_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text("{not json")
    assert load_settings(tmp_path) == AppSettings()
    (tmp_path / "settings.json").write_text("[1, 2]")
    assert load_settings(tmp_path) == AppSettings()


def test_config_dir_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZSE_CONFIG_DIR", str(tmp_path / "x"))
    assert config_dir() == tmp_path / "x"
    save_settings(AppSettings(top_k=3))
    assert load_settings().top_k == 3


# ------------------------------------------------------------------ sessions and autosave
def test_session_round_trip(tmp_path: Path) -> None:
    s = Session(zigzag(), "zse_test", "", "ab" * 32, "/some/gallery", AppSettings(top_k=5), selected=3)
    p = save_session(tmp_path / "s.zse.json", s)
    back = load_session(p)
    assert (back.model, back.weights, back.weights_sha256, back.gallery, back.settings, back.selected) == (
        s.model,
        s.weights,
        s.weights_sha256,
        s.gallery,
        s.settings,
        s.selected,
    )
    assert len(back.sketch.strokes) == 2


@pytest.mark.parametrize(
    "content, match",
    [
        ("{", "cannot read"),
        ('{"format": "other"}', "not a zse-gui session"),
        ('{"format": "zse-gui-session", "version": 99}', "version"),
        ('{"format": "zse-gui-session", "version": 1, "sketch": {"x": 1}}', "stroke sketch"),
    ],
)
def test_bad_session_files_raise_session_error(tmp_path: Path, content: str, match: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(SessionError, match=match):
        load_session(p)


def test_autosave_round_trip_and_garbage(tmp_path: Path) -> None:
    assert read_autosave(tmp_path) is None
    write_autosave(zigzag(), tmp_path)
    back = read_autosave(tmp_path)
    assert back is not None and len(back.strokes) == 2
    (tmp_path / "autosave-strokes.json").write_text("garbage")
    assert read_autosave(tmp_path) is None


# ------------------------------------------------------------------ debounce
def test_adaptive_delay_follows_latency_within_bounds() -> None:
    d = AdaptiveDelay(lo_ms=50, hi_ms=1000, factor=1.0, alpha=0.5)
    assert d.delay_ms == 50 and d.latency_ms is None
    d.observe(10)
    assert d.delay_ms == 50  # fast inference: the shortest delay
    for _ in range(20):
        d.observe(400)
    assert 350 <= d.delay_ms <= 400  # slow inference: wait about as long as a query takes
    for _ in range(20):
        d.observe(10_000)
    assert d.delay_ms == 1000
    d.observe(float("nan"))
    assert d.delay_ms == 1000
    with pytest.raises(ValueError):
        AdaptiveDelay(alpha=0)


def test_sessions_have_their_own_extension(tmp_path: Path) -> None:
    from zse_gui.qt.menus import SESSION_FILTER
    from zse_gui.qt.session import ensure_suffix

    s = Session(sketch=zigzag(), model="zse_test", weights="", weights_sha256="", gallery="",
                settings=AppSettings())  # fmt: skip
    written = save_session(tmp_path / "mysession", s)
    assert written == tmp_path / "mysession.zse-session" and written.is_file()
    assert load_session(written).model == "zse_test"
    assert save_session(tmp_path / "old.zse.json", s) == tmp_path / "old.zse.json"
    # the Open filter lists sessions, not every JSON file (export sidecars are JSON too)
    patterns = SESSION_FILTER.split(";;")[0]
    assert "*.zse-session" in patterns and " *.json" not in patterns and "(*.json" not in patterns
    assert ensure_suffix("a/report", ".pdf") == Path("a/report.pdf")
    assert ensure_suffix("a/report.PDF", ".pdf") == Path("a/report.PDF"), "a typed extension is kept"
