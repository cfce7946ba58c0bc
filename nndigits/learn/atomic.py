"""Atomic file writing: a file appears under its name only when it is whole.

The temporary name is ``.<name>.<pid>.<random>.partial`` in the target's folder: hidden, unmistakably
ours, and carrying the writer's process id, so a later run can tell the leftovers of a writer that was
killed (SIGKILL, power loss) from a file another live process is writing right now (``stale_partials``).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import time
from pathlib import Path

PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.partial$")
OLD_PARTIAL = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.partial$")  # written before the pid was in the name
OLD_PARTIAL_AGE = 3600  # seconds: a pid-less temp file this old is no live write


def write_atomic(path, data: bytes | bytearray | memoryview | str) -> None:
    """Write ``data`` to ``path`` through a temporary name in the same folder, then rename.

    A reader (or a crash) never sees half a file: the name appears only when the file is whole.  If the
    write fails (a full disk), the temp file is removed and the old file under ``path``, if any, is kept.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".partial", dir=path.parent)
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


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no pid at all
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def stale_partials(folder, pattern: str = "*") -> list[Path]:
    """``write_atomic``'s temp files under ``folder`` (``folder.glob(pattern)``'s folders) whose writer is gone.

    Only names ``write_atomic`` makes; a file whose process still runs is never listed.  (A pid is only
    meaningful on this machine: folders shared between machines should not be written by two at once.)
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = []
    for directory in [folder, *(d for d in folder.glob(pattern) if d.is_dir())]:
        try:
            entries = list(directory.glob(".*.partial"))
        except OSError:
            continue
        for path in entries:
            match = PARTIAL.match(path.name)
            try:
                if match:
                    dead = not _alive(int(match["pid"]))
                else:
                    dead = bool(OLD_PARTIAL.match(path.name)) and time.time() - path.stat().st_mtime > OLD_PARTIAL_AGE
                if dead:
                    stale.append(path)
            except OSError:
                continue
    return stale


def save_figure(fig, path, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG atomically (rendered in memory, then ``write_atomic``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    write_atomic(path, buffer.getvalue())
