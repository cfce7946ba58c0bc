"""The machine: the CPUs and memory this process may use, and whether a network of given sizes fits.

Standard library only.  Every entry point -- the flags of ``train``, ``nndigits.fit``, the app's settings,
the sweep's grid -- asks ``check_network_fits`` before it allocates, so that a network larger than memory is
one clear error there, not an allocator traceback or a ``MemoryError`` deep inside torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..chapter import INPUTS, MNIST_TRAIN, TEST_SIZE, parameters

EVAL_BATCH = 10_000  # examples per forward pass when evaluating (learn/datamodule.py)


class NetworkTooLarge(ValueError):
    """A network (with its mini-batches) that would not fit in the memory this machine has free."""


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
    neurons = sum(sizes[1:])
    activations = 3 * (EVAL_BATCH + 2 * m) * neurons
    return bytes_per_number * (6 * parameters(sizes) + activations) + (MNIST_TRAIN + TEST_SIZE) * INPUTS * 4


def check_network_fits(sizes: Sequence[int], m: int = 10) -> None:
    """``NetworkTooLarge`` unless a network of ``sizes`` can be trained in the memory this machine has free."""
    need, have = network_bytes(sizes, m), available_memory()
    if need > have:
        raise NetworkTooLarge(
            f"a network of sizes {list(sizes) if len(sizes) <= 6 else f'[{sizes[0]}, ... {len(sizes)} layers]'} "
            f"with m = {m} needs about {need / 2**30:.3g} GiB of memory; this machine has {have / 2**30:.3g} GiB "
            "available (use smaller layers or fewer of them)"
        )
