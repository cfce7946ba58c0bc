"""A sweep cut into tasks: each task trains one group of stacked networks, anywhere, from the data alone.

A task is a pure function of (its configurations, the data, the epochs, the dtype): it can run in this
process, or on any machine of a Ray cluster, and give the same numbers -- every network keeps its own
seeded initial weights and shuffles (see ``loop.train_group``), so a task run twice, or after its
machine died, trains the same networks again.  ``driver.run`` runs them.
"""

from __future__ import annotations

import hashlib
import socket
import time
import warnings
from dataclasses import asdict

from ...chapter import INPUTS, MNIST_TRAIN, OUTPUTS, TEST_SIZE, parameters
from ...core.machine import EVAL_BATCH  # rows per forward pass when evaluating, a stack's too
from .grid import Config

CHUNK_STEPS = 25  # mini-batches per chunk in ``loop.train_group`` (its default), for the memory estimate


def pixels(data_dir=None, limit: int | None = None) -> dict:
    """The book's split (``mnist.book_split``: fetched, verified, read by torchvision) as NumPy arrays.

    uint8 pixels keep what travels to the workers small (55 MB for all of MNIST, a quarter of float32),
    and NumPy arrays are shared, not copied, by the tasks of a machine (Ray's object store).  ``limit``
    keeps the first ``limit`` examples of every split (the tests' few-hundred-step sweeps).
    """
    from ...learn.mnist import book_split

    return {name: (x.numpy(), y.numpy()) for name, (x, y) in book_split(data_dir, limit).items()}


def datamodule(split: dict):
    """``pixels``' arrays as a set-up ``MNISTDataModule`` (on the CPU), the data ``train_group`` reads."""
    import torch

    from ...learn.datamodule import MNISTDataModule

    with warnings.catch_warnings():  # the object store's arrays are read-only; they are only read
        warnings.filterwarnings("ignore", message=".*not writable.*")
        tensors = {name: (torch.from_numpy(x), torch.from_numpy(y)) for name, (x, y) in split.items()}
    data = MNISTDataModule(split=tensors)
    data.setup()
    return data


def plan(configs: list[Config], pack: str = "group", per_task: int | None = None) -> list[list[Config]]:
    """Cut the grid into tasks: one per stacked group (mini-batch size, and hidden size with ``pack``
    "group" or depth with "pad"), each cut into pieces of at most ``per_task`` networks.

    A pure function of the grid and the two flags, so a rerun cuts the same tasks.
    """
    groups: dict[tuple, list[Config]] = {}
    for c in configs:
        key = (c.batch_size, len(c.hidden)) if pack == "pad" else (c.batch_size, c.hidden)
        groups.setdefault(key, []).append(c)
    size = per_task or max(len(configs), 1)
    return [members[i : i + size] for members in groups.values() for i in range(0, len(members), size)]


def task_bytes(configs: list[Config], dtype: str = "float32", examples: int = MNIST_TRAIN + TEST_SIZE) -> int:
    """About how much memory one task takes: the stacked networks (padded to the largest hidden layer),
    their activations on a chunk and on an evaluation pass, and MNIST as pixels and as ``dtype`` inputs.

    The sweep's counterpart of ``core.machine.network_bytes``, checked the same way before any work.
    """
    k, size = len(configs), 8 if dtype == "float64" else 4
    hidden = max((c.hidden[0] for c in configs if c.hidden), default=0)
    neurons = hidden + OUTPUTS
    params = parameters([INPUTS, hidden, OUTPUTS] if hidden else [INPUTS, OUTPUTS])
    chunk = max(c.batch_size for c in configs) * CHUNK_STEPS
    numbers = k * (3 * params + 3 * min(EVAL_BATCH, examples) * neurons + chunk * (INPUTS + 2 * OUTPUTS + 3 * neurons))
    return size * numbers + examples * INPUTS * (1 + 4 + size)


def too_big(tasks: list[list[Config]], dtype: str, examples: int, have: int | None, where: str) -> str | None:
    """Why the largest of ``tasks`` does not fit in ``have`` bytes (``where``: whose memory), or None."""
    task = max(tasks, key=lambda t: task_bytes(t, dtype, examples))
    need = task_bytes(task, dtype, examples)
    if have is None or need <= have:  # None: the cluster does not say
        return None
    return (
        f"a task of {len(task)} networks {max((c.sizes for c in task), key=sum)} with m = "
        f"{max(c.batch_size for c in task)} needs about {need / 2**30:.3g} GiB of memory; {where} "
        f"{have / 2**30:.3g} GiB available (give --per-task fewer networks per task, or use smaller layers)"
    )


def task_key(configs: list[Config]) -> str:
    """A task's name in the results folder: a digest of its networks' names."""
    return hashlib.sha1("\n".join(c.name for c in configs).encode()).hexdigest()[:16]


def record(config: Config) -> dict:
    return {**asdict(config), "sizes": config.sizes, "name": config.name}


def train_task(
    configs: list[Config], split: dict, epochs: int, device="cpu", dtype="float32", threads=1, tick=None
) -> dict:
    """Train one group of stacked networks on ``split`` (``pixels``); return their per-epoch records and
    final weights (NumPy).  ``tick(fraction)`` (optional) hears how far the task is, 0..1.
    """
    import torch

    from .loop import train_group

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as in train: subnormal floats would slow late epochs down ~2x
    start = time.perf_counter()
    data = datamodule(split)
    records = [
        {**record(c), "val_correct": [], "test_correct": [], "train_cost": [], "val_size": 0, "test_size": 0}
        for c in configs
    ]

    def on_epoch(epoch, nets, val, test, cost):
        for k, r in enumerate(records):
            r["val_correct"].append(int(val[k]))
            r["test_correct"].append(int(test[k]))
            r["train_cost"].append(float(cost[k]))

    progress = None if tick is None else (lambda epochs_done: tick(epochs_done / epochs))
    nets = train_group(configs, data, epochs, device, getattr(torch, dtype), progress=progress, on_epoch=on_epoch)
    for r in records:
        r["val_size"], r["test_size"] = len(data.val), len(data.test)
    weights = {
        c.name: {k: v.detach().cpu().numpy() for k, v in nets.network(i).state_dict().items()}
        for i, c in enumerate(configs)
    }
    return {
        "key": task_key(configs),
        "networks": records,
        "weights": weights,
        "seconds": time.perf_counter() - start,
        "host": socket.gethostname(),
    }
