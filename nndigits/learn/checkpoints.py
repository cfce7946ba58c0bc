"""Checkpoints: written atomically, read safely, found by default.

A checkpoint is Lightning's ``.ckpt`` of a ``lit.BookNetwork``.  Writing goes
to a temporary name in the same folder and is renamed into place only when
complete, so an interrupted run never leaves a half-written checkpoint.
Reading uses ``torch.load(weights_only=True)``: a checkpoint is data, and
loading one never runs code from the file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from .atomic import write_atomic
from .network import SigmoidNetwork, check_sizes

DEFAULT_LOGDIR = "runs"  # where ``python -m nndigits.train`` writes unless told otherwise


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable, or not one of ours; the message says which."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, but write-to-temp-then-rename."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomic(path, buffer.getvalue())


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's dict, loaded without running code from it; ``CheckpointError`` if it is not one of ours."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive
            raise CheckpointError(f"{path} is not a checkpoint (not a file written by torch.save)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors, zip errors, unsafe globals, truncation...
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        raise CheckpointError(f"{path} is not a readable nndigits checkpoint ({reason[:200]})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint of an nndigits network")
    return checkpoint


def load_network(path: str | os.PathLike) -> SigmoidNetwork:
    """The trained ``SigmoidNetwork`` in a checkpoint written by ``python -m nndigits.train``."""
    checkpoint = read_checkpoint(path)
    try:
        sizes = check_sizes(checkpoint["hyper_parameters"]["sizes"])
        net = SigmoidNetwork(sizes)
        state = {k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")}
        net.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path} does not hold a network this code can load ({reason[:200]})") from None
    return net.eval()


def newest_checkpoint(logdir: str | os.PathLike = DEFAULT_LOGDIR) -> Path:
    """The most recently written ``.ckpt`` under ``logdir``, or ``CheckpointError`` saying how to make one."""
    found = [p for p in Path(logdir).glob("**/*.ckpt") if p.is_file()]
    if not found:
        raise CheckpointError(
            f"no checkpoint under {logdir}/; train one first with `python -m nndigits.train` "
            "(or pass --checkpoint PATH)"
        )
    return max(found, key=lambda p: p.stat().st_mtime)
