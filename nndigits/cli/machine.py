"""The machine: the CPUs and memory this process may use, and folders that can be written (stale temp files gone).

Standard library only, so ``learn/checkpoints.py`` may use it without importing torch twice over.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import Failure, UsageError

EVAL_BATCH = 10_000  # examples per forward pass when evaluating (learn/datamodule.py)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_memory() -> int:
    """Bytes of memory available for new allocations (``MemAvailable``), else the machine's physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**40


def network_bytes(sizes: Sequence[int], m: int = 10, bytes_per_number: int = 4) -> int:
    """About how much memory training ``SigmoidNetwork(sizes)`` with mini-batches of ``m`` takes.

    Weights and biases with their gradients, the Lightning module's copy and the checkpoint being
    serialised (6 copies), the activations of an evaluation pass over 10,000 examples and of a mini-batch
    (z, a and sigma'(z) per neuron), and MNIST itself (70,000 x 784 float32).
    """
    params = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    neurons = sum(sizes[1:])
    activations = 3 * (EVAL_BATCH + 2 * m) * neurons
    return bytes_per_number * (6 * params + activations) + 70_000 * 784 * 4


def check_network_fits(sizes: Sequence[int], m: int = 10) -> None:
    """``UsageError`` unless a network of ``sizes`` can be trained in the memory this machine has free."""
    need, have = network_bytes(sizes, m), available_memory()
    if need > have:
        raise UsageError(
            f"a network of sizes {list(sizes) if len(sizes) <= 6 else f'[{sizes[0]}, ... {len(sizes)} layers]'} "
            f"with m = {m} needs about {need / 2**30:.3g} GiB of memory; this machine has {have / 2**30:.3g} GiB "
            "available (use smaller layers or fewer of them)"
        )


def check_writable(folder: str | os.PathLike, what: str, need_bytes: int = 0) -> Path:
    """Make ``folder`` if need be and prove it takes a file (and has ``need_bytes`` free), before any work.

    ``Failure`` naming the folder otherwise: a read-only folder or a full disk is found out here, not
    after training.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".nndigits-probe.", suffix=".partial") as probe:
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
    from ..learn.atomic import stale_partials

    removed = []
    for folder in folders:
        for path in stale_partials(folder, pattern):
            try:
                path.unlink()
                removed.append(path)
            except OSError:  # someone else's file, or a read-only folder: not ours to fight over
                pass
    return removed
