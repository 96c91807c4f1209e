"""``SbirData``: the sketches and photos of a dataset (or one part of it), with class labels.

Readers (``zse_gui.data.layouts``) build one from file lists, class folders or QuickDraw
ndjson files. It holds only references (paths, parsed drawings); pixels are read on demand with
``load_sketch`` / ``load_photo`` so a 100k-item dataset costs little memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zse_gui.data.imageio import read_image_rgb
from zse_gui.data.splits import ZeroShotSplit, canonical_class
from zse_gui.errors import DatasetError
from zse_gui.sketch import QuickDrawDrawing, quickdraw_to_strokes, rasterize_strokes

__all__ = ["Sample", "SbirData"]

log = logging.getLogger(__name__)

# Side of the canvas QuickDraw drawings are rasterised on, and their pen width there. The
# drawings live in a 0..255 box; the preprocessing crops to the ink afterwards anyway.
QUICKDRAW_CANVAS = 256
QUICKDRAW_PEN = 3.0


@dataclass(frozen=True)
class Sample:
    """One sketch or photo.

    Attributes:
        label: index into ``SbirData.classes``.
        path: the image file, or the ``.ndjson`` file a drawing came from.
        drawing: the parsed QuickDraw drawing (rendered from strokes on load), or None for files.
        line: line in the file list or ndjson file it came from (0 when not from a list).
    """

    label: int
    path: Path
    drawing: QuickDrawDrawing | None = None
    line: int = 0

    @property
    def where(self) -> str:
        """``path:line`` (or just the path) for messages."""
        return f"{self.path}:{self.line}" if self.line else str(self.path)


@dataclass(frozen=True)
class SbirData:
    """Sketches and photos labelled by class.

    Attributes:
        classes: class names; ``Sample.label`` indexes this tuple.
        sketches: sketch samples.
        photos: photo samples.
        name: a short description for logs and reports (e.g. ``"sketchy zeroshot1 test"``).
    """

    classes: tuple[str, ...]
    sketches: tuple[Sample, ...]
    photos: tuple[Sample, ...]
    name: str = ""
    _by_class: dict[str, dict[int, list[int]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        n = len(self.classes)
        for kind, items in (("sketch", self.sketches), ("photo", self.photos)):
            for s in items:
                if not 0 <= s.label < n:
                    raise DatasetError(f"{s.where}: {kind} label {s.label} is outside 0..{n - 1}")

    # ---- summaries ------------------------------------------------------------------------
    def sketch_labels(self) -> np.ndarray:
        """[N_sketch] int64 class index of every sketch."""
        return np.fromiter((s.label for s in self.sketches), dtype=np.int64, count=len(self.sketches))

    def photo_labels(self) -> np.ndarray:
        """[N_photo] int64 class index of every photo."""
        return np.fromiter((s.label for s in self.photos), dtype=np.int64, count=len(self.photos))

    def indices_by_class(self, kind: str) -> dict[int, list[int]]:
        """``{class index: [item indices]}`` for ``kind`` = ``"sketch"`` or ``"photo"`` (cached)."""
        if kind not in ("sketch", "photo"):
            raise ValueError(f"kind must be 'sketch' or 'photo', not {kind!r}")
        if kind not in self._by_class:
            items = self.sketches if kind == "sketch" else self.photos
            groups: dict[int, list[int]] = {}
            for i, s in enumerate(items):
                groups.setdefault(s.label, []).append(i)
            self._by_class[kind] = groups
        return self._by_class[kind]

    def summary(self) -> str:
        """One line: name, classes, sketches, photos."""
        n_sk, n_ph = len(self.sketches), len(self.photos)
        return f"{self.name or 'data'}: {len(self.classes)} classes, {n_sk} sketches, {n_ph} photos"

    # ---- pixels ---------------------------------------------------------------------------
    def load_sketch(self, index: int) -> np.ndarray:
        """Sketch ``index`` as [H, W, 3] uint8 RGB (QuickDraw drawings rendered black on white).

        Raises:
            ImageReadError: the file cannot be decoded.
        """
        return _load(self.sketches[index])

    def load_photo(self, index: int) -> np.ndarray:
        """Photo ``index`` as [H, W, 3] uint8 RGB.

        Raises:
            ImageReadError: the file cannot be decoded.
        """
        return _load(self.photos[index])

    # ---- derived sets ---------------------------------------------------------------------
    def select_classes(self, names: Iterable[str], name: str | None = None) -> SbirData:
        """Keep only the given classes (any spelling), relabelled 0..k-1 in the given order.

        Raises:
            DatasetError: a requested class is not in this data.
        """
        wanted = list(names)
        index = {canonical_class(c): i for i, c in enumerate(self.classes)}
        old: list[int] = []
        for c in wanted:
            key = canonical_class(c)
            if key not in index:
                raise DatasetError(
                    f"class {c!r} is not in {self.name or 'the data'}; known: {_some(self.classes)}"
                )
            old.append(index[key])
        remap = {o: n for n, o in enumerate(old)}

        def keep(items: Sequence[Sample]) -> tuple[Sample, ...]:
            return tuple(Sample(remap[s.label], s.path, s.drawing, s.line) for s in items if s.label in remap)

        return SbirData(
            tuple(self.classes[o] for o in old),
            keep(self.sketches),
            keep(self.photos),
            name if name is not None else self.name,
        )

    def split(self, split: ZeroShotSplit, strict: bool = True) -> tuple[SbirData, SbirData]:
        """(seen part for training, unseen part for testing) under a zero-shot split.

        Raises:
            DatasetError: ``strict`` and an unseen class of the split is missing here.
        """
        seen, unseen = split.partition(self.classes, strict=strict)
        base = self.name or "data"
        return (
            self.select_classes(seen, f"{base} seen ({split.name})"),
            self.select_classes(unseen, f"{base} unseen ({split.name})"),
        )

    def subsample(self, sketch_stride: int = 1, photo_stride: int = 1) -> SbirData:
        """Every ``sketch_stride``-th sketch and ``photo_stride``-th photo (the release's quick
        validation sets use strides 20/10 on Sketchy, 3/20 on TU-Berlin, 120/30 on QuickDraw)."""
        if sketch_stride < 1 or photo_stride < 1:
            raise ValueError("strides must be >= 1")
        return SbirData(
            self.classes,
            self.sketches[::sketch_stride],
            self.photos[::photo_stride],
            f"{self.name} (every {sketch_stride}th sketch, {photo_stride}th photo)",
        )

    def trainable_classes(self) -> list[int]:
        """Class indices with at least one sketch and one photo (what the triplet sampler needs)."""
        sk, ph = self.indices_by_class("sketch"), self.indices_by_class("photo")
        return sorted(c for c in sk if c in ph)


def _some(names: Sequence[str], n: int = 8) -> str:
    head = ", ".join(names[:n])
    return head + (f", ... ({len(names)} in all)" if len(names) > n else "")


def _load(sample: Sample) -> np.ndarray:
    if sample.drawing is not None:
        strokes = quickdraw_to_strokes(sample.drawing, pen_width=QUICKDRAW_PEN, canvas=QUICKDRAW_CANVAS)
        return rasterize_strokes(strokes, (QUICKDRAW_CANVAS, QUICKDRAW_CANVAS))
    return read_image_rgb(sample.path)
