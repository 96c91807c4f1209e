"""The controller's state as one value, and the revision stamp that keeps old results off the screen.

Every job the controller submits carries the ``Revision`` it was asked for: which sketch (by
content), which gallery and which model. Every result comes back ``Stamped`` with it, and the
controller shows a result only while its stamp equals the current revision. A result computed
for an older sketch, gallery or model therefore cannot reach the screen, whatever the timing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

import numpy as np

from zse_gui.data.splits import canonical_class
from zse_gui.results import Explanation, RankedItem, RetrievalResult
from zse_gui.sketch import CANVAS_SIZE, StrokeSketch, query_digest
from zse_gui.stroke_results import (
    MatchStrength,
    OcclusionMap,
    PatchContrast,
    Replay,
    StrokeAttribution,
    StrokeContrast,
)

__all__ = [
    "AppState",
    "ExplainPayload",
    "StrokesPayload",
    "GalleryInfo",
    "ModelInfo",
    "Revision",
    "Stamped",
    "background_key",
    "class_seen",
    "sketch_key",
]

T = TypeVar("T")


@dataclass(frozen=True)
class ModelInfo:
    """A loaded model, as the GUI shows it.

    Attributes:
        name: registry name.
        source: weight file path or ``"random-init"``.
        sha256: weights sha256 (or state digest for a random init).
        device: the torch device it runs on.
        report: the load report text ("" for a random init).
        seen_classes: canonical names (``canonical_class``) of the classes the model was trained on,
            when its metadata lists them; test a gallery label with ``class_seen``.
        description: one line from the config.
        trained: False for a random init (the GUI then shows a banner).
        ca_heads: cross-attention heads (correspondence head choice).
        sa_heads: self-attention heads ([Ret] attention head choice).
    """

    name: str
    source: str
    sha256: str
    device: str
    report: str
    seen_classes: frozenset[str] | None
    description: str
    trained: bool
    ca_heads: int = 1
    sa_heads: int = 1


@dataclass(frozen=True)
class GalleryInfo:
    """An indexed gallery folder.

    Attributes:
        folder: the folder.
        size: images indexed.
        labels: distinct class labels, sorted.
        skipped: (path, reason) of files that could not be read.
        encoded: files encoded by this run; reused: files taken from the cache.
    """

    folder: str
    size: int
    labels: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    encoded: int = 0
    reused: int = 0


def class_seen(label: str, seen: frozenset[str]) -> bool:
    """Whether gallery class ``label`` (a folder name such as ``hot_air_balloon``) is in ``seen``."""
    return canonical_class(label) in seen


@dataclass(frozen=True)
class Revision:
    """What a result was computed for.

    Attributes:
        sketch: a digest of the query's content ("" for a blank canvas): an undo back to an
            earlier drawing gives back that drawing's revision, so its results are current again.
        gallery: generation of the open gallery (each open or re-index is a new one).
        model: generation of the loaded model (each load is a new one).
    """

    sketch: str = ""
    gallery: int = 0
    model: int = 0

    def same_gallery(self, other: Revision) -> bool:
        """Same gallery and model generation (whatever the sketch)."""
        return (self.gallery, self.model) == (other.gallery, other.model)


@dataclass(frozen=True)
class Stamped(Generic[T]):
    """A job's result and the revision it was computed for."""

    revision: Revision
    value: T


@dataclass(frozen=True)
class ExplainPayload:
    """One explanation, the ranked item it explains and the revision it was computed for."""

    item: RankedItem
    explanation: Explanation
    revision: Revision = field(default_factory=Revision)


@dataclass(frozen=True)
class StrokesPayload:
    """The Strokes tab's numbers for one result, stamped with the revision they were computed for.

    ``attribution`` arrives first (a partial payload), then ``replay`` (another partial one), then
    the photo's ``occlusion`` map with the final one; ``strength`` comes with all.
    """

    item: RankedItem
    strength: MatchStrength
    attribution: StrokeAttribution | None
    replay: Replay | None
    revision: Revision = field(default_factory=Revision)
    occlusion: OcclusionMap | None = None  # the photo side, last to arrive
    frames: tuple[np.ndarray, ...] = ()  # the replay animation (drawing + top results), one per stroke
    # the ranking after each stroke (None: no ink yet), cut to the grid's top-k: the main window's
    # results grid shows these in step with the canvas while the replay plays
    replay_results: tuple[RetrievalResult | None, ...] = ()


