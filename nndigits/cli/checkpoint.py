"""The network ``predict`` and ``read`` answer with: a checkpoint read without torch, or one line saying why not.

``import torch`` alone costs seconds of the ``predict`` of one image, so the checkpoint is read by
``core/checkpoints.py`` into the book's NumPy network.  A file that reader does not know (none that this
package writes) goes to torch's ``weights_only`` loader: the one import of torch on ``predict``'s road,
which the import-linter contract of pyproject.toml names and allows alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..chapter import DEFAULT_LOGDIR
from .errors import Failure

if TYPE_CHECKING:  # NumPy is imported when a checkpoint is read, not for --help
    from ..core.scratch import Network


def torch_reads(path: Path):
    """An archive ``core/checkpoint_numpy.py`` does not know, through torch's loader (imported only then)."""
    from ..learn.checkpoints import load_with_torch

    return load_with_torch(path)


def load_reading_network(path=None, logdir=None) -> tuple[Network, Path]:
    """(the network, its checkpoint's path): the checkpoint at ``path`` (the newest under ``logdir`` if None) as
    the book's NumPy ``Network``, read without torch, once it reads 784 pixels into 10 digits.
    ``CheckpointError`` (or ``OSError``, a file that is there but cannot be read) otherwise."""
    from ..core.checkpoints import check_reads_digits, load_numpy_network, newest_checkpoint

    path = Path(newest_checkpoint(logdir or DEFAULT_LOGDIR) if path is None else path)
    net = load_numpy_network(path, fallback=torch_reads)
    check_reads_digits(net.sizes, path)
    return net, path


def load_checkpoint_or_fail(path=None, logdir=None) -> Network:
    """``load_reading_network``'s network, or ``Failure`` saying why not (for ``predict`` and ``read``)."""
    from ..core.checkpoints import CheckpointError

    try:
        return load_reading_network(path, logdir)[0]
    except CheckpointError as error:
        raise Failure(error) from None
    except OSError as error:  # e.g. permission denied: the file is there but cannot be read
        raise Failure(f"cannot read checkpoint {path}: {error.strerror or error}") from None
