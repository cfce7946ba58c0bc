"""Checkpoints with torch: the trained ``SigmoidNetwork`` for training, the web app and the Python API.

A checkpoint is Lightning's ``.ckpt`` of a ``book.BookNetwork``, written atomically during training
(``checkpoint_io.AtomicCheckpointIO``: temp file, then rename).  Everything that needs no torch -- the
checks before anything is allocated, the torch-free reader ``predict`` and ``read`` use, finding the newest
checkpoint -- is ``core/checkpoints.py``; here ``torch.load(weights_only=True)`` unpacks the checked archive
(it never runs code from the file) into torch tensors.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..core import checkpoints as core
from ..core.checkpoints import CheckpointError, network_state, not_loadable
from .network import SigmoidNetwork

__all__ = ["CheckpointError", "load_network", "load_with_torch", "read_checkpoint"]


def load_with_torch(path: Path):
    """The checked archive at ``path`` through torch's ``weights_only`` loader; ``CheckpointError`` if it refuses."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors, zip errors, unsafe globals, truncation...
        lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line.strip()]
        # An unsafe global: the line naming it, not torch's opening advice to load the file with weights_only=False
        detail = next((line for line in lines if "GLOBAL" in line), lines[0] if lines else "")
        reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        raise CheckpointError(f"{path} is not a readable nndigits checkpoint ({reason[:200]})") from None


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's dict with torch tensors (``core.checkpoints.read_checkpoint``'s checks first)."""
    return core.read_checkpoint(path, load_with_torch)


def load_network(path: str | os.PathLike) -> SigmoidNetwork:
    """The trained ``SigmoidNetwork`` in a checkpoint written by ``python -m nndigits.train``."""
    sizes, state = network_state(read_checkpoint(path), path)  # the network is no bigger than the file's tensors
    try:
        net = SigmoidNetwork(sizes)
        net.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as error:
        raise not_loadable(path, error) from None
    return net.eval()
