"""Checkpoints read without torch: checked before anything is allocated, found by default.

A checkpoint is Lightning's ``.ckpt`` of a ``learn.book.BookNetwork``, a zip archive written by
``torch.save``.  A checkpoint is data, and loading one never runs code from the file.  Here it is checked
(a zip archive that unpacks to a sane size) and unpacked by ``checkpoint_numpy`` into NumPy arrays, so that
``predict`` and ``read`` answer with the book's NumPy network (``scratch.Network``) without importing torch.
``learn/checkpoints.py`` reads the same files with torch's ``weights_only`` loader for training and the web
app, through ``read_checkpoint(path, load)`` here.  Either way, what a checkpoint claims is checked against
what it holds before a network is built (``network_state``): the layer sizes in its hyperparameters must be
the shapes of the tensors in its state_dict -- so a file of a few KB cannot make us allocate gigabytes.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..chapter import DEFAULT_LOGDIR, INPUTS, OUTPUTS, check_sizes
from .checkpoint_numpy import CheckpointError, Unsupported, load_archive
from .machine import available_memory
from .scratch import Network

MAX_UNPACKED = 2**34  # 16 GiB: no checkpoint of a network this package trains comes near it

Loader = Callable[[Path], object]  # reads a checked archive into the checkpoint's dict

__all__ = ["CheckpointError", "load_numpy_network", "network_state", "newest_checkpoint", "read_checkpoint"]


def _check_archive(path: Path) -> None:
    """``CheckpointError`` unless ``path`` is a zip archive (what torch.save writes) that unpacks to a sane size."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise CheckpointError(f"{path} is not a readable nndigits checkpoint (damaged archive: {error})") from None
    limit = min(MAX_UNPACKED, available_memory() // 2)
    if unpacked > limit:
        raise CheckpointError(
            f"{path} claims to unpack to {unpacked / 2**30:.3g} GiB, more than the {limit / 2**30:.3g} GiB "
            "that may be used; it is not a checkpoint of a network this package trains"
        )


def read_checkpoint(path: str | os.PathLike, load: Loader | None = None) -> dict:
    """The checkpoint's dict, loaded without running code from it; ``CheckpointError`` if it is not one of ours.

    ``load`` unpacks the archive once it is checked: ``read_numpy`` (NumPy arrays, no torch) unless given.
    """
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
    _check_archive(path)
    checkpoint = (load or read_numpy)(path)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint of an nndigits network")
    return checkpoint


def read_numpy(path: Path, fallback: Loader | None = None):
    """What ``checkpoint_numpy`` reads from ``path``; a file it does not know goes to ``fallback`` (torch's loader).

    Every checkpoint this package writes is read here; without a ``fallback``, any other is a ``CheckpointError``.
    """
    try:
        return load_archive(path)
    except Unsupported as why:
        if fallback is None:
            raise CheckpointError(f"{path} holds what only torch's loader reads ({str(why)[:200]})") from None
        return fallback(path)
    except CheckpointError as error:
        raise CheckpointError(f"{path} is not a readable nndigits checkpoint ({str(error)[:200]})") from None


def network_state(checkpoint: dict, path: str | os.PathLike = "checkpoint") -> tuple[list[int], dict]:
    """(sizes, the network's state_dict) once the hyperparameters' sizes are the tensors' shapes.

    Layer l's weight must be a (sizes[l+1], sizes[l]) tensor and its bias a sizes[l+1] vector, for every
    layer and no others: checked on the shapes alone, before anything the size of the network exists.
    The tensors may be torch's or NumPy's (anything with a ``.shape``).
    """
    try:
        sizes = check_sizes(checkpoint["hyper_parameters"]["sizes"])
        state = {k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")}
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise not_loadable(path, error) from None
    expected: dict[str, tuple[int, ...]] = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"layers.{l}.weight"] = (n_out, n_in)
        expected[f"layers.{l}.bias"] = (n_out,)
    found = {k: _shape(v) for k, v in state.items()}
    expanded = [k for k, v in state.items() if not _holds_its_elements(v)]
    claim = sizes if len(sizes) <= 8 else str(sizes[:8])[:-1] + ", ...]"
    if found == expected and expanded:
        raise CheckpointError(
            f"{path} claims a network of sizes {claim} "
            f"but {expanded[0]} is a view of far fewer numbers than its shape (not weights this package saved)"
        )
    if found != expected:
        wrong = sorted(set(expected) ^ set(found)) or [k for k in expected if expected[k] != found[k]]
        detail = ", ".join(f"{k}: {found.get(k)} (sizes say {expected.get(k)})" for k in wrong[:3])
        raise CheckpointError(f"{path} claims a network of sizes {claim} but its weights do not match ({detail})")
    return sizes, state


def not_loadable(path, error: Exception) -> CheckpointError:
    """The one-line error for a checkpoint whose contents cannot make a network: the first line of the reason."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return CheckpointError(f"{path} does not hold a network this code can load ({reason[:200]})")


def _holds_its_elements(value) -> bool:
    """False for a torch tensor that is a stride-0 view of a smaller storage: a few bytes in the file that a
    network would copy out into as many weights as its shape says.  (NumPy arrays from ``checkpoint_numpy``
    are copies of what the file holds.)"""
    storage = getattr(value, "untyped_storage", None)
    return storage is None or storage().nbytes() >= value.numel() * value.element_size()


def _shape(value) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return tuple(shape) if isinstance(shape, tuple) else None  # torch.Size is a tuple


def load_numpy_network(path: str | os.PathLike, fallback: Loader | None = None) -> Network:
    """The trained network in a checkpoint as the book's NumPy ``Network`` (float64), read without torch.

    ``fallback`` reads a file ``checkpoint_numpy`` does not know (torch's loader; none this package writes).
    """
    sizes, state = network_state(read_checkpoint(path, lambda p: read_numpy(p, fallback)), path)
    layers = range(len(sizes) - 1)
    try:
        arrays = {k: _real_array(v, k) for k, v in state.items()}
        return Network(
            sizes, [arrays[f"layers.{l}.weight"] for l in layers], [arrays[f"layers.{l}.bias"] for l in layers]
        )
    except (TypeError, ValueError) as error:
        raise not_loadable(path, error) from None


def _real_array(value, name: str):
    """``value`` (a NumPy array, or a torch tensor from torch's loader) as an array of real numbers (bool, integer
    or floating point: what ``load_state_dict`` would copy into a float tensor), else ``ValueError``."""
    import numpy as np

    if not isinstance(value, np.ndarray):  # a torch tensor, from the fallback: converted by its own methods
        value = value.detach().cpu().numpy() if value.is_complex() else value.detach().cpu().double().numpy()
    if value.dtype.kind not in "biuf":
        raise ValueError(f"{name} holds {value.dtype} numbers, not real ones")
    return value


def check_reads_digits(sizes, name) -> None:
    """``CheckpointError`` unless a network of ``sizes`` (from checkpoint ``name``) reads 784 pixels into 10 digits."""
    if sizes[0] != INPUTS or sizes[-1] != OUTPUTS:
        raise CheckpointError(
            f"{name} holds a network of sizes {sizes}; reading digits needs {INPUTS} inputs and {OUTPUTS} outputs"
        )


def newest_checkpoint(logdir: str | os.PathLike = DEFAULT_LOGDIR) -> Path:
    """The most recently written ``.ckpt`` under ``logdir``, or ``CheckpointError`` saying how to make one."""
    found = [p for p in Path(logdir).glob("**/*.ckpt") if p.is_file()]
    if not found:
        raise CheckpointError(
            f"no checkpoint under {logdir}/; train one first with `python -m nndigits.train` "
            "(or pass --checkpoint PATH)"
        )
    return max(found, key=lambda p: p.stat().st_mtime)
