"""A sweep cut into tasks: each task trains one group of stacked networks, anywhere, from the data alone.

A task is a pure function of (its configurations, the data, the epochs, the dtype): it can run in this
process, or on any machine of a Ray cluster, and give the same numbers -- every network keeps its own
seeded initial weights and shuffles (see ``loop.train_group``), so a task run twice, or after its
machine died, trains the same networks again.
"""

from __future__ import annotations

import hashlib
import socket
import time
import warnings
from dataclasses import asdict

from .grid import Config

VAL_START = 50_000  # the book's split: validation = MNIST training images 50,000..59,999


def arrays(data_dir=None, limit: int | None = None) -> dict:
    """MNIST as the raw uint8 pixels and int64 labels of the book's three splits (NumPy arrays).

    uint8 keeps what travels to the workers small (55 MB for all of MNIST, a quarter of float32); each
    task turns it into floats exactly as ``mnist.load_split`` does.  ``limit`` keeps the first
    ``limit`` examples of every split (the tests' few-hundred-step sweeps).
    """
    import torchvision

    from ...learn.mnist import default_data_dir, fetch_mnist

    root = data_dir if data_dir is not None else default_data_dir()
    fetch_mnist(root)  # verified here, once, on the driver
    train = torchvision.datasets.MNIST(root, train=True, download=False)
    test = torchvision.datasets.MNIST(root, train=False, download=False)
    x, y = train.data.reshape(len(train.data), -1).numpy(), train.targets.numpy()
    x_test, y_test = test.data.reshape(len(test.data), -1).numpy(), test.targets.numpy()
    n = limit if limit is not None else len(x)
    return {
        "train": (x[:VAL_START][:n], y[:VAL_START][:n]),
        "val": (x[VAL_START:][:n], y[VAL_START:][:n]),
        "test": (x_test[:n], y_test[:n]),
    }


class Data:
    """The splits as tensors, the shape ``train_group`` reads (``.train``, ``.val``, ``.test`` Chunks)."""

    def __init__(self, splits: dict):
        import torch

        from ...learn.datamodule import Chunks
        from ...learn.network import one_hot

        def tensors(split):
            x, y = split
            with warnings.catch_warnings():  # the object store's arrays are read-only; we only read them
                warnings.filterwarnings("ignore", message=".*not writable.*")
                x, y = torch.from_numpy(x), torch.from_numpy(y).long()
            return x.float().div_(255.0), y  # as mnist.load_split

        x, y = tensors(splits["train"])
        self.train = Chunks(x, one_hot(y))
        self.val = Chunks(*tensors(splits["val"]))
        self.test = Chunks(*tensors(splits["test"]))


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


def task_key(configs: list[Config]) -> str:
    """A task's name in the results folder: a digest of its networks' names."""
    return hashlib.sha1("\n".join(c.name for c in configs).encode()).hexdigest()[:16]


def record(config: Config) -> dict:
    return {**asdict(config), "sizes": config.sizes, "name": config.name}


def train_task(
    configs: list[Config], splits: dict, epochs: int, device="cpu", dtype="float32", threads=1, tick=None
) -> dict:
    """Train one group of stacked networks; return their per-epoch records and final weights (NumPy).

    ``tick(fraction)`` (optional) hears how far the task is, 0..1.
    """
    import torch

    from .loop import train_group

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as in train: subnormal floats would slow late epochs down ~2x
    start = time.perf_counter()
    data = Data(splits)
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
