"""Per-stroke views: strokes coloured by their contribution, the replay curve, the replay animation,
and the photo occlusion map.

Raster renderers return [H, W, 3] uint8; the replay curve is also a ``matplotlib.figure.Figure``
(object API, no pyplot) for SVG/PDF. The contribution colour map is diverging and colour-blind safe
(matplotlib ``PuOr``: orange = the stroke supports the result, purple = the result is better
without it, pale = no effect), symmetric about zero.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
from PIL import Image

from zse_gui.sketch import StrokeSketch
from zse_gui.stroke_results import OcclusionMap, Replay, StrokeAttribution
from zse_gui.viz import _draw
from zse_gui.viz.colors import colormap_lut, map_scores

__all__ = [
    "CONTRIBUTION_PALETTE",
    "StrokePanel",
    "TARGET_RGB",
    "contribution_range",
    "figure_rgb",
    "occlusion_page_figure",
    "render_occlusion",
    "render_replay_frame",
    "replay_frames",
    "render_stroke_attribution",
    "replay_figure",
    "save_gif",
    "save_mp4",
    "stroke_at",
    "stroke_page_figure",
    "strokes_needed_text",
    "stroke_hover_texts",
    "stroke_table",
]

CONTRIBUTION_PALETTE = "PuOr_r"  # orange for positive (supports), purple for negative
# The photo a replay follows: bluish green (Okabe-Ito), a hue the contribution colours do not use;
# the app's results grid outlines it in the same colour.
TARGET_RGB = (0, 158, 115)
_LEGEND_H = 44  # pixels below the drawing for the colour bar


@dataclass(frozen=True)
class StrokePanel:
    """Where a sketch's canvas was drawn in a rendered image: ``image = canvas * scale + offset``."""

    scale: float
    offset: tuple[float, float]
    size: int

    def to_canvas(self, x: float, y: float) -> tuple[float, float]:
        return ((x - self.offset[0]) / self.scale, (y - self.offset[1]) / self.scale)


def _panel(sketch: StrokeSketch, size: int, margin: int = 8) -> StrokePanel:
    w, h = sketch.canvas_size
    scale = (size - 2 * margin) / max(w, h, 1)
    return StrokePanel(
        scale,
        (margin + (size - 2 * margin - w * scale) / 2, margin + (size - 2 * margin - h * scale) / 2),
        size,
    )


