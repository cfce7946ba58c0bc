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


def positive(kind, name, minimum, strict=False, maximum=None):
    """An argparse ``type`` accepting numbers >= minimum (> minimum if strict, <= maximum if given), finite, of ``kind``."""
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
    for message in (".*does not have many workers.*", ".*isn't set, so you may run out of memory.*",
                    ".*LeafSpec.*is deprecated.*", ".*dirpath has changed from.*", ".*have no `val_dataloader`.*"):
        warnings.filterwarnings("ignore", message=message)


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary name in the same folder, then rename.

    A reader (or a crash) never sees half a file: the name appears only when the file is whole.
    """
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())  # whole on disk before the name points at it
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would have made it, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figure(fig, path, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG atomically (rendered in memory, then ``write_atomic``)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    write_atomic(path, buffer.getvalue())
