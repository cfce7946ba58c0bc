"""Training a sweep: groups of stacked networks, epoch by epoch, with each network's own shuffle."""

from __future__ import annotations

import sys
from dataclasses import asdict

import torch

from .grid import Config
from .stacked import StackedNetworks


def train_group(
    configs: list[Config],
    data,
    epochs: int,
    device="cpu",
    dtype=torch.float32,
    chunk_steps: int = 25,
    progress=None,
    on_epoch=None,
    engine: str = "native",
) -> StackedNetworks:
    """Train networks of one mini-batch size side by side for ``epochs`` epochs.

    ``data`` is a set-up ``MNISTDataModule``.  Each chunk of ``chunk_steps`` mini-batches of every network
    (its own rows by number, in its own shuffle) goes to one engine made for the stack by
    ``learn.engines.make_engine`` -- the engine of ``python -m nndigits.train``, in its form for K networks
    (``learn/stacked.py``).  ``native`` (the default): on the CPU each network's steps are the C++ loops of a
    single run, on its slice of the stacked weights, one network after another; elsewhere -- on a GPU, for
    a group whose hidden layers are padded, or without the extension -- one batched torch step trains all K
    (``backprop``), the chunk gathered for all K at once (small chunks keep the gathered rows in cache: 25
    beat 100 and 500).  Measured in ``python experiments/benchmark.py --sweep``.
    ``on_epoch(epoch, nets, val_correct, test_correct, costs)`` is called after each epoch.
    """
    from ...learn.datamodule import EpochOrder, Rows
    from ...learn.engines import STACK_ENGINES, make_engine

    if engine not in STACK_ENGINES:
        raise ValueError(f"unknown sweep engine {engine!r}; choose one of {', '.join(STACK_ENGINES)}")

    m = configs[0].batch_size
    assert all(c.batch_size == m for c in configs), "one group, one mini-batch size"
    nets = StackedNetworks(configs, device, dtype)
    sgd = make_engine(engine, nets, [c.lr for c in configs], m)
    x_train, y_train = data.train.x.to(device, dtype), data.train.y.to(device, dtype)
    x_val, labels_val = data.val.x.to(device, dtype), data.val.y.to(device)
    x_test, labels_test = data.test.x.to(device, dtype), data.test.y.to(device)
    n, K = len(x_train), len(configs)
    orders = [EpochOrder(n, m, chunk_steps, c.seed, device) for c in configs]
    for epoch in range(epochs):
        perms = torch.stack([o.order(epoch) for o in orders])  # [K, n]: each network's own shuffle
        cost = torch.zeros(K, dtype=dtype, device=device)
        for start in range(0, n, m * chunk_steps):
            idx = perms[:, start : start + m * chunk_steps]  # [K, chunk]: network k's rows are idx[k]
            errors = sgd.steps(Rows(x_train, y_train, idx))  # [K, chunk, 10]: a - y of every row
            cost += errors.square().sum(dim=(1, 2)) / 2
            if progress is not None:
                progress(epoch + (start + idx.shape[1]) / n)
        val = nets.correct(x_val, labels_val)
        test = nets.correct(x_test, labels_test)
        if on_epoch is not None:
            on_epoch(epoch, nets, val.cpu(), test.cpu(), (cost / n).cpu())
    return nets


def run(configs: list[Config], epochs: int, data, device="cpu", pack="group", progress=True) -> list[dict]:
    """Train every configuration; return one record per network with its per-epoch accuracies."""
    records = {
        c: {**asdict(c), "sizes": c.sizes, "name": c.name, "val_correct": [], "test_correct": [], "train_cost": []}
        for c in configs
    }
    groups: dict[tuple, list[Config]] = {}
    for c in configs:  # one batched computation per mini-batch size (and per depth, or per size with --pack group)
        key = (c.batch_size, len(c.hidden)) if pack == "pad" else (c.batch_size, c.hidden)
        groups.setdefault(key, []).append(c)
    bar = None
    if progress and sys.stderr.isatty():  # a bar's carriage returns belong on a terminal, not in a log
        from tqdm import tqdm

        bar = tqdm(
            total=epochs * len(groups),
            unit="epoch",
            desc=f"{len(configs)} networks",
            file=sys.stderr,
            bar_format="{l_bar}{bar}| {n:.1f}/{total} epochs [{elapsed}<{remaining}]{postfix}",
        )
    done = 0
    for members in groups.values():

        def on_epoch(epoch, nets, val, test, cost, members=members):
            for k, c in enumerate(members):
                records[c]["val_correct"].append(int(val[k]))
                records[c]["test_correct"].append(int(test[k]))
                records[c]["train_cost"].append(float(cost[k]))
            if bar is not None:
                bar.set_postfix_str(f"best test {max(test).item() / 100:.2f}%")

        def tick(fraction, base=done):
            if bar is not None:
                bar.n = base + fraction
                bar.refresh()

        train_group(members, data, epochs, device, progress=tick, on_epoch=on_epoch)
        done += epochs
    if bar is not None:
        bar.close()
    return list(records.values())


def run_in_process(tasks: list[list[Config]], splits: dict, epochs: int, store, progress, **options) -> int:
    """Train the tasks one after another in this process, saving each into ``store`` as it finishes.

    ``options``: ``device``, ``dtype``, ``threads`` as for ``tasks.train_task``.  Returns the tasks trained.
    """
    from .tasks import train_task

    for configs in tasks:
        progress.status(1, 0)
        k = len(configs)
        result = train_task(
            configs, splits, epochs, tick=lambda fraction, k=k: progress.partial(k * fraction), **options
        )
        store.save(result)
        progress.finished(result)
    return len(tasks)
