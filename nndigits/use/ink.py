"""From brightness to ink: white ink on black in [0, 1], whatever the paper and the light.

Invert when the paper is lighter than the ink, subtract the paper.  In a photo the paper is not one grey:
light falls off across the page.  So when the paper along the border is uneven, its brightness is
estimated everywhere (a morphological closing, which removes strokes narrower than a quarter of the page,
then a blur) and divided out before the ink is found; a noise floor from Otsu's threshold then clears the
paper's texture.  Clean images, whose border is one grey, are treated exactly as before.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .image_files import MIN_CONTRAST, ImageError

INK_THRESHOLD = 0.2  # pixels above this fraction of the strongest ink define the bounding box
NOISE_FLOOR = 0.05  # ink below this fraction is set to 0 (paper texture, JPEG noise)
UNEVEN = 0.03  # the border's paper varies by more than this (40% of its values, paper side): uneven light
BACKGROUND_SIDE = 128  # the paper's brightness is estimated on a copy this size (long side)


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