def contribution_range(values: np.ndarray) -> float:
    """Half-width of the symmetric colour range: the largest finite |value| (at least 1e-6)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(max(np.abs(v).max() if len(v) else 0.0, 1e-6))


def _polyline(
    dst: np.ndarray, pts: np.ndarray, panel: StrokePanel, width: float, color: tuple[int, int, int]
) -> None:
    p = np.asarray(pts, np.float64) * panel.scale + np.asarray(panel.offset)
    thick = max(2, round(width * panel.scale * 1.6))
    fixed = np.round(p * 16).astype(np.int64)
    if len(fixed) == 1:
        cv2.circle(dst, tuple(int(v) for v in fixed[0]), max(16, thick * 8), color, -1, cv2.LINE_AA, 4)
        return
    cv2.polylines(dst, [fixed.reshape(-1, 1, 2).astype(np.int32)], False, color, thick, cv2.LINE_AA, 4)


def render_stroke_attribution(
    sketch: StrokeSketch,
    values: np.ndarray,
    size: int = 384,
    palette: str = CONTRIBUTION_PALETTE,
    label: str = "logit drop without the stroke",
    highlight: int | None = None,
) -> tuple[np.ndarray, StrokePanel]:
    """Draw each stroke in the colour of its value, with a colour bar below.

    Args:
        sketch: the strokes (canvas pixels).
        values: [S] float per stroke (e.g. ``StrokeAttribution.contribution``); NaN draws grey.
        size: side of the drawing panel in pixels (the image is ``size + 44`` tall).
        palette: a diverging matplotlib colour map; the range is symmetric about 0.
        highlight: a stroke drawn with a dark outline (the hovered one).

    Returns:
        ([size + 44, size, 3] uint8 image, the panel transform for hit tests).
    """
    vals = np.asarray(values, np.float64).reshape(-1)
    if len(vals) != len(sketch.strokes):
        raise ValueError(f"{len(vals)} values for {len(sketch.strokes)} strokes")
    out = _draw.canvas(size + _LEGEND_H, size)
    panel = _panel(sketch, size)
    r = contribution_range(vals)
    colors = map_scores(np.nan_to_num(vals, nan=0.0), -r, r, palette)
    # Weakest first, so the strokes that matter are drawn on top.
    for k in np.argsort(np.nan_to_num(np.abs(vals), nan=-1.0), kind="stable"):
        s = sketch.strokes[int(k)]
        if not len(s.points):
            continue
        if k == highlight:
            _polyline(out, s.points, panel, s.width * 2.2, _draw.INK)
        color = (170, 170, 170) if not np.isfinite(vals[k]) else _draw.as_rgb(colors[k])
        _polyline(out, s.points, panel, s.width, color)
    _draw.colorbar(out, 16, size + 14, size - 32, 10, palette, -r, r, label)
    return out, panel


def stroke_at(
    sketch: StrokeSketch, panel: StrokePanel, x: float, y: float, tolerance: float = 8.0
) -> int | None:
    """The stroke nearest to image point (x, y) within ``tolerance`` image pixels, or None."""
    cx, cy = panel.to_canvas(x, y)
    tol = tolerance / panel.scale
    best, best_d = None, np.inf
    q = np.asarray([cx, cy], np.float64)
    for k, s in enumerate(sketch.strokes):
        pts = np.asarray(s.points, np.float64)
        if not len(pts):
            continue
        if len(pts) == 1:
            d = float(np.linalg.norm(pts[0] - q))
        else:
            a, b = pts[:-1], pts[1:]
            ab = b - a
            t = np.clip(((q - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0.0, 1.0)
            d = float(np.linalg.norm(a + t[:, None] * ab - q, axis=1).min())
        d -= s.width / 2
        if d < best_d:
            best, best_d = k, d
    return best if best_d <= tol else None


def stroke_table(attr: StrokeAttribution, sketch: StrokeSketch) -> list[dict[str, object]]:
    """One JSON-ready row per input stroke: points, removed/alone scores, ranks and contribution."""

    def num(x: float) -> float | None:
        return None if not np.isfinite(x) else round(float(x), 6)

    rows: list[dict[str, object]] = []
    contrib = attr.contribution
    for k, s in enumerate(sketch.strokes):
        rows.append(
            {
                "stroke": k,
                "points": len(s.points),
                "contribution_logit": num(contrib[k]),
                "removed_logit": num(attr.removed_logit[k]),
                "removed_score": num(attr.removed_score[k]),
                "removed_rank": int(attr.removed_rank[k]) if attr.removed_rank[k] >= 0 else None,
                "alone_logit": num(attr.alone_logit[k]),
                "alone_score": num(attr.alone_score[k]),
                "alone_rank": int(attr.alone_rank[k]) if attr.alone_rank[k] >= 0 else None,
            }
        )
    return rows


def strokes_needed_text(strokes: int | None) -> str:
    """``after 1 stroke`` / ``after 3 strokes`` / ``never`` (``Replay.strokes_to_reach`` in words)."""
    if not strokes:
        return "never"
    return f"after {strokes} stroke" + ("" if strokes == 1 else "s")


def replay_figure(replay: Replay, title: str | None = None, width_in: float = 6.0) -> Figure:
    """The replay curve: the target's rank (1-based, log scale) after each stroke, top 1/5/10 lines."""
    fig = Figure(figsize=(width_in, width_in * 0.55), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    s = len(replay.ranks)
    x = np.arange(1, s + 1)
    ranks = np.minimum(replay.ranks, replay.gallery_size - 1) + 1
    ax.plot(x, ranks, marker="o", color="#0072B2", lw=2, label="rank of the target")
    for k, style in ((1, ":"), (5, "--"), (10, "-.")):
        if k < replay.gallery_size:
            hit = replay.strokes_to_reach(k)
            ax.axhline(
                k,
                color="#999999",
                ls=style,
                lw=1,
                label=f"top {k}: {strokes_needed_text(hit)}",
            )
    ax.set_yscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if t <= replay.gallery_size]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))  # 1, 10, not 1.0, 10.0
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.invert_yaxis()
    ax.set_xlabel("strokes drawn")
    ax.set_ylabel(f"rank (1 = first, of {replay.gallery_size})")
    ax.set_xticks(x if s <= 30 else np.linspace(1, s, 10).round())
    ax.legend(fontsize=8, loc="lower right")
    target = replay.target if len(replay.target) <= 48 else "..." + replay.target[-45:]
    ax.set_title(title or f"Replay of {target} ({replay.mode}, K = {replay.rerank_depth})", fontsize=9)
    return fig


