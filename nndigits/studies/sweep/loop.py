"""Training a sweep: groups of stacked networks, epoch by epoch, with each network's own shuffle."""

from __future__ import annotations

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
