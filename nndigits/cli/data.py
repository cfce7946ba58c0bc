"""MNIST for a command: the ``--data-dir`` flag, and the verified files or one line saying how to get them."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..learn.mnist import DataError, default_data_dir, fetch_mnist
from .errors import Failure, os_message
from .flags import path_arg


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=path_arg("--data-dir"),
        default=None,
        metavar="DIR",
        help=f"where MNIST is (torchvision root: DIR/MNIST/raw; read-only is fine once it is there) "
        f"(default: {default_data_dir()})",
    )


def mnist_or_fail(data_dir=None, verbose: bool = True) -> Path:
    """The folder of the four verified MNIST files (fetched if missing), or ``Failure`` saying how to fix it."""
    try:
        return fetch_mnist(data_dir, verbose=verbose)
    except DataError as error:
        raise Failure(error) from None
    except OSError as error:
        raise Failure(f"cannot get MNIST: {os_message(error)}") from None