@dataclass(frozen=True)
class ContrastPayload:
    """Why result A and not result B, stamped with the revision it was computed for: per stroke
    first (a ``"partial"``), then per patch with both explanations (the final payload)."""

    a: RankedItem
    b: RankedItem
    contrast: StrokeContrast
    revision: Revision = field(default_factory=Revision)
    patches: PatchContrast | None = None
    explanation_a: Explanation | None = None
    explanation_b: Explanation | None = None


def sketch_key(sketch: StrokeSketch, background_key: str) -> str:
    """The sketch part of a ``Revision``: "" for a blank canvas, else a digest of what is retrieved."""
    if sketch.is_empty and not background_key:
        return ""
    return query_digest(sketch) + background_key


def background_key(background: np.ndarray | None) -> str:
    """A digest of an opened sketch image ("" without one); computed once when it is opened."""
    return "" if background is None else "|" + query_digest(background)


@dataclass
class AppState:
    """Everything the controller knows; the view renders it, the worker computes for it.

    Attributes:
        model: the loaded model; model_request: (name, weights) it was loaded from;
            loading: (name, weights) of a load in progress; device_before: the device to go
            back to if a device switch fails.
        gallery: the open gallery; gallery_request: a folder waiting to be indexed.
        sketch, background, background_key: the canvas: strokes and an opened sketch image.
        sketch_source: the sketch file (``"<strokes>"`` when drawn).
        drawing_file: (Quick, Draw! file, drawing index) on the canvas, if any.
        revision: what the screen must show results for.
        shown: the ranking in the grid and its revision (None = empty grid).
        shown_final: that ranking is the last stage (re-ranked, or stage 1 with depth 0).
        explained: the explanation on screen (None = none).
        pending_select: gallery index to select when results arrive (a reopened session).
        expected_sha: weights sha256 a reopened session was saved with.
        asked: the revision each lane's latest request was made for (an error result carries no
            stamp of its own, so it is matched against this).
    """

    model: ModelInfo | None = None
    model_request: tuple[str, str] = ("", "")
    loading: tuple[str, str] = ("", "")
    device_before: str | None = None
    gallery: GalleryInfo | None = None
    gallery_request: str = ""
    sketch: StrokeSketch = field(default_factory=lambda: StrokeSketch((), CANVAS_SIZE))
    background: np.ndarray | None = None
    background_key: str = ""
    sketch_source: str = "<strokes>"
    drawing_file: tuple[str, int] | None = None
    revision: Revision = field(default_factory=Revision)
    shown: Stamped[RetrievalResult] | None = None
    shown_final: bool = False
    explained: ExplainPayload | None = None
    pending_select: int | None = None
    expected_sha: str = ""
    asked: dict[str, Revision] = field(default_factory=dict)

    @property
    def result(self) -> RetrievalResult | None:
        """The ranking in the grid when it belongs to the current revision, else None."""
        if self.shown is None or self.shown.revision != self.revision:
            return None
        return self.shown.value

    def is_current(self, stamp: Revision) -> bool:
        return stamp == self.revision

    def with_sketch(self, sketch: StrokeSketch) -> Revision:
        """Set the strokes; returns the new revision."""
        self.sketch = sketch
        self.revision = replace(self.revision, sketch=sketch_key(sketch, self.background_key))
        return self.revision

    def with_background(self, background: np.ndarray | None, source: str) -> None:
        """Set (or remove, with None) the sketch image under the strokes."""
        self.background = background
        self.background_key = background_key(background)
        self.sketch_source = source if background is not None else "<strokes>"
        self.revision = replace(self.revision, sketch=sketch_key(self.sketch, self.background_key))

    def next_gallery(self) -> None:
        self.revision = replace(self.revision, gallery=self.revision.gallery + 1)

    def next_model(self) -> None:
        self.revision = replace(self.revision, model=self.revision.model + 1)