def render_replay_frame(
    sketch: StrokeSketch,
    step: int,
    replay: Replay,
    thumbs: Sequence[np.ndarray],
    size: int = 256,
    thumb: int = 96,
) -> np.ndarray:
    """One animation frame: the first ``step`` strokes, the target's rank, and the top results.

    Args:
        step: strokes drawn so far (1 .. S).
        thumbs: one [h, w, 3] uint8 image per entry of ``replay.top[step - 1]`` (may be fewer).
    """
    n_top = replay.top.shape[1]
    width = size + 12 + n_top * (thumb + 6)
    out = _draw.canvas(max(size, thumb + 40), width)
    panel = _panel(sketch, size)
    for k, s in enumerate(sketch.strokes[:step]):
        if len(s.points):
            _polyline(out, s.points, panel, s.width, (214, 94, 0) if k == step - 1 else _draw.INK)
    rank = int(replay.ranks[step - 1])
    _draw.text(out, f"stroke {step}/{len(sketch.strokes)}", (8, 16), 0.45)
    _draw.text(out, f"target rank {rank + 1}" if rank < replay.gallery_size else "no ink yet", (8, 34), 0.45)
    want = set(replay.target_indices)
    for j, img in enumerate(list(thumbs)[:n_top]):
        x0 = size + 12 + j * (thumb + 6)
        tile = _draw.fit(_draw.check_image(img, "thumbnail"), thumb)
        out[24 : 24 + thumb, x0 : x0 + thumb] = tile
        if int(replay.top[step - 1, j]) in want:
            cv2.rectangle(out, (x0 - 2, 22), (x0 + thumb + 1, 24 + thumb + 1), TARGET_RGB, 3)
        _draw.text(out, f"#{j + 1}", (x0, 18))
    return out


def replay_frames(
    sketch: StrokeSketch,
    replay: Replay,
    photo: Callable[[int], np.ndarray],
    size: int = 256,
    thumb: int = 96,
) -> list[np.ndarray]:
    """Every animation frame of a replay (stroke 1 .. S); ``photo(i)`` gives gallery item i's image."""
    frames = []
    for k in range(len(replay.ranks)):
        thumbs = [photo(int(i)) for i in replay.top[k] if i >= 0]
        frames.append(render_replay_frame(sketch, k + 1, replay, thumbs, size, thumb))
    return frames


