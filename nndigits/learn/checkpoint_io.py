"""Lightning's checkpoint writer, made atomic: the one piece of checkpointing that needs Lightning.

Kept apart from ``checkpoints.py`` so that reading a checkpoint imports no Lightning (the web app and the API
read with torch alone; ``predict`` and ``read`` without torch): importing Lightning costs seconds per command.
"""

from __future__ import annotations

import io

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from .atomic import write_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, but write-to-temp-then-rename: a failed write keeps the old file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomic(path, buffer.getbuffer())
