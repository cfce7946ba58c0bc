"""What every ``python -m nndigits.*`` command shares: one-line flag errors and a quiet Lightning."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import warnings


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit code 2 -- no usage dump, no traceback."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive(kind, name, minimum, strict=False, maximum=None):
    """An argparse ``type``: finite numbers of ``kind``, >= minimum (> minimum if strict), <= maximum if given."""

    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be finite, got {text!r}")
        if value < minimum or (strict and value <= minimum):
            bound = f"greater than {minimum:g}" if strict else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"{name} must be {bound}, got {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{name} must be at most {maximum}, got {text}")
        return value

    return convert


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


def fail(prog: str, message: object) -> None:
    """One line on stderr, nothing else."""
    text = " ".join(str(message).split())
    print(f"{prog}: error: {text}", file=sys.stderr)


def run_with_network(checkpoint, prog: str, body) -> int:
    """Load the checkpoint's network and return ``body(net)``'s exit code; one line and exit 1 if it cannot load."""
    try:
        net, code = load_checkpoint_or_fail(checkpoint, prog)
        return code if net is None else body(net)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def load_checkpoint_or_fail(path, prog: str):
    """(network, None) or (None, exit code) after printing one line; checks the network reads 784 pixels."""
    from .learn.checkpoints import CheckpointError, load_network, newest_checkpoint

    try:
        path = newest_checkpoint() if path is None else path
        net = load_network(path)
    except CheckpointError as error:
        fail(prog, error)
        return None, 1
    except OSError as error:  # e.g. permission denied: the file is there but cannot be read
        fail(prog, f"cannot read checkpoint {path}: {error.strerror or error}")
        return None, 1
    if net.sizes[0] != 784 or net.sizes[-1] != 10:
        fail(prog, f"{path} holds a network of sizes {net.sizes}; predicting digits needs 784 inputs and 10 outputs")
        return None, 1
    return net, None