def render_occlusion(occ: OcclusionMap, size: int = 384, palette: str = "magma") -> np.ndarray:
    """The photo with its occlusion drops overlaid (like the [Ret] attention view) and a colour bar.

    Positive drops are coloured (brighter = masking there lowered the score more); the area under
    the deletion curve is printed under the bar.
    """
    photo = _draw.fit(_draw.check_image(occ.photo_image, "photo"), size)
    drop = np.clip(np.asarray(occ.drop, np.float64), 0.0, None)
    hi = float(max(drop.max(), 1e-6))
    heat = cv2.resize((drop / hi).astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)
    lut = colormap_lut(palette)
    color = lut[np.round(heat * 255).astype(np.intp)].astype(np.float32)
    alpha = (0.25 + 0.6 * heat)[..., None]
    mixed = photo.astype(np.float32) * (1 - alpha) + color * alpha
    out = _draw.canvas(size + _LEGEND_H + 18, size)
    out[:size] = np.round(mixed).astype(np.uint8)
    _draw.colorbar(out, 16, size + 14, size - 32, 10, palette, 0.0, hi, "score drop when masked")
    _draw.text(
        out,
        f"area under deletion {occ.deletion_auc:.3f} (base {occ.base_score:.3f})",
        (16, size + _LEGEND_H + 12),
    )
    return out


def save_gif(path: str | os.PathLike[str], frames: Sequence[np.ndarray], frame_ms: int = 600) -> Path:
    """Write [H, W, 3] uint8 frames (same size) as a looping animated GIF; the last frame lingers."""
    if not frames:
        raise ValueError("no frames to write")
    imgs = [Image.fromarray(_draw.check_image(f, "frame")) for f in frames]
    durations = [int(frame_ms)] * (len(imgs) - 1) + [int(frame_ms) * 4]
    out = Path(path)
    imgs[0].save(out, format="GIF", save_all=True, append_images=imgs[1:], duration=durations, loop=0)
    return out


def save_mp4(path: str | os.PathLike[str], frames: Sequence[np.ndarray], frame_ms: int = 600) -> Path:
    """Write [H, W, 3] uint8 frames as an MP4 video (MPEG-4 part 2, OpenCV's own encoder); the
    last frame is held four times as long, like the GIF.

    Raises:
        OSError: the video cannot be opened for writing or was not written.
    """
    imgs = [_draw.check_image(f, "frame") for f in frames]
    if not imgs:
        raise ValueError("no frames to write")
    h, w = imgs[0].shape[:2]
    out = Path(path)
    fps = 1000.0 / max(int(frame_ms), 1)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write a video to {out}")
    try:
        for img in [*imgs, imgs[-1], imgs[-1], imgs[-1]]:
            if img.shape[:2] != (h, w):
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    if not out.is_file() or out.stat().st_size == 0:
        raise OSError(f"the video {out} was not written")
    return out


