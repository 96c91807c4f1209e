"""Image file reading: every decoder failure becomes an ``ImageReadError`` naming the file.

Transparent images (RGBA, LA, PA, or a palette with a transparency entry) are composited on
white, because sketches and product photos with an alpha channel are meant to be seen on white
and the model was trained on white backgrounds.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from zse_gui.errors import ImageReadError

__all__ = ["IMAGE_EXTENSIONS", "is_image_file", "read_image_rgb", "to_rgb_on_white"]

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


def read_image_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as RGB pixels, transparency composited on white.

    Args:
        path: image file (any format Pillow decodes; see ``IMAGE_EXTENSIONS`` for gallery scans).

    Returns:
        [H, W, 3] uint8 RGB array (a fresh, writable copy).

    Raises:
        ImageReadError: the file is missing, not an image, truncated or otherwise undecodable;
            the message names the file and the decoder's reason.
    """
    p = Path(path)
    try:
        # Decompression-bomb warnings would be errors under strict warning filters; treat a
        # huge image like any other unreadable file instead.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                img.load()  # decode now, so truncation is detected here and not later
                rgb = to_rgb_on_white(img)
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
        # SyntaxError or ValueError.
        raise ImageReadError(f"{p}: cannot decode image ({e}); the file may be truncated or corrupt") from e
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageReadError(f"{p}: decoded to an unusable shape {arr.shape}")
    return arr
