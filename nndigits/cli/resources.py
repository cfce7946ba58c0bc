"""What commands load: images (one bad image is one line, not the end), checkpoints, MNIST, a quiet Lightning.

torch and Lightning are imported only inside the functions (and not at all to load a checkpoint for ``predict``
and ``read``), so importing this module stays instant.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import Failure, UsageError, fail, os_message

MAX_IMAGES = 100_000  # per call of predict / read; more is a runaway glob


def check_image_count(images: Sequence[str]) -> None:
    if len(images) > MAX_IMAGES:
        raise UsageError(f"{len(images)} images in one call; at most {MAX_IMAGES} (split the list)")


def image_errors() -> tuple[type[BaseException], ...]:
    """What reading one image may raise that concerns that image alone (the other images are still read)."""
    from ..use.images import ImageError

    return (ImageError, OSError, ValueError, MemoryError)


def image_error_message(path, error: BaseException) -> str:
    if isinstance(error, OSError):
        return f"cannot read {path}: {error.strerror or error}"
    if isinstance(error, MemoryError):
        return f"{path} is too large to preprocess in the memory available"
    return str(error)


def for_each_image(prog: str, paths: Sequence[str], load: Callable, use: Callable) -> int:
    """``use(path, load(path))`` for every image in turn; one that cannot be read is one error line and the others
    go on.  The exit code: 1 if any image could not be read, else 0 (``use`` raises ``Failure`` to stop)."""
    bad = image_errors()
    failed = 0
    for path in paths:
        try:
            loaded = load(path)
        except bad as error:
            fail(prog, image_error_message(path, error))
            failed += 1
            continue
        use(path, loaded)
    return 1 if failed else 0


def load_checkpoint_or_fail(path=None, logdir=None):
    """The network of a checkpoint (the newest under ``logdir`` if ``path`` is None) that reads 784 pixels into
    10 digits, or ``Failure`` saying why not.  It is the book's NumPy ``Network``, read without torch (importing
    torch would cost seconds of the ``predict`` of one image)."""
    from ..learn.checkpoints import DEFAULT_LOGDIR, CheckpointError, load_numpy_network, newest_checkpoint

    try:
        path = newest_checkpoint(logdir or DEFAULT_LOGDIR) if path is None else path
        net = load_numpy_network(path)
    except CheckpointError as error:
        raise Failure(error) from None
    except OSError as error:  # e.g. permission denied: the file is there but cannot be read
        raise Failure(f"cannot read checkpoint {path}: {error.strerror or error}") from None
    if net.sizes[0] != 784 or net.sizes[-1] != 10:
        raise Failure(f"{path} holds a network of sizes {net.sizes}; reading digits needs 784 inputs and 10 outputs")
    return net


def mnist_or_fail(data_dir=None, verbose: bool = True) -> Path:
    """The folder of the four verified MNIST files (fetched if missing), or ``Failure`` saying how to fix it."""
    from ..learn.mnist import DataError, fetch_mnist

    try:
        return fetch_mnist(data_dir, verbose=verbose)
    except DataError as error:
        raise Failure(error) from None
    except OSError as error:
        raise Failure(f"cannot get MNIST: {os_message(error)}") from None


def quiet_lightning() -> None:
    """Keep the console to the book's lines: no Lightning banners or tips, no warnings that do not apply."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        ".*does not have many workers.*",
        ".*isn't set, so you may run out of memory.*",
        ".*LeafSpec.*is deprecated.*",
        ".*dirpath has changed from.*",
        ".*have no `val_dataloader`.*",
    ):
        warnings.filterwarnings("ignore", message=message)