def figure_rgb(fig: Figure) -> np.ndarray:
    """Rasterise a matplotlib ``Figure`` (Agg) to [H, W, 3] uint8, e.g. to show it in a view."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # type: ignore[no-untyped-call]
    rgba = np.asarray(canvas.buffer_rgba())  # type: ignore[no-untyped-call]
    return np.ascontiguousarray(rgba[:, :, :3])


def stroke_page_figure(
    sketch: StrokeSketch, attr: StrokeAttribution, header: str = "", max_rows: int = 40
) -> Figure:
    """One A4-landscape report page: the strokes coloured by contribution, and a per-stroke table.

    The table lists strokes most supporting first (1-based stroke numbers, as in the app's hover
    text): the logit change without the stroke, the score and rank without it, and alone.
    """
    fig = Figure(figsize=(11.69, 8.27), dpi=100)
    lines = [header] if header else []
    lines.append(
        f"stroke attribution of {Path(attr.target_path).name}: relation score {attr.base_score:.3f} "
        f"(logit {attr.base_logit:.2f}), rank {attr.base_rank + 1} among the first "
        f"{len(attr.compared)} results"
    )
    fig.text(0.02, 0.98, "\n".join(lines), fontsize=9, va="top", family="monospace")
    image, _ = render_stroke_attribution(sketch, attr.contribution, size=640)
    ax = fig.add_axes((0.02, 0.04, 0.46, 0.86))
    ax.imshow(image, interpolation="antialiased")
    ax.set_axis_off()
    ax.set_title("orange: supports this result; purple: better without the stroke", fontsize=8)
    order = [int(k) for k in attr.order()]
    rows = [f"{'stroke':>6} {'change':>8} {'without':>8} {'rank':>5} {'alone':>7} {'rank':>5}"]
    for k in order[:max_rows]:
        removed = attr.removed_logit[k]
        alone = attr.alone_logit[k]
        rows.append(
            f"{k + 1:>6} "
            + (
                f"{-attr.contribution[k]:>+8.2f} {attr.removed_score[k]:>8.3f} {attr.removed_rank[k] + 1:>5}"
                if np.isfinite(removed)
                else f"{'-':>8} {'no ink':>8} {'-':>5}"
            )
            + (
                f" {attr.alone_score[k]:>7.3f} {attr.alone_rank[k] + 1:>5}"
                if np.isfinite(alone)
                else f" {'no ink':>7} {'-':>5}"
            )
        )
    if len(order) > max_rows:
        rows.append(f"... {len(order) - max_rows} more strokes in the sidecar")
    fig.text(
        0.52,
        0.9,
        "change = logit without the stroke minus the whole sketch's; scores are sigmoids of logits\n\n"
        + "\n".join(rows),
        fontsize=7.5,
        va="top",
        family="monospace",
    )
    return fig


def stroke_hover_texts(attr: StrokeAttribution) -> list[str]:
    """One line per stroke for hover tips: what removing it, or keeping it alone, does (ranks only
    when other results were compared)."""
    ranked = len(attr.compared) > 1
    out = []
    for k in range(attr.stroke_count):
        if np.isfinite(attr.removed_logit[k]):
            rem = (
                f"without it: score {attr.removed_score[k]:.3f} (logit {attr.removed_logit[k]:+.2f}, "
                f"change {-attr.contribution[k]:+.2f})"
                + (f", rank {int(attr.removed_rank[k]) + 1}" if ranked else "")
            )
        else:
            rem = "without it: nothing left to search with"
        alone = (
            f"alone: score {attr.alone_score[k]:.3f}"
            + (f", rank {int(attr.alone_rank[k]) + 1}" if ranked else "")
            if np.isfinite(attr.alone_logit[k])
            else "alone: no ink"
        )
        tail = f" (ranks among the first {len(attr.compared)} results)" if ranked else ""
        out.append(f"Stroke {k + 1}: {rem}; {alone}{tail}")
    return out


def occlusion_page_figure(occ: OcclusionMap, title: str = "", header: str = "") -> Figure:
    """One A4-landscape report page: the photo's occlusion map and its deletion curve with the area
    under it (the number ``render_occlusion`` prints)."""
    fig = Figure(figsize=(11.69, 8.27), dpi=100)
    lines = [header] if header else []
    lines.append(
        (f"{title}: " if title else "")
        + f"photo occlusion ({occ.window} x {occ.window} patch windows painted white), relation score "
        f"{occ.base_score:.3f}, area under deletion {occ.deletion_auc:.3f}"
    )
    fig.text(0.02, 0.98, "\n".join(lines), fontsize=9, va="top", family="monospace")
    ax = fig.add_axes((0.02, 0.06, 0.46, 0.84))
    ax.imshow(render_occlusion(occ, size=640), interpolation="antialiased")
    ax.set_axis_off()
    ax.set_title("brighter = the score fell more when that window was masked", fontsize=8)
    curve = fig.add_axes((0.56, 0.3, 0.4, 0.45))
    x = np.linspace(0.0, 1.0, len(occ.deletion_scores))
    curve.plot(x, occ.deletion_scores, marker="o", color="#0072B2", lw=2)
    curve.fill_between(x, occ.deletion_scores, color="#0072B2", alpha=0.15)
    curve.set_xlim(0, 1)
    curve.set_ylim(0, 1)
    curve.set_xlabel("share of windows masked, most important first")
    curve.set_ylabel("relation score")
    curve.set_title(
        f"deletion curve: area {occ.deletion_auc:.3f} (lower = the map found what the score needs)",
        fontsize=8,
    )
    return fig
