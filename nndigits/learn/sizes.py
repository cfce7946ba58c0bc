"""A network's layer sizes, checked: plain Python, so that reading a checkpoint without torch can check them too."""

from __future__ import annotations

from collections.abc import Sequence


def check_sizes(sizes: Sequence[int]) -> list[int]:
    """Return ``sizes`` as a list, or raise ``ValueError`` saying what is wrong."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"a network needs at least an input and an output layer, got sizes {sizes}")
    if any(s < 1 for s in sizes):
        raise ValueError(f"every layer needs at least one neuron, got sizes {sizes}")
    return sizes
