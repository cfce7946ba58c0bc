"""Folders a command writes to: proved writable (with room) before any work, and cleared of what killed runs left.

Standard library only.  Every temporary file a command leaves while it works carries its process id in its
name (``learn/atomic.py``'s ``.<name>.<pid>.<random>.partial``), so that ``clean_stale`` can tell the
leftovers of a process that was killed (``kill -9``, power loss) from a file a live process is writing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..learn.atomic import stale_partials
from .errors import Failure

PROBE = ".nndigits-probe"  # check_writable's temp file: .nndigits-probe.<pid>.<random>.partial


def check_writable(folder: str | os.PathLike, what: str, need_bytes: int = 0) -> Path:
    """Make ``folder`` if need be and prove it takes a file (and has ``need_bytes`` free), before any work.

    The probe is a temp file named as ``write_atomic`` names them, with this process's id: one left by a
    process killed in the middle of the probe is removed here, the next time (``clean_stale``).
    ``Failure`` naming the folder otherwise: a read-only folder or a full disk is found out here, not
    after training.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        clean_stale(folder)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f"{PROBE}.{os.getpid()}.", suffix=".partial") as probe:
            probe.write(b"x")
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(folder).free
    except OSError as error:
        raise Failure(f"cannot write {what} under {folder}: {error.strerror or error}") from None
    if free < need_bytes:
        raise Failure(
            f"cannot write {what} under {folder}: {free / 2**20:.3g} MiB free, "
            f"about {need_bytes / 2**20:.3g} MiB needed"
        )
    return folder


def clean_stale(*folders: str | os.PathLike, pattern: str = "*") -> list[Path]:
    """Remove the temp files that killed writers left in ``folders`` (matching ``pattern`` below each).

    Only ``learn/atomic.py``'s temp names, and only those whose writing process is gone.
    """
    removed = []
    for folder in folders:
        for path in stale_partials(folder, pattern):
            try:
                path.unlink()
                removed.append(path)
            except OSError:  # someone else's file, or a read-only folder: not ours to fight over
                pass
    return removed
