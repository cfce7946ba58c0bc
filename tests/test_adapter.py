"""The Lightning internals behind ``learn/adapter.py``, each exercised in a real (tiny) ``Trainer`` run.

If an upgrade of pytorch-lightning moves or changes one of them, a test here fails; the version
test ties the bound in pyproject.toml to the version these tests ran on.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from packaging.requirements import Requirement
from packaging.version import Version
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.data import DataLoader

from nndigits.learn import adapter
from nndigits.learn.book import BookNetwork
from nndigits.learn.datamodule import Chunks, EpochOrder
from nndigits.learn.network import one_hot
from nndigits.learn.run import bare_trainer

ROOT = Path(__file__).resolve().parent.parent
N, M = 40, 10  # a tiny training set of 40 examples, mini-batches of 10: 4 SGD steps per epoch


class TinyData(pl.LightningDataModule):
    """40 random 6-pixel "images" in 3 classes, ordered like MNISTDataModule's by the epoch the adapter reads."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.x, self.labels = torch.rand(N, 6, generator=g), torch.randint(0, 3, (N,), generator=g)
        self.epochs_seen: list[int] = []

    def _epoch(self) -> int:
        assert self.trainer is not None
        epoch = adapter.epochs_begun(self.trainer)
        self.epochs_seen.append(epoch)
        return epoch

    def train_dataloader(self):
        order = EpochOrder(N, M, steps=2, seed=0, current_epoch=self._epoch)
        return DataLoader(Chunks(self.x, one_hot(self.labels, 3)), sampler=order, batch_size=None)

    def val_dataloader(self):
        return DataLoader(Chunks(self.x, self.labels), sampler=[torch.arange(N)], batch_size=None)


def _trainer(epochs: int, **kwargs) -> pl.Trainer:
    return bare_trainer(epochs, **({"log_every_n_steps": 1} | kwargs))


def _fit(engine: str, epochs: int = 2, **kwargs) -> tuple[pl.Trainer, BookNetwork, TinyData]:
    model, data = BookNetwork([6, 4, 3], lr=1.0, batch_size=M, engine=engine), TinyData()
    model.print = lambda *args, **kw: None  # type: ignore[method-assign]
    trainer = _trainer(epochs, **kwargs)
    trainer.fit(model, datamodule=data)
    return trainer, model, data


def test_count_optimizer_steps_makes_global_step_count_like_lightning_does():
    """The backprop engine reports its steps through the adapter; the autograd engine's optimizer is counted by
    Lightning itself.  Both must end at one global step per mini-batch."""
    counted_by_lightning, _, _ = _fit("autograd")
    counted_by_adapter, _, _ = _fit("backprop")
    assert counted_by_lightning.global_step == 2 * N // M
    assert counted_by_adapter.global_step == counted_by_lightning.global_step


def test_count_optimizer_steps_moves_global_step():
    trainer, _, _ = _fit("backprop", epochs=1)
    before = trainer.global_step
    adapter.count_optimizer_steps(trainer, 5)
    assert trainer.global_step == before + 5


def test_epochs_begun_is_right_when_the_iterator_is_made_also_on_resume(tmp_path):
    """A fresh run makes its iterators in epochs 0, 1, 2; a run resumed after epoch 0 must see 1, 2 -- not 0 again."""
    _, _, fresh = _fit("backprop", epochs=3)
    assert fresh.epochs_seen == [0, 1, 2]

    trainer, _, _ = _fit("backprop", epochs=1)
    trainer.save_checkpoint(tmp_path / "after-epoch-0.ckpt")
    resumed_model, resumed = BookNetwork([6, 4, 3], lr=1.0, batch_size=M, engine="backprop"), TinyData()
    resumed_model.print = lambda *args, **kw: None  # type: ignore[method-assign]
    _trainer(3).fit(resumed_model, datamodule=resumed, ckpt_path=tmp_path / "after-epoch-0.ckpt")
    assert resumed.epochs_seen == [1, 2]


def test_file_writer_writes_a_summary_we_built(tmp_path):
    """The adapter's writer, reached through a real run's TensorBoardLogger, writes our own summary proto."""

    class WriteOne(pl.Callback):
        def on_train_epoch_end(self, trainer, module):
            summary = Summary(value=[Summary.Value(tag="adapter/probe", simple_value=float(trainer.current_epoch))])
            adapter.file_writer(trainer.logger.experiment).add_summary(summary, trainer.current_epoch)

    logger = TensorBoardLogger(str(tmp_path), name="tiny", default_hp_metric=False)
    trainer, _, _ = _fit("backprop", epochs=2, logger=logger, callbacks=[WriteOne()])
    trainer.logger.experiment.flush()
    events = EventAccumulator(logger.log_dir).Reload()
    assert [(e.step, e.value) for e in events.Scalars("adapter/probe")] == [(0, 0.0), (1, 1.0)]


def test_installed_lightning_is_inside_the_tested_range():
    """pyproject's bound on pytorch-lightning is the range these tests pass on: the installed version is inside it,
    and the bound has an upper end (a new minor version must be tested before it is allowed)."""
    # the quoted requirement in [project] dependencies (a regex, not tomllib: that is Python 3.11+, we support 3.10)
    (spec,) = re.findall(r'^\s*"(pytorch-lightning[^"]*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    requirement = Requirement(spec)
    installed = Version(importlib.metadata.version("pytorch-lightning"))
    assert requirement.specifier.contains(installed), f"pytorch-lightning {installed} is outside {requirement}"
    assert any(spec.operator in ("<", "<=", "~=", "==") for spec in requirement.specifier), "no upper bound"


@pytest.mark.parametrize("name", ["count_optimizer_steps", "epochs_begun", "file_writer"])
def test_the_adapter_is_the_only_place_that_reaches_into_lightning(name):
    """The private paths are spelled out in adapter.py alone (grep the package for them)."""
    private = {
        "count_optimizer_steps": "optim_step_progress",
        "epochs_begun": "epoch_progress.current",
        "file_writer": "_get_file_writer",
    }[name]
    users = [p for p in (ROOT / "nndigits").rglob("*.py") if private in p.read_text()]
    assert users == [ROOT / "nndigits" / "learn" / "adapter.py"]
