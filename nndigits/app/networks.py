"""The checkpoints the page may choose from, and the network it reads digits with now.

The browser never sends a path: it gets a list of checkpoints found under the
log dir (plus one given with ``--checkpoint``), each with a short id derived
from its path, and sends back an id from that list.  Unknown ids are refused,
so no request can make the server open a file it did not list.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from ..core.checkpoints import CheckpointError, check_reads_digits
from ..learn.checkpoints import load_network


class UnknownNetwork(Exception):
    """An id that is not in the list of checkpoints."""


def checkpoint_id(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]


class Networks:
    """The list of checkpoints under ``logdir`` and the current network (thread-safe: training swaps it)."""

    def __init__(self, logdir: str | os.PathLike, extra: str | os.PathLike | None = None):
        self.logdir = Path(logdir)
        self.extra = Path(extra).resolve() if extra is not None else None
        self._lock = threading.Lock()
        self.net = None
        self.current: str | None = None
        self.current_name: str | None = None

    def _paths(self) -> list[Path]:
        found = [p.resolve() for p in self.logdir.glob("**/*.ckpt") if p.is_file()] if self.logdir.is_dir() else []
        if self.extra is not None and self.extra.is_file() and self.extra not in found:
            found.append(self.extra)
        return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)

    def name_of(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.logdir.resolve()))
        except ValueError:
            return path.name

    def listing(self) -> list[dict]:
        """Newest first: ``{"id", "name"}`` for each checkpoint (name relative to the log dir)."""
        return [{"id": checkpoint_id(p), "name": self.name_of(p)} for p in self._paths()]

    def path_of(self, ident: str) -> Path:
        for path in self._paths():
            if checkpoint_id(path) == ident:
                return path
        raise UnknownNetwork(f"no checkpoint with id {ident!r} under {self.logdir}/ (reload the list)")

    def load(self, path: str | os.PathLike) -> None:
        """Make the network in ``path`` current; ``CheckpointError`` if it cannot read digits."""
        path = Path(path).resolve()
        try:
            net = load_network(path)
        except OSError as error:
            raise CheckpointError(f"cannot read checkpoint {self.name_of(path)}: {error.strerror or error}") from None
        check_reads_digits(net.sizes, self.name_of(path))
        self.use(net, checkpoint_id(path), self.name_of(path))

    def use(self, net, ident: str | None, name: str | None) -> None:
        with self._lock:
            self.net, self.current, self.current_name = net.eval(), ident, name

    def select(self, ident: str) -> None:
        self.load(self.path_of(ident))

    def snapshot(self):
        """(network, id, name) at this moment, consistent even while a run swaps in a new one."""
        with self._lock:
            return self.net, self.current, self.current_name
