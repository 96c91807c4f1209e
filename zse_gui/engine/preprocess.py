"""Sketch and photo preprocessing, as the released model saw its inputs (reference section 1.2).

* **Sketch**: ink = pixels with R + G + B <= 300; crop to the ink bounding box padded by 10 px
  (clipped to the image); aspect-preserving cv2 bilinear resize so the longer side is S (the
  shorter side truncated with ``int()``); pad the short side to a square with the image's maximum
  value (white), centred, the extra pixel on the second side.
* **Photo**: PIL square resize to S x S, bicubic (aspect not kept), RGB, transparency on white.

Both are then scaled to [0, 1] and normalised with the config's mean/std. Each result carries an
``ImageFrame`` from model pixels to original pixels (canvas pixels for stroke sketches).

Departure from the released loader: a sketch image whose longer side exceeds
``SKETCH_MAX_SIDE`` is first shrunk by a whole factor (box filter) so that a 9000 x 9000 scan
costs about as much as a 2000 x 2000 one; the frame still maps to the original pixels.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from PIL import Image

from zse_gui.data.imageio import read_image_rgb, read_image_rgb_bounded
from zse_gui.errors import ImageReadError, InvalidSketchError
from zse_gui.results import ImageFrame, PreparedImage
from zse_gui.sketch import INK_THRESHOLD, StrokeSketch, ink_mask, rasterize_strokes
from zse_gui.sketch.raster import validate_strokes

__all__ = [
    "CROP_PADDING",
    "normalize",
    "prepare_photo",
    "prepare_sketch",
    "PreprocessConfig",
    "SKETCH_MAX_SIDE",
]

log = logging.getLogger(__name__)

CROP_PADDING = 10  # pixels of padding around the ink bounding box
SKETCH_MAX_SIDE = 2048  # larger sketch images are shrunk first (datasets: 256 to 1111 pixels)


class PreprocessConfig(Protocol):
    """What preprocessing needs from a model config (``ZseConfig`` satisfies it)."""

    @property
    def img_size(self) -> int: ...

    @property
    def mean(self) -> tuple[float, float, float]: ...

    @property
    def std(self) -> tuple[float, float, float]: ...


def normalize(display: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """[S, S, 3] uint8 RGB -> [3, S, S] float32 ``(x / 255 - mean) / std``."""
    x = display.astype(np.float32) / 255.0  # [S, S, 3]
    mean = np.asarray(cfg.mean, np.float32)
    std = np.asarray(cfg.std, np.float32)
    return np.ascontiguousarray(((x - mean) / std).transpose(2, 0, 1))  # [3, S, S]


def _as_rgb_array(arr: np.ndarray, what: str) -> np.ndarray:
    """Accept [H, W] grey, [H, W, 3] RGB or [H, W, 4] RGBA uint8; return [H, W, 3] uint8."""
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        raise InvalidSketchError(f"{what}: expected a uint8 image array, got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise InvalidSketchError(
            f"{what}: expected [H, W], [H, W, 3] or [H, W, 4] pixels, got shape {a.shape}"
        )
    if a.shape[2] == 4:
        # Composite RGBA on white, like files with transparency.
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        rgb = a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        a = np.round(rgb).astype(np.uint8)
    return np.ascontiguousarray(a)


def _shrink(rgb: np.ndarray) -> np.ndarray:
    """Shrink an array whose longer side exceeds ``SKETCH_MAX_SIDE`` by a whole factor (area)."""
    h, w = rgb.shape[:2]
    f = -(-max(h, w) // SKETCH_MAX_SIDE)
    if f <= 1:
        return rgb
    return np.asarray(cv2.resize(rgb, (-(-w // f), -(-h // f)), interpolation=cv2.INTER_AREA), np.uint8)


def _sketch_pixels(
    sketch: StrokeSketch | np.ndarray | str | Path,
) -> tuple[np.ndarray, str, tuple[int, int]]:
    """(RGB pixels of at most ``SKETCH_MAX_SIDE`` a side, source, original (width, height))."""
    if isinstance(sketch, StrokeSketch):
        try:
            strokes = [(s.points, s.width) for s in sketch.strokes]
        except (TypeError, AttributeError):
            raise InvalidSketchError("StrokeSketch.strokes must be a sequence of Stroke objects") from None
        validate_strokes(strokes, sketch.canvas_size)  # the one check at the boundary
        if sketch.is_empty:
            raise InvalidSketchError("the sketch has no strokes; draw something first")
        rgb = rasterize_strokes(strokes, sketch.canvas_size)
        return _shrink(rgb), "<strokes>", (rgb.shape[1], rgb.shape[0])
    if isinstance(sketch, (str, os.PathLike)):
        try:
            rgb, size = read_image_rgb_bounded(sketch, SKETCH_MAX_SIDE)
        except ImageReadError as e:
            raise InvalidSketchError(f"cannot read sketch image: {e}") from e
        return rgb, str(sketch), size
    if isinstance(sketch, np.ndarray):
        rgb = _as_rgb_array(sketch, "sketch array")
        return _shrink(rgb), "<array>", (rgb.shape[1], rgb.shape[0])
    raise InvalidSketchError(
        f"unsupported sketch type {type(sketch).__name__}; pass a StrokeSketch, an RGB array or an image path"
    )


def prepare_sketch(sketch: StrokeSketch | np.ndarray | str | Path, cfg: PreprocessConfig) -> PreparedImage:
    """Preprocess a sketch exactly like the released sketch loader.

    Args:
        sketch: strokes (rasterised on their canvas), a [H, W, 3|4] / [H, W] uint8 image, or a path.
        cfg: model config (``img_size`` S, ``mean``, ``std``).

    Returns:
        ``PreparedImage`` with ``tensor`` [3, S, S] float32, ``display`` [S, S, 3] uint8 and a
        frame mapping model pixels to canvas / original image pixels.

    Raises:
        InvalidSketchError: no strokes, no ink pixel (R + G + B <= 300), unreadable file or bad array.
    """
    rgb, source, (full_w, full_h) = _sketch_pixels(sketch)
    h, w = rgb.shape[:2]
    fx, fy = full_w / w, full_h / h  # 1 unless the sketch was shrunk
    ys, xs = np.nonzero(ink_mask(rgb))
    if len(xs) == 0:
        raise InvalidSketchError(
            f"sketch {source} has no ink: no pixel is dark enough (R+G+B <= {INK_THRESHOLD}); "
            "draw with a dark pen on a light background"
        )
    # Ink bounding box, padded and clipped; bounds inclusive.
    x0 = max(int(xs.min()) - CROP_PADDING, 0)
    x1 = min(int(xs.max()) + CROP_PADDING, w - 1)
    y0 = max(int(ys.min()) - CROP_PADDING, 0)
    y1 = min(int(ys.max()) + CROP_PADDING, h - 1)
    crop = rgb[y0 : y1 + 1, x0 : x1 + 1]
    ch, cw = crop.shape[:2]
    s = int(cfg.img_size)
    if ch >= cw:
        nh, nw = s, max(1, int(cw * s / ch))
    else:
        nw, nh = s, max(1, int(ch * s / cw))
    resized = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_LINEAR)
    fill = int(resized.max())
    pad_x, pad_y = s - nw, s - nh
    left, top = pad_x // 2, pad_y // 2  # the extra pixel goes to the second side
    display = np.full((s, s, 3), fill, dtype=np.uint8)
    display[top : top + nh, left : left + nw] = resized
    # Continuous coordinates: cv2's resize maps crop edges onto output edges with scale n/c per axis.
    sx, sy = cw / nw, ch / nh
    frame = ImageFrame(
        size=(full_w, full_h),
        scale=(sx * fx, sy * fy),
        offset=((x0 - left * sx) * fx, (y0 - top * sy) * fy),
    )
    return PreparedImage(tensor=normalize(display, cfg), display=display, frame=frame, source=source)


def prepare_photo(image: np.ndarray | str | Path, cfg: PreprocessConfig) -> PreparedImage:
    """Preprocess a photo exactly like the released photo loader (square bicubic resize).

    Args:
        image: a [H, W, 3|4] / [H, W] uint8 array or an image file path.
        cfg: model config (``img_size`` S, ``mean``, ``std``).

    Returns:
        ``PreparedImage``; the frame is ``original = model * (W / S, H / S)``.

    Raises:
        ImageReadError: the file cannot be decoded, or the array is not an image.
    """
    if isinstance(image, (str, os.PathLike)):
        rgb, source = read_image_rgb(image), str(image)
    elif isinstance(image, np.ndarray):
        try:
            rgb, source = _as_rgb_array(image, "photo array"), "<array>"
        except InvalidSketchError as e:
            raise ImageReadError(str(e)) from None
    else:
        raise ImageReadError(
            f"unsupported photo type {type(image).__name__}; pass an RGB array or an image path"
        )
    h, w = rgb.shape[:2]
    s = int(cfg.img_size)
    # Compositing happened before the resize; for RGB/L inputs this equals resize-then-convert.
    display = np.asarray(Image.fromarray(rgb).resize((s, s), Image.Resampling.BICUBIC), dtype=np.uint8)
    frame = ImageFrame(size=(w, h), scale=(w / s, h / s), offset=(0.0, 0.0))
    return PreparedImage(tensor=normalize(display, cfg), display=display.copy(), frame=frame, source=source)
