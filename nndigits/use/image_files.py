"""Image files opened defensively, and their brightness: what any image becomes before its ink is found.

The pixel count is checked from the header *before* any pixel is decoded (a small PNG can claim to be
100,000 x 100,000), an image larger than ``MAX_SIDE`` on its long side is scaled down right after decoding
(a 20x20 digit needs no more), a strip longer than ``MAX_ASPECT`` times its width is refused from the header
(a 1 x 50,000,000 PNG passes the pixel count, but made the preprocessing ask for terabytes), and every
problem -- missing, empty, not an image, too big, too thin, damaged -- is an ``ImageError`` whose one-line
message names the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 50_000_000  # 50 megapixels: far more than any photo of a digit needs
MAX_SIDE = 2048  # longer images are scaled down to this on their long side before any other work
MAX_ASPECT = 200  # a strip thinner than 1:200 holds no digit (a line of 100 digits is about 1:60)
MIN_CONTRAST = 0.08  # ink must differ from the paper by this much (of full scale) to count


class ImageError(Exception):
    """An image file could not be used as a digit; the one-line message names the file and says why."""


def _one_line(text: object, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text[:limit]


def open_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The decoded image at ``path`` (first frame, EXIF orientation applied), or ``ImageError``."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ImageError(f"{path}: cannot read it ({_one_line(error.strerror or error)})") from None
    if size == 0:
        raise ImageError(f"{path}: the file is empty")
    try:
        with warnings.catch_warnings():
            # PIL warns (then errors) about decompression bombs by its own global limit; either is fatal here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)  # reads the header only
            width, height = img.size
            if width < 1 or height < 1:
                raise ImageError(f"{path}: the image has no pixels ({width}x{height})")
            if width * height > max_pixels:
                raise ImageError(
                    f"{path}: the image is {width}x{height} = {width * height / 1e6:.0f} megapixels, "
                    f"over the limit of {max_pixels / 1e6:.0f} (a decompression bomb?)"
                )
            if img.format == "JPEG":  # let the decoder scale down by up to 8x for free
                img.draft(img.mode, (MAX_SIDE, MAX_SIDE))
            if max(width, height) > MAX_ASPECT * min(width, height):
                raise ImageError(
                    f"{path}: the image is {width}x{height}, too thin and long to hold a digit "
                    f"(sides over {MAX_ASPECT}:1)"
                )
            img.load()  # now decode, knowing the size is sane
            picture = ImageOps.exif_transpose(_shrink(img))
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{path}: the image is too big to decode safely ({_one_line(error)})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (PIL cannot identify its format)") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as error:
        # truncated data, bad chunks, oversized text chunks, ...
        raise ImageError(
            f"{path}: the image is damaged or unsupported ({_one_line(error) or type(error).__name__})"
        ) from None
    return picture


def _shrink(img: Image.Image, side: int = MAX_SIDE) -> Image.Image:
    """``img`` reduced by a whole factor (box filter) so that its long side is at most ``side``."""
    factor = -(-max(img.size) // side)
    if factor <= 1:
        return img
    if img.mode not in ("L", "LA", "RGB", "RGBA", "I", "F", "La", "RGBa"):
        img = img.convert("RGBA" if "transparency" in img.info or img.mode in ("PA", "P") else "RGB")
    return img.reduce(factor)


def gray_levels(img: Image.Image) -> np.ndarray:
    """Brightness in [0, 1] as float32 (H, W); transparency is flattened onto a background that shows the ink."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = (0.0, 65535.0) if img.mode.startswith("I;16") else (float(a.min()), float(a.max()))
        return ((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)).astype(np.float32)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba, dtype=np.float32)[..., 3] / 255.0
        if alpha.min() < 1.0:
            gray = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
            # Flatten onto white paper; if that hides the ink (light ink drawn on transparency), onto black.
            on_white = gray * alpha + (1.0 - alpha)
            if on_white.max() - on_white.min() >= MIN_CONTRAST:
                return on_white
            return gray * alpha
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
