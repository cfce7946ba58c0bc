"""Image files in, MNIST-style 784-vectors out.

MNIST's digits were made like this (LeCun et al.): the ink of each digit is
cropped to its bounding box, scaled to fit a 20x20 box keeping the aspect
ratio (with antialiasing, hence the grey levels), and placed in a 28x28 frame
so that the centre of mass of the ink sits at the centre -- at index (14, 14):
the mean over the 10,000 test digits is (13.99, 14.01).  White ink on black.

``load_digit(path)`` does the same to any image file: open it defensively and
take its brightness (``image_files.py``), find the ink -- grayscale, inverted
when the paper is lighter than the ink, unevenly lit paper evened out
(``ink.py``) -- then crop, scale and centre (here).  ``load_ink(path)`` stops
after the first part (an ink map of the whole image, white on black, in
[0, 1]) and ``to_mnist(ink)`` does the rest; ``nndigits.read`` uses them to cut
a line of digits into pieces.  Every problem is an ``ImageError`` whose
one-line message names the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .image_files import MAX_PIXELS, ImageError, gray_levels, open_image
from .ink import INK_THRESHOLD, ink_map

BOX = 20  # MNIST: the ink fits a 20x20 box ...
FRAME = 28  # ... inside a 28x28 frame ...
CENTRE = 14  # ... with its centre of mass at index (14, 14)
MIN_STROKE = 1.6  # thinnest stroke, in pixels of the 20x20 box, before thin lines are thickened


def load_ink(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The ink map (white on black, float32 in [0, 1]) of the image file at ``path``."""
    return ink_map(gray_levels(open_image(path, max_pixels)), name=str(path))


def ink_box(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), half-open, of the pixels above ``threshold`` x max; ``None`` if there are none."""
    top = float(ink.max()) if ink.size else 0.0
    if top <= 0:
        return None
    mask = ink > threshold * top
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _stroke_width(mask: np.ndarray) -> float:
    """Rough stroke width in pixels: a stroke of width w and length L has area wL and perimeter about 2L."""
    area = float(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    edges = np.count_nonzero(padded[1:, :] != padded[:-1, :]) + np.count_nonzero(padded[:, 1:] != padded[:, :-1])
    return 2.0 * area / max(edges, 1)  # edges counts both sides of each stroke, in unit steps


def to_mnist(ink: np.ndarray, name: str = "image") -> np.ndarray:
    """An ink map (white on black) as MNIST would have it: float32 (784,) in [0, 1], 20x20 box, centred by mass."""
    ink = np.asarray(ink, dtype=np.float32)
    box = ink_box(ink)
    if box is None:
        raise ImageError(f"{name}: the image has no ink (it is blank or a single uniform colour)")
    top, bottom, left, right = box
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    scale = BOX / max(h, w)
    # A thin pen line on a big image would shrink to a faint hairline.  So when the strokes would
    # come out thinner than MIN_STROKE pixels: max-pool blocks of b x b pixels (down to about twice
    # the final size; no stroke is lost), widen the strokes there with a small max filter, and
    # crop again -- the strokes in the 20x20 box then come out about as wide as MNIST's.
    width = _stroke_width(crop > INK_THRESHOLD * float(crop.max())) if scale < 1.0 else 0.0
    if 0 < width * scale < MIN_STROKE:
        block = max(1, int(1.0 / (2 * scale)))
        ph, pw = -(-h // block) * block, -(-w // block) * block
        padded = np.zeros((ph, pw), dtype=np.float32)
        padded[:h, :w] = crop
        pooled = padded.reshape(ph // block, block, pw // block, block).max(axis=(1, 3))
        grow = int(np.ceil(MIN_STROKE / (scale * block) - max(1.0, width / block)))
        if grow >= 1:
            size = grow + 1 if grow % 2 == 0 else grow + 2  # odd, and at least grow + 1
            pooled = np.asarray(Image.fromarray(np.pad(pooled, size), mode="F").filter(ImageFilter.MaxFilter(size)))
        box = ink_box(pooled)
        if box is None:  # cannot happen: max-pooling keeps every stroke
            raise ImageError(f"{name}: the image has no ink (it is blank or a single uniform colour)")
        top, bottom, left, right = box
        crop = pooled[top:bottom, left:right]
        h, w = crop.shape
        scale = BOX / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = Image.fromarray(np.ascontiguousarray(crop), mode="F").resize(
        (new_w, new_h), Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BILINEAR
    )
    small = np.clip(np.asarray(resized, dtype=np.float32), 0.0, None)
    peak = float(small.max())
    if peak <= 0:
        raise ImageError(f"{name}: the image has no ink (it is blank or a single uniform colour)")
    small = np.minimum(small / peak, 1.0)
    mass = small.sum()
    cy = float((small.sum(axis=1) * np.arange(new_h)).sum() / mass)
    cx = float((small.sum(axis=0) * np.arange(new_w)).sum() / mass)
    # Put the centre of mass on (14, 14), but never push ink out of the frame.
    y0 = min(max(int(round(CENTRE - cy)), 0), FRAME - new_h)
    x0 = min(max(int(round(CENTRE - cx)), 0), FRAME - new_w)
    out = np.zeros((FRAME, FRAME), dtype=np.float32)
    out[y0 : y0 + new_h, x0 : x0 + new_w] = small
    return out.reshape(-1)


def load_digit(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The image file at ``path`` preprocessed like MNIST: float32 (784,) in [0, 1]; ``ImageError`` if unusable."""
    return to_mnist(load_ink(path, max_pixels), name=str(path))


def save_mnist_png(x: np.ndarray, path: str | os.PathLike, scale: int = 1) -> Path:
    """Save the 28x28 image the network sees (784 values in [0, 1], white ink on black) as a grey PNG.

    ``scale`` enlarges each pixel to scale x scale (nearest neighbour) for viewing.  The file is written
    atomically (a temporary name, then a rename), so a reader never sees half a PNG.
    """
    import io

    from ..learn.atomic import write_atomic

    a = np.asarray(x, dtype=np.float32).reshape(FRAME, FRAME)
    pixels = np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)
    if scale > 1:
        pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    write_atomic(path, buffer.getvalue())
    return Path(path)


def ascii_art(x: np.ndarray, width: int = FRAME) -> str:
    """A 28x28 image as text, to see what the network sees."""
    shades = " .:-=+*#%@"
    rows = np.asarray(x, dtype=np.float32).reshape(-1, width)
    return "\n".join("".join(shades[min(int(v * len(shades)), len(shades) - 1)] for v in row) for row in rows)
