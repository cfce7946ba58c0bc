"""BookNetwork's evaluation: the torchmetrics sums give the numbers a direct computation gives, and ``evaluate``
is the one hook a variant overrides."""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from nndigits.learn.book import BookNetwork, EvaluationSums
from nndigits.learn.datamodule import Chunks, EpochOrder
from nndigits.learn.network import one_hot
from nndigits.learn.run import bare_trainer

N = 60


class Tiny(pl.LightningDataModule):
    """60 random 5-pixel inputs in 3 classes; held-out sets of 25 (validation) and 35 (test), in batches of 10."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.x, self.labels = torch.rand(N, 5, generator=g), torch.randint(0, 3, (N,), generator=g)

    def train_dataloader(self):
        data = Chunks(self.x, one_hot(self.labels, 3))
        return DataLoader(data, sampler=EpochOrder(N, 10, 2, seed=0), batch_size=None)

    def _held_out(self, rows: slice):
        data = Chunks(self.x[rows], self.labels[rows])
        return DataLoader(data, sampler=torch.arange(len(data.x)).split(10), batch_size=None)

    def val_dataloader(self):
        return [self._held_out(slice(0, 25)), self._held_out(slice(25, N))]


def _fit(model: BookNetwork) -> Tiny:
    model.print = lambda *args, **kw: None  # type: ignore[method-assign]
    data = Tiny()
    bare_trainer(2).fit(model, datamodule=data)
    return data


def test_epoch_metrics_are_the_sums_over_every_batch():
    model = BookNetwork([5, 4, 3], lr=1.0, batch_size=10, engine="backprop")
    data = _fit(model)
    with torch.no_grad():
        a = model.net(data.x)
    right = a.argmax(1) == data.labels
    cost = (one_hot(data.labels, 3) - a).square().sum(1) / 2  # C_x, eq. 6
    last = model.history[-1]
    for split, rows in (("val", slice(0, 25)), ("test", slice(25, N))):
        n = len(data.x[rows])
        assert last[f"{split}/total"] == n  # every batch counted once, the short last one included
        assert last[f"{split}/correct"] == int(right[rows].sum())
        assert math.isclose(last[f"{split}/cost"], float(cost[rows].sum()) / n, rel_tol=1e-5)
    assert [h["epoch"] for h in model.history] == [0, 1]


def test_a_variant_overrides_evaluate_only():
    class AlwaysZero(BookNetwork):
        def evaluate(self, x, labels):
            return (labels == 0).sum(), torch.zeros(())

    model = AlwaysZero([5, 4, 3], lr=1.0, batch_size=10, engine="backprop")
    data = _fit(model)
    assert model.history[-1]["val/correct"] == int((data.labels[:25] == 0).sum())
    assert model.history[-1]["test/cost"] == 0.0


def test_sums_reset_and_keep_nan():
    sums = EvaluationSums()
    assert sums.totals() is None  # nothing seen yet
    sums.update(torch.tensor(3), torch.tensor(1.5), 10)
    sums.update(torch.tensor(4), torch.tensor(2.0), 5)
    assert sums.totals() == (7, 3.5, 15)
    sums.reset()
    assert sums.totals() is None
    sums.update(torch.tensor(1), torch.tensor(float("nan")), 2)  # a diverged network's cost is not dropped
    correct, cost, n = sums.totals()
    assert (correct, n) == (1, 2) and math.isnan(cost)


def test_eta_and_m_are_the_hparams_lr_and_batch_size():
    model = BookNetwork([5, 3], lr=0.5, batch_size=7)
    assert (model.eta, model.m) == (0.5, 7)
    assert (model.hparams["lr"], model.hparams["batch_size"]) == (0.5, 7)  # what checkpoints store
