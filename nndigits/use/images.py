"""Image files in, MNIST-style 784-vectors out.

MNIST's digits were made like this (LeCun et al.): the ink of each digit is
cropped to its bounding box, scaled to fit a 20x20 box keeping the aspect
ratio (with antialiasing, hence the grey levels), and placed in a 28x28 frame
so that the centre of mass of the ink sits at the centre -- at index (14, 14):
the mean over the 10,000 test digits is (13.99, 14.01).  White ink on black.

``load_digit(path)`` does the same to any image file: grayscale, invert when
the paper is lighter than the ink, crop, scale, centre.  In a photo the paper is
not one grey: light falls off across the page.  So when the paper along the
border is uneven, its brightness is estimated everywhere (a morphological
closing, which removes strokes narrower than a quarter of the page, then a
blur) and divided out before the ink is found; a noise floor from Otsu's
threshold then clears the paper's texture.  Clean images, whose border is one
grey, are treated exactly as before.  ``load_ink(path)``
stops after the first part (an ink map of the whole image, white on black, in
[0, 1]) and ``to_mnist(ink)`` does the rest; ``nndigits.read`` uses them to cut
a line of digits into pieces.

Files are opened defensively: the pixel count is checked from the header
*before* any pixel is decoded (a small PNG can claim to be 100,000 x 100,000),
an image larger than ``MAX_SIDE`` on its long side is scaled down right after
decoding (a 20x20 digit needs no more), a strip longer than ``MAX_ASPECT``
times its width is refused from the header (a 1 x 50,000,000 PNG passes the
pixel count, but made the preprocessing ask for terabytes), and every
problem -- missing, empty, not an image, too big, too thin, damaged, blank --
is an ``ImageError`` whose one-line message names the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

MAX_PIXELS = 50_000_000  # 50 megapixels: far more than any photo of a digit needs
MAX_SIDE = 2048  # longer images are scaled down to this on their long side before any other work
MAX_ASPECT = 200  # a strip thinner than 1:200 holds no digit (a line of 100 digits is about 1:60)
BOX = 20  # MNIST: the ink fits a 20x20 box ...
FRAME = 28  # ... inside a 28x28 frame ...
CENTRE = 14  # ... with its centre of mass at index (14, 14)
MIN_CONTRAST = 0.08  # ink must differ from the paper by this much (of full scale) to count
INK_THRESHOLD = 0.2  # pixels above this fraction of the strongest ink define the bounding box
NOISE_FLOOR = 0.05  # ink below this fraction is set to 0 (paper texture, JPEG noise)
MIN_STROKE = 1.6  # thinnest stroke, in pixels of the 20x20 box, before thin lines are thickened
UNEVEN = 0.03  # the border's paper varies by more than this (40% of its values, paper side): uneven light
BACKGROUND_SIDE = 128  # the paper's brightness is estimated on a copy this size (long side)


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


def ink_map(gray: np.ndarray, name: str = "image") -> np.ndarray:
    """Ink as white on black in [0, 1]: inverted if the paper is light, paper level subtracted, scaled to max 1.

    The paper is whatever the border pixels mostly are (their median); if the
    border is mid-grey and undecided, the median of the whole image is used.
    Raises ``ImageError`` if nothing stands out from the paper (a blank image).
    """
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or gray.size == 0:
        raise ImageError(f"{name}: not a 2-D grayscale image")
    if not np.isfinite(gray).all():
        raise ImageError(f"{name}: the image has non-finite pixel values")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    if abs(paper - 0.5) < 0.1:  # border undecided: the whole image's median is the paper
        paper = float(np.median(gray))
    # How much the paper itself varies: the spread on the paper's side of the median only, so that strokes
    # running off the edge (a minority of the border, on the ink's side) do not look like uneven light.
    low, high = np.percentile(border, [50, 90] if paper > 0.5 else [10, 50])
    if high - low > UNEVEN and min(gray.shape) >= 8:  # the paper is not one grey: light it evenly first
        return _even_ink(gray, light_paper=paper > 0.5, name=name)
    ink = 1.0 - gray if paper > 0.5 else gray
    paper = 1.0 - paper if paper > 0.5 else paper
    ink = ink - paper
    top = float(ink.max())
    if top < MIN_CONTRAST:
        raise ImageError(f"{name}: the image has no ink (it is blank or a single uniform colour)")
    ink = np.clip(ink / top, 0.0, 1.0)
    ink[ink < NOISE_FLOOR] = 0.0
    return ink


def paper_level(page: np.ndarray) -> np.ndarray:
    """The brightness of light paper under each pixel of ``page`` (dark ink on light paper), same shape.

    A grey closing (max filter, then min filter) over a window a quarter of the
    page's short side wide removes every dark stroke narrower than that and
    keeps a brightness ramp as it is; a blur then smooths it.  Done on a copy at
    most ``BACKGROUND_SIDE`` pixels long, so it costs the same for any image.
    """
    from scipy import ndimage

    h, w = page.shape
    factor = max(1, -(-max(h, w) // BACKGROUND_SIDE))
    small = np.asarray(
        Image.fromarray(page, mode="F").resize((max(1, w // factor), max(1, h // factor)), Image.Resampling.BOX)
    )
    window = max(3, min(small.shape) // 4)
    # Padded by odd reflection, which continues a ramp past the edge: a plain edge mode would flatten the
    # closing near the edges (it is exact only where the whole window lies inside the page).
    pad = window
    padded = np.pad(small, pad, mode="reflect", reflect_type="odd") if min(small.shape) > pad else small
    level = ndimage.grey_closing(padded, size=(window, window), mode="nearest")
    level = ndimage.gaussian_filter(level, window / 4, mode="nearest")
    if padded is not small:
        level = level[pad:-pad, pad:-pad]
    return np.asarray(Image.fromarray(level.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR))


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the level that best splits ``values`` into two classes (largest between-class variance)."""
    counts, edges = np.histogram(values, bins=bins)
    mids = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts).astype(np.float64)
    mass = np.cumsum(counts * mids)
    total, whole = weight[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (whole * weight / total - mass) ** 2 / (weight * (total - weight))
    return float(mids[int(np.nanargmax(between[:-1]))]) if bins > 1 else float(mids[0])


def _even_ink(gray: np.ndarray, light_paper: bool, name: str) -> np.ndarray:
    """``ink_map`` for unevenly lit paper: the paper's brightness divided out, its texture cleared."""
    page = gray if light_paper else 1.0 - gray  # dark ink on light paper, either way
    level = np.maximum(paper_level(page), 1e-3)
    # Light multiplies: a pixel is (light x reflectance), so ink = 1 - page / paper is the same under any light.
    ink = np.clip(1.0 - page / level, 0.0, 1.0) if light_paper else np.clip(level - page, 0.0, 1.0)
    top = float(ink.max())
    if top < MIN_CONTRAST:
        raise ImageError(f"{name}: the image has no ink (it is blank or a single uniform colour)")
    # The noise floor: what the paper class (below Otsu's threshold) reaches, median + 5 robust sigmas.
    rest = ink[ink < otsu(ink)]
    middle = float(np.median(rest)) if rest.size else 0.0
    floor = middle + 5 * 1.4826 * float(np.median(np.abs(rest - middle))) if rest.size else 0.0
    floor = min(floor, 0.5 * top)
    ink = np.clip((ink - floor) / (top - floor), 0.0, 1.0)
    ink[ink < NOISE_FLOOR] = 0.0
    return _without_specks(ink).astype(np.float32)


def _without_specks(ink: np.ndarray, share: float = 0.02, margin: int = 2) -> np.ndarray:
    """``ink`` keeping only the strokes that carry at least ``share`` of the heaviest one's ink.

    A speck of noise or dirt far from the digit would otherwise stretch the box the digit is cropped to.
    """
    from scipy import ndimage

    mask = ink > INK_THRESHOLD * float(ink.max())
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count <= 1:
        return ink
    mass = ndimage.sum_labels(ink, labels, index=np.arange(1, count + 1))
    keep = np.zeros(count + 1, dtype=bool)
    keep[1:] = mass >= share * mass.max()
    near = ndimage.binary_dilation(keep[labels], iterations=margin)  # with the faint edge of each stroke
    return np.where(near, ink, 0.0)


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
