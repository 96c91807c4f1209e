"""Token correspondences (paper Fig. 1b): which sketch patch matches which photo patch.

One selection (``select_pairs``) feeds the raster view, the vector figure and the sidecar, so
they always show the same pairs. The raster view is the sketch and the photo side by side, the
matched cells outlined and joined by lines coloured by attention strength, and a colour bar
with the threshold marked.

Scores are cross-attention weights: each row of the attention sums to 1 over the ``P`` patches,
so uniform attention gives ``1 / P`` (about 0.005 for 14 x 14 patches) and a threshold is best
read against that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from zse_gui.errors import ConfigError
from zse_gui.results import Correspondences, Explanation
from zse_gui.viz import _draw
from zse_gui.viz.colors import check_palette, map_scores
from zse_gui.viz.layout import Box, PanelLayout, default_panel_size, hit_test, row_layout

__all__ = [
    "CorrespondenceSettings",
    "Pair",
    "correspondence_layout",
    "select_pairs",
    "score_range",
    "render_correspondences",
    "draw_pairs",
    "hit_correspondences",
    "colorbar_label",
]

SIDES = ("sketch", "photo")
_HIGHLIGHT_DEFAULT_K = 5


@dataclass(frozen=True)
class CorrespondenceSettings:
    """What the correspondence view draws.

    Attributes:
        top_k: draw at most this many pairs, strongest first (None = all that pass the filters).
        threshold: drop pairs whose attention weight is below this (0 = keep all).
        head: cross-attention head, or None for the mean over heads.
        mutual_only: keep only mutual best matches (sketch->photo and photo->sketch agree).
        ink_only: keep only pairs whose sketch patch contains ink.
        palette: matplotlib colour map for line strength (colour-blind-safe default).
        show_grid: draw the patch-cell grid on both images.
        panel_size: side of each image panel in rendered pixels (None = at least 224, an
            integer multiple of the model input size).
        line_width: line thickness in rendered pixels.
        show_colorbar: draw the colour bar band under the panels.
    """

    top_k: int | None = 15
    threshold: float = 0.0
    head: int | None = None
    mutual_only: bool = False
    ink_only: bool = True
    palette: str = "viridis"
    show_grid: bool = True
    panel_size: int | None = None
    line_width: int = 2
    show_colorbar: bool = True

    def __post_init__(self) -> None:
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1 or None, got {self.top_k}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is an attention weight in [0, 1], got {self.threshold}")
        if self.panel_size is not None and self.panel_size < 16:
            raise ConfigError(f"panel_size must be >= 16 px, got {self.panel_size}")
        if self.line_width < 1:
            raise ConfigError(f"line_width must be >= 1, got {self.line_width}")
        check_palette(self.palette)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (sidecars)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CorrespondenceSettings:
        """Inverse of ``to_dict``; unknown keys are ignored so old sidecars still load."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Pair:
    """One drawn sketch-photo patch match.

    Attributes:
        sketch_patch, photo_patch: patch ids (row-major on the g x g grid).
        score: attention weight of the match (the colour of its line).
        sketch_xy, photo_xy: patch centres in rendered pixels of the correspondence view.
        sketch_box, photo_box: (x0, y0, x1, y1) cells in rendered pixels.
        mutual: the two patches are mutual best matches (in the selected head).
        ink: the sketch patch contains ink.
    """

    sketch_patch: int
    photo_patch: int
    score: float
    sketch_xy: tuple[float, float]
    photo_xy: tuple[float, float]
    sketch_box: Box
    photo_box: Box
    mutual: bool
    ink: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (sidecars)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pair:
        """Inverse of ``to_dict``."""
        return cls(
            sketch_patch=int(data["sketch_patch"]),
            photo_patch=int(data["photo_patch"]),
            score=float(data["score"]),
            sketch_xy=(float(data["sketch_xy"][0]), float(data["sketch_xy"][1])),
            photo_xy=(float(data["photo_xy"][0]), float(data["photo_xy"][1])),
            sketch_box=_box(data["sketch_box"]),
            photo_box=_box(data["photo_box"]),
            mutual=bool(data["mutual"]),
            ink=bool(data["ink"]),
        )


def _box(v: Any) -> Box:
    return (float(v[0]), float(v[1]), float(v[2]), float(v[3]))


def _check_side(side: str) -> None:
    if side not in SIDES:
        raise ConfigError(f"side must be 'sketch' or 'photo', got {side!r}")


_FOOTER = 44  # colour bar band: label, bar, tick labels
_GAP = 24


def correspondence_layout(expl: Explanation, settings: CorrespondenceSettings) -> PanelLayout:
    """Panels ``sketch`` and ``photo`` side by side, and the colour bar band under them."""
    size = settings.panel_size or default_panel_size(int(expl.sketch_image.shape[0]))
    footer = _FOOTER if settings.show_colorbar else 0
    return row_layout(("sketch", "photo"), size, expl.grid, _GAP, 8, footer)


