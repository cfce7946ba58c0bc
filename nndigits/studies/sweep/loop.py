"""Training a sweep: groups of stacked networks, epoch by epoch, with each network's own shuffle."""

from __future__ import annotations

import torch

from ...learn import native
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

    ``data`` is a set-up ``MNISTDataModule``.  On the CPU each network's steps are the native engine's
    (``learn/native.py``: the C++ loops of ``python -m nndigits.train``, reading the network's own rows by
    number, on its slice of the stacked weights), one network after another for each chunk of
    ``chunk_steps`` mini-batches; elsewhere -- on a GPU, for a group whose hidden layers are padded, or
    without the extension -- one batched torch step trains all K (``StackedNetworks.sgd_steps``), the chunk
    gathered for all K at once (small chunks keep the gathered rows in cache: 25 beat 100 and 500).
    ``engine="stacked"`` takes the batched torch step everywhere.  Measured in
    ``python experiments/benchmark.py --sweep``.
    ``on_epoch(epoch, nets, val_correct, test_correct, costs)`` is called after each epoch.
    """
    from ...learn.datamodule import EpochOrder

    if engine not in ("native", "stacked"):
        raise ValueError(f"unknown sweep engine {engine!r}; choose native or stacked")

    m = configs[0].batch_size
    assert all(c.batch_size == m for c in configs), "one group, one mini-batch size"
    nets = StackedNetworks(configs, device, dtype)
    x_train, y_train = data.train.x.to(device, dtype), data.train.y.to(device, dtype)
    x_val, labels_val = data.val.x.to(device, dtype), data.val.y.to(device)
    x_test, labels_test = data.test.x.to(device, dtype), data.test.y.to(device)
    n, K = len(x_train), len(configs)
    orders = [EpochOrder(n, m, chunk_steps, c.seed, device) for c in configs]
    one_by_one = engine == "native" and torch.device(device).type == "cpu" and not nets.padded
    for epoch in range(epochs):
        perms = torch.stack([o.order(epoch) for o in orders])  # [K, n]: each network's own shuffle
        cost = torch.zeros(K, dtype=dtype, device=device)
        for start in range(0, n, m * chunk_steps):
            idx = perms[:, start : start + m * chunk_steps]
            errors = torch.empty(K, idx.shape[1], y_train.shape[1], dtype=dtype, device=device)
            if one_by_one:  # each network's steps in C++, unless the extension cannot take them (then: stacked)
                one_by_one = _native_chunk(nets, x_train, y_train, m, idx, errors)
            if not one_by_one:
                xs, ys = x_train[idx], y_train[idx]  # [K, chunk, .]: each network's own examples
                nets.sgd_steps(xs, ys, m, errors)
            cost += errors.square().sum(dim=(1, 2)) / 2
            if progress is not None:
                progress(epoch + (start + idx.shape[1]) / n)
        val = nets.correct(x_val, labels_val)
        test = nets.correct(x_test, labels_test)
        if on_epoch is not None:
            on_epoch(epoch, nets, val.cpu(), test.cpu(), (cost / n).cpu())
    return nets


def _native_chunk(nets: StackedNetworks, x, y, m: int, idx, errors) -> bool:
    """Network k's SGD steps on rows ``idx[k]`` by the native engine, k = 0, 1, ...; False if it cannot take them."""
    for k, config in enumerate(nets.configs):
        weights, biases = [w[k] for w in nets.w], [b[k] for b in nets.b]  # views into the stack: trained in place
        if native.steps_or_reason(weights, biases, x, y, m, config.lr, errors[k], index=idx[k]) is not None:
            assert k == 0, "the networks of a group share dtype and device"
            return False
    return True
