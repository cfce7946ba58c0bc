"""What every ``python -m nndigits.*`` command shares: one-line flag errors and a quiet Lightning."""
from __future__ import annotations

import argparse
import logging
import math
import warnings


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit code 2 -- no usage dump, no traceback."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive(kind, name, minimum, strict=False):
    """An argparse ``type`` accepting numbers >= minimum (> minimum if strict), finite, of ``kind``."""
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
        return value
    return convert


def quiet_lightning() -> None:
    """Keep the console to the book's lines: no Lightning banners or tips, no warnings that do not apply."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (".*does not have many workers.*", ".*isn't set, so you may run out of memory.*",
                    ".*LeafSpec.*is deprecated.*", ".*dirpath has changed from.*", ".*have no `val_dataloader`.*"):
        warnings.filterwarnings("ignore", message=message)