def _corr(expl: Explanation, head: int | None) -> Correspondences:
    try:
        return expl.for_head(head)
    except KeyError:
        n = int(expl.sketch_attn.shape[0])
        raise ConfigError(f"head {head} out of range: the explanation has {n} CA heads, 0..{n - 1}") from None


def _attn_row(expl: Explanation, head: int | None, side: str, patch: int) -> np.ndarray:
    attn = expl.sketch_attn if side == "sketch" else expl.photo_attn
    if head is None:
        mean: np.ndarray = np.asarray(attn[:, patch, :], dtype=np.float64).mean(axis=0)
        return mean
    if not 0 <= head < attn.shape[0]:
        raise ConfigError(f"head {head} out of range: the explanation has {attn.shape[0]} heads")
    return np.asarray(attn[head, patch, :], dtype=np.float64)


def score_range(
    expl: Explanation, settings: CorrespondenceSettings, highlight: int | None = None, side: str = "sketch"
) -> tuple[float, float]:
    """(lo, hi) of the line colour scale.

    Without a highlight it spans the best-match scores of every patch on ``side``, so changing
    top-k or the threshold does not recolour the lines that stay; with a highlight it spans 0 to
    the strongest weight of that patch's attention row.
    """
    _check_side(side)
    if highlight is not None:
        row = _attn_row(expl, settings.head, side, highlight)
        lo, hi = 0.0, float(row.max())
    else:
        c = _corr(expl, settings.head)
        scores = np.asarray(c.sketch_score if side == "sketch" else c.photo_score, dtype=np.float64)
        lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-9:
        hi = lo + 1e-9
    return lo, hi


def select_pairs(
    expl: Explanation, settings: CorrespondenceSettings, highlight: int | None = None, side: str = "sketch"
) -> list[Pair]:
    """The pairs the correspondence views draw, strongest first.

    Without a highlight every patch on ``side`` proposes its best match on the other side
    (``side="sketch"``: the sketch-stream argmax; ``"photo"``: the photo-stream argmax); the
    ink/mutual/threshold filters apply, then the top-k. With ``highlight`` (a patch id on
    ``side``) the pairs are that patch's ``top_k`` strongest attention weights (5 when top_k is
    None) above the threshold, ignoring the ink and mutual filters.

    Args:
        expl: the explanation.
        settings: filters and layout.
        highlight: patch id on ``side`` whose matches to list, or None.
        side: ``"sketch"`` or ``"photo"``: which stream's attention defines the matches.

    Returns:
        Pairs sorted by descending score (ties by patch id), with rendered coordinates.

    Raises:
        ConfigError: bad side, head or highlight id.
    """
    _check_side(side)
    c = _corr(expl, settings.head)
    lay = correspondence_layout(expl, settings)
    sp, pp = lay.panel("sketch"), lay.panel("photo")
    n = expl.grid * expl.grid
    if highlight is not None:
        if not 0 <= highlight < n:
            raise ConfigError(f"highlight patch {highlight} out of range 0..{n - 1}")
        row = _attn_row(expl, settings.head, side, highlight)
        k = settings.top_k or _HIGHLIGHT_DEFAULT_K
        order = np.lexsort((np.arange(n), -row))[:k]
        others = [int(j) for j in order if row[j] >= settings.threshold]
        if side == "sketch":
            raw = [(highlight, j, float(row[j])) for j in others]
        else:
            raw = [(i, highlight, float(row[i])) for i in others]
    else:
        if side == "sketch":
            sk = np.arange(n)
            ph = np.asarray(c.sketch_to_photo, dtype=np.int64)
            score = np.asarray(c.sketch_score, dtype=np.float64)
            mutual = np.asarray(c.mutual, dtype=bool)
        else:
            ph = np.arange(n)
            sk = np.asarray(c.photo_to_sketch, dtype=np.int64)
            score = np.asarray(c.photo_score, dtype=np.float64)
            mutual = np.asarray(c.sketch_to_photo, dtype=np.int64)[sk] == ph
        keep = score >= settings.threshold
        if settings.mutual_only:
            keep &= mutual
        if settings.ink_only:
            keep &= np.asarray(c.ink, dtype=bool)[sk]
        idx = np.flatnonzero(keep)
        idx = idx[np.lexsort((idx, -score[idx]))]
        if settings.top_k is not None:
            idx = idx[: settings.top_k]
        raw = [(int(sk[t]), int(ph[t]), float(score[t])) for t in idx]
    c_mut = np.asarray(c.sketch_to_photo, dtype=np.int64)
    c_back = np.asarray(c.photo_to_sketch, dtype=np.int64)
    ink = np.asarray(c.ink, dtype=bool)
    return [
        Pair(
            sketch_patch=i,
            photo_patch=j,
            score=s,
            sketch_xy=sp.centre(i),
            photo_xy=pp.centre(j),
            sketch_box=sp.cell_box(i),
            photo_box=pp.cell_box(j),
            mutual=bool(c_mut[i] == j and c_back[j] == i),
            ink=bool(ink[i]),
        )
        for i, j, s in raw
    ]


