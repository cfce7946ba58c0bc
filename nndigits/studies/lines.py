"""Synthetic lines of MNIST digits (gaps, touching, overlapping, different sizes) to test reading on."""

from __future__ import annotations

import numpy as np

STYLES = ("gaps", "touching", "overlap", "sizes")


def compose_line(digits: np.ndarray, style: str, rng: np.random.Generator, margin: int = 4) -> np.ndarray:
    """A line (white on black, float32 in [0, 1]) made of MNIST digits (n, 784) or (n, 28, 28), left to right.

    ``style``: ``"gaps"`` (uneven gaps of 2-12 pixels between the digits' ink),
    ``"touching"`` (no gap: each digit's ink starts in the column after the last one's ends),
    ``"overlap"`` (the next digit starts 1-4 columns, but at most a third of the narrower
    digit's width, before the last one ends; overlapping strokes combine by pixel maximum),
    ``"sizes"`` (each digit scaled by 0.5-1.0, bottoms aligned to within 2 pixels, gaps of 1-6 pixels).
    """
    from PIL import Image

    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    digits = np.asarray(digits, dtype=np.float32).reshape(-1, 28, 28)
    pieces = []
    for d in digits:
        if style == "sizes":
            s = rng.uniform(0.5, 1.0)
            size = max(8, round(28 * s))
            d = np.clip(np.asarray(Image.fromarray(d, mode="F").resize((size, size), Image.Resampling.LANCZOS)), 0, 1)
        cols = np.flatnonzero(d.max(axis=0) > 0)
        pieces.append(d[:, cols[0] : cols[-1] + 1] if len(cols) else d)
    gap = {
        "gaps": lambda: rng.integers(2, 13),
        "touching": lambda: 0,
        "overlap": lambda: -rng.integers(1, 5),
        "sizes": lambda: rng.integers(1, 7),
    }[style]
    lefts, x = [], 0
    for i, p in enumerate(pieces):
        if i:
            g = int(gap())
            if g < 0:  # overlap at most a third of the narrower digit: a "1" is never hidden inside its neighbour
                g = -min(-g, min(pieces[i - 1].shape[1], p.shape[1]) // 3)
            x += g
        lefts.append(x)
        x += p.shape[1]
    height = 28 + 4
    width = max(l + p.shape[1] for l, p in zip(lefts, pieces))
    canvas = np.zeros((height + 2 * margin, width + 2 * margin), dtype=np.float32)
    for left, p in zip(lefts, pieces):
        top = margin + (height - p.shape[0]) - 2 - (int(rng.integers(-2, 3)) if style == "sizes" else 0)
        region = canvas[top : top + p.shape[0], margin + left : margin + left + p.shape[1]]
        np.maximum(region, p, out=region)
    return canvas


def to_png(ink: np.ndarray, path, dark_on_light: bool = False) -> None:
    """Save an ink map as an 8-bit grayscale PNG (white ink on black, or the other way round), atomically."""
    import io

    from PIL import Image

    from ..learn.atomic import write_atomic

    pixels = np.round(np.clip(ink, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(255 - pixels if dark_on_light else pixels, mode="L").save(buffer, format="PNG", optimize=True)
    write_atomic(path, buffer.getvalue())
