"""Image file reading: every decoder failure becomes an ``ImageReadError`` naming the file.

Transparent images (RGBA, LA, PA, or a palette with a transparency entry) are composited on
white, because sketches and product photos with an alpha channel are meant to be seen on white
and the model was trained on white backgrounds.

The EXIF orientation tag is applied, so a phone photo stored sideways is seen upright. The
released loaders (plain ``PIL.Image.open``) ignore it; for images without the tag, or with
orientation 1, which covers the benchmark datasets, the pixels are the same.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from zse_gui.errors import ImageReadError

__all__ = [
    "IMAGE_EXTENSIONS",
    "is_image_file",
    "read_image_or_placeholder",
    "read_image_rgb",
    "read_image_rgb_bounded",
    "to_rgb_on_white",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when the file name ends with one of ``IMAGE_EXTENSIONS`` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def to_rgb_on_white(img: Image.Image) -> Image.Image:
    """Convert any PIL image to RGB, compositing transparency on a white background."""
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode != "RGB":
        return img.convert("RGB")
    return img


_ORIENTATION = 0x0112  # EXIF tag


def _upright(img: Image.Image) -> tuple[Image.Image, bool]:
    """Apply the EXIF orientation (a malformed EXIF block is ignored, not fatal).

    Returns the upright image and whether width and height were swapped.
    """
    try:
        orientation = img.getexif().get(_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError, TypeError, KeyError, IndexError) as e:
        log.debug("ignoring unreadable EXIF data: %s", e)
        return img, False
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(img), orientation >= 5
    return img, False


def read_image_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as upright RGB pixels, transparency composited on white.

    Args:
        path: image file (any format Pillow decodes; see ``IMAGE_EXTENSIONS`` for gallery scans).

    Returns:
        [H, W, 3] uint8 RGB array (a fresh, writable copy), EXIF orientation applied.

    Raises:
        ImageReadError: the file is missing, not an image, truncated or otherwise undecodable;
            the message names the file and the decoder's reason.
    """
    return read_image_rgb_bounded(path, None)[0]


def read_image_or_placeholder(path: str | os.PathLike[str]) -> np.ndarray:
    """``read_image_rgb``, or a 32 x 32 grey tile where the file cannot be read (a gallery photo
    gone since indexing), for thumbnails that must not stop a figure."""
    try:
        return read_image_rgb(path)
    except ImageReadError:
        return np.full((32, 32, 3), 200, np.uint8)


def read_image_rgb_bounded(
    path: str | os.PathLike[str], max_side: int | None
) -> tuple[np.ndarray, tuple[int, int]]:
    """Like ``read_image_rgb``, but shrink images whose longer side exceeds ``max_side`` early.

    The shrink is by a whole factor ``f`` (box filter; JPEGs are decoded at the reduced scale
    directly), so a 9000 x 9000 scan costs a fraction of its full-size memory.

    Returns:
        ``(pixels, (width, height))``: [h, w, 3] uint8 pixels and the upright size of the
        image in the file (``width / w`` is the shrink factor along x).

    Raises:
        ImageReadError: as ``read_image_rgb``.
    """
    p = Path(path)
    try:
        # Decompression-bomb warnings would be errors under strict warning filters; treat a
        # huge image like any other unreadable file instead.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                full = img.size
                factor = 1 if max_side is None else -(-max(full) // int(max_side))
                if factor > 1 and img.format == "JPEG":
                    img.draft("RGB", (-(-full[0] // factor), -(-full[1] // factor)))
                img.load()  # decode now, so truncation is detected here and not later
                upright, swapped = _upright(img)
                size = (full[1], full[0]) if swapped else full
                rgb = to_rgb_on_white(upright)
                if factor > 1 and max_side is not None:
                    step = -(-max(rgb.size) // int(max_side))  # what is left after a JPEG draft
                    if step > 1:
                        rgb = rgb.reduce(step)
                arr = np.asarray(rgb, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise ImageReadError(f"{p}: file not found (check the path)") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{p}: not an image file Pillow can decode (is it really an image?)") from None
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as e:
        # Pillow reports truncated/corrupt data as OSError and some malformed headers as
        # SyntaxError or ValueError; an over-long file name is an OSError too.
        raise ImageReadError(
            f"{str(p)[:300]}: cannot decode image ({e}); the file may be truncated or corrupt"
        ) from e
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageReadError(f"{p}: decoded to an unusable shape {arr.shape}")
    return arr, size