def colorbar_label(
    settings: CorrespondenceSettings, highlight: int | None, side: str, readout: str = "attention"
) -> str:
    """The colour bar caption, e.g. ``"attention (head mean, sketch -> best match)"``; the best
    sketch -> photo matches of another readout are labelled with its name (a highlighted patch
    always shows its attention row)."""
    head = "head mean" if settings.head is None else f"head {settings.head}"
    what = f"{side} patch {highlight}" if highlight is not None else f"{side} -> best match"
    if highlight is None and side == "sketch" and readout != "attention":
        return f"{readout.replace('_', ' ')} strength ({head}, {what})"
    return f"attention ({head}, {what})"


def draw_pairs(
    sketch_image: np.ndarray,
    photo_image: np.ndarray,
    layout: PanelLayout,
    pairs: list[Pair],
    score_lo: float,
    score_hi: float,
    settings: CorrespondenceSettings,
    highlight: tuple[str, int] | None = None,
    colorbar_label: str = "attention",
) -> np.ndarray:
    """Draw given pairs on the two images: the drawing half of ``render_correspondences``.

    Everything it needs is in a sidecar (layout, pairs, colour range, settings), so a figure can
    be redrawn from its sidecar and the two model-input images without the attention maps.

    Returns:
        [layout.height, layout.width, 3] uint8 RGB.
    """
    sk = _draw.check_image(sketch_image, "sketch_image")
    ph = _draw.check_image(photo_image, "photo_image")
    out = _draw.canvas(layout.height, layout.width)
    sp, pp = layout.panel("sketch"), layout.panel("photo")
    _draw.paste(out, sk, sp)
    _draw.paste(out, ph, pp)
    if settings.show_grid:
        _draw.grid(out, sp)
        _draw.grid(out, pp)
    # Weakest first, so the strongest lines end up on top.
    ordered = sorted(pairs, key=lambda p: (p.score, -p.sketch_patch, -p.photo_patch))
    colors = map_scores(np.asarray([p.score for p in ordered]), score_lo, score_hi, settings.palette)
    for p, col in zip(ordered, colors, strict=True):
        rgb = _draw.as_rgb(col)
        _draw.fill(out, p.sketch_box, rgb, 0.35)
        _draw.fill(out, p.photo_box, rgb, 0.35)
        _draw.box(out, p.sketch_box, rgb, 2)
        _draw.box(out, p.photo_box, rgb, 2)
    lw = settings.line_width
    for p, col in zip(ordered, colors, strict=True):
        # A dark casing keeps light colours (viridis yellow) visible on white paper and bright photos.
        _draw.line(out, p.sketch_xy, p.photo_xy, _draw.INK, lw + 2)
        _draw.line(out, p.sketch_xy, p.photo_xy, _draw.as_rgb(col), lw)
        for xy in (p.sketch_xy, p.photo_xy):
            _draw.dot(out, xy, lw + 1.5, _draw.INK)
            _draw.dot(out, xy, lw + 0.5, _draw.as_rgb(col))
    if highlight is not None:
        b = layout.panel(highlight[0]).cell_box(highlight[1])
        _draw.box(out, b, (255, 255, 255), 3)
        _draw.box(out, b, _draw.INK, 1)
    if layout.footer[1]:
        y0 = layout.footer[0] + 16
        bar_w = min(layout.width - 40, 360)
        x0 = (layout.width - bar_w) // 2
        thr = settings.threshold if settings.threshold > 0 else None
        _draw.colorbar(out, x0, y0, bar_w, 10, settings.palette, score_lo, score_hi, colorbar_label, thr)
    return out


def render_correspondences(
    expl: Explanation,
    settings: CorrespondenceSettings | None = None,
    highlight: int | None = None,
    side: str = "sketch",
) -> np.ndarray:
    """Raster correspondence view: sketch | photo, matched cells joined by coloured lines.

    Args:
        expl: the explanation (not modified).
        settings: what to draw (defaults: top 15 ink pairs of the head mean).
        highlight: a patch id on ``side`` whose matches to show instead of the best pairs.
        side: which stream's attention defines the matches, ``"sketch"`` or ``"photo"``.

    Returns:
        [H, W, 3] uint8 RGB; ``correspondence_layout(expl, settings)`` says where the panels are.
    """
    settings = settings or CorrespondenceSettings()
    pairs = select_pairs(expl, settings, highlight, side)
    lo, hi = score_range(expl, settings, highlight, side)
    lay = correspondence_layout(expl, settings)
    hl = (side, highlight) if highlight is not None else None
    return draw_pairs(
        expl.sketch_image,
        expl.photo_image,
        lay,
        pairs,
        lo,
        hi,
        settings,
        hl,
        colorbar_label(settings, highlight, side, expl.for_head(settings.head).readout),
    )


def hit_correspondences(
    expl: Explanation, settings: CorrespondenceSettings, x: float, y: float
) -> tuple[str, int] | None:
    """Map a click at (x, y) in the rendered correspondence view to ``(side, patch id)``.

    Returns None for clicks between or outside the panels. Feed the result back as
    ``render_correspondences(expl, settings, highlight=patch, side=side)``.
    """
    return hit_test(correspondence_layout(expl, settings), x, y)
