"""Reading a sketch file of any kind the app and the tools accept, into one ``LoadedSketch``.

* stroke JSON (the app's own files, or the strokes of a session file): vector strokes;
* a Quick, Draw! simplified ``.ndjson`` file: one of its drawings, as vector strokes;
* an image (dark strokes on a light background): pixels, shown under strokes drawn over it.

The app fits what it loads into its canvas (``canvas_size``); the command-line tools keep each
drawing's own canvas (``canvas_size=None``). Both turn a ``LoadedSketch`` into the engine's query
with ``LoadedSketch.query()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from zse_gui.data.imageio import read_image_rgb
from zse_gui.errors import DatasetError, ImageReadError, InputFileError, InvalidSketchError
from zse_gui.sketch import (
    INK_THRESHOLD,
    StrokeSketch,
    fit_sketch,
    has_ink,
    quickdraw_sketch,
    read_quickdraw_drawing,
    read_stroke_file,
    sketch_query,
)

__all__ = ["LoadedSketch", "QUICKDRAW_SUFFIXES", "fit_image", "load_sketch_file", "require_ink"]

QUICKDRAW_SUFFIXES = (".ndjson", ".jsonl")
STROKE_SUFFIXES = (".json",)


@dataclass(frozen=True, eq=False)
class LoadedSketch:
    """What a sketch file gave.

    Attributes:
        sketch: vector strokes (none for an image file).
        background: [H, W, 3] uint8 sketch image (an image file), else None.
        source: the file, with ``#N`` for drawing N of a Quick, Draw! file.
        label: the drawing's category (Quick, Draw! ``word``), else None.
        drawing: index of the drawing in a Quick, Draw! file, else None.
        has_next: that file holds another drawing after this one.
    """

    sketch: StrokeSketch
    background: np.ndarray | None
    source: str
    label: str | None = None
    drawing: int | None = None
    has_next: bool = False

    def query(self) -> StrokeSketch | np.ndarray | None:
        """The engine's query: strokes, the image (with any strokes drawn in), or None if blank."""
        return sketch_query(self.sketch, self.background)


def fit_image(rgb: np.ndarray, canvas_size: tuple[int, int]) -> np.ndarray:
    """Scale an image into the canvas keeping its aspect, centred on white: [H, W, 3] uint8."""
    w, h = canvas_size
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    scale = min(w / img.width, h / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.LANCZOS)
    out = Image.new("RGB", (w, h), (255, 255, 255))
    out.paste(img, ((w - size[0]) // 2, (h - size[1]) // 2))
    return np.asarray(out, dtype=np.uint8)


def _check_path(p: Path) -> None:
    try:
        if p.is_dir():
            raise InputFileError(f"{p} is a folder, not a sketch file; name an image, .json or .ndjson file")
        if not p.exists():
            raise InputFileError(f"sketch file {p} not found (check the path)")
    except OSError as exc:  # a name too long for the file system, a broken mount, ...
        raise InputFileError(f"cannot open sketch file {p}: {exc.strerror or exc}") from None


def load_sketch_file(
    path: str | os.PathLike[str],
    canvas_size: tuple[int, int] | None = None,
    pen_width: float = 3.0,
    drawing: int = 0,
) -> LoadedSketch:
    """Load a stroke JSON, drawing ``drawing`` (0-based) of a Quick, Draw! file, or a sketch image.

    Args:
        path: the file; its suffix decides how it is read (``.json``, ``.ndjson`` / ``.jsonl``,
            anything else is decoded as an image).
        canvas_size: fit the drawing (or image) into a canvas of this (width, height); None keeps
            a stroke file's canvas, a Quick, Draw! drawing's 256 x 256 box and an image's size.
        pen_width: pen width for Quick, Draw! strokes (they carry none), in pixels of the canvas.
        drawing: which drawing of a Quick, Draw! file.

    Raises:
        InputFileError: missing, a folder, unreadable, or not a sketch of the kind its name says.
        InvalidSketchError: a stroke file whose strokes are malformed.
    """
    p = Path(path)
    _check_path(p)
    suffix = p.suffix.lower()
    if suffix in STROKE_SUFFIXES:
        sk = read_stroke_file(p)
        if canvas_size is not None and sk.canvas_size != tuple(canvas_size):
            sk = fit_sketch(sk, canvas_size)
        return LoadedSketch(sk, None, str(p))
    if suffix in QUICKDRAW_SUFFIXES:
        try:
            d, has_next = read_quickdraw_drawing(p, drawing)
        except DatasetError as exc:
            raise InputFileError(str(exc)) from None
        sk = quickdraw_sketch(d, pen_width)
        if canvas_size is not None:
            # the doodle keeps the chosen pen: only its points are scaled
            sk = fit_sketch(sk, canvas_size, scale_width=False)
        return LoadedSketch(sk, None, f"{p}#{drawing}", d.word, drawing, has_next)
    try:
        rgb = read_image_rgb(p)
    except ImageReadError as exc:
        raise InputFileError(f"cannot read sketch {p}: {exc}") from None
    size = canvas_size if canvas_size is not None else (rgb.shape[1], rgb.shape[0])
    background = fit_image(rgb, size) if canvas_size is not None else rgb
    return LoadedSketch(StrokeSketch(strokes=(), canvas_size=size), background, str(p))


def require_ink(loaded: LoadedSketch) -> StrokeSketch | np.ndarray:
    """The loaded sketch's query, or ``InvalidSketchError`` when it has nothing to retrieve with."""
    query = loaded.query()
    if query is None or not has_ink(query):
        what = (
            "no strokes"
            if loaded.background is None
            else f"no ink (no pixel is dark enough: R+G+B <= {INK_THRESHOLD}); draw with dark strokes"
        )
        raise InvalidSketchError(f"sketch {loaded.source} is empty: it has {what}")
    return query
