"""Many networks at once: each one in a sweep is exactly the network a single run trains."""

import json
import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from nndigits.learn.book import BookNetwork
from nndigits.learn.datamodule import Chunks, EpochOrder
from nndigits.studies.sweep import Config, grid, summarise, train_group
from nndigits.sweep import main


class _Data:
    """A stand-in for a set-up MNISTDataModule over a slice of the real MNIST."""

    def __init__(self, mnist_train, n_train=2000, n_eval=500):
        from nndigits.learn.network import one_hot

        x, labels = mnist_train
        self.train = Chunks(x[:n_train], one_hot(labels[:n_train]))
        self.val = Chunks(x[50_000 : 50_000 + n_eval], labels[50_000 : 50_000 + n_eval])
        self.test = Chunks(x[-n_eval:], labels[-n_eval:])


def _single_run(config: Config, data, epochs: int) -> torch.nn.Module:
    """The same configuration trained alone, as ``python -m nndigits.train`` does it: BookNetwork driven by
    pl.Trainer over the DataModule's kind of loader (Chunks + EpochOrder), in float64."""
    model = BookNetwork(config.sizes, config.lr, config.batch_size, config.seed)
    loader = DataLoader(
        data.train, batch_size=None, sampler=EpochOrder(len(data.train), config.batch_size, 20, config.seed)
    )
    trainer = pl.Trainer(
        max_epochs=epochs,
        precision="64-true",
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, train_dataloaders=loader)
    assert trainer.global_step == epochs * -(-len(data.train) // config.batch_size)
    return model.net


def test_a_network_in_a_sweep_is_the_network_of_a_single_run(mnist_train):
    """float64: after 200 steps (2,000 images, m = 10) every network matches its single run to 1e-9,
    although the sweep pads hidden layers of 10 and 30 units to 30 and mixes etas."""
    data = _Data(mnist_train)
    configs = grid([0.5, 3.0], [[10], [30], []][:2], [10], [1, 2])
    nets = train_group(configs, data, epochs=1, dtype=torch.float64, chunk_steps=40)
    for k, config in enumerate(configs):
        alone = _single_run(config, data, epochs=1)
        swept = nets.network(k)
        start = BookNetwork(config.sizes, seed=config.seed).net
        for p, q, p0 in zip(alone.parameters(), swept.parameters(), start.parameters()):
            assert (p - q).abs().max() < 1e-9
            assert (p.detach() - p0.double()).abs().max() > 1e-2  # it did learn


def test_padding_units_are_inert(mnist_train):
    data = _Data(mnist_train, n_train=300)
    nets = train_group(grid([3.0], [[5], [20]], [10], [1]), data, epochs=1, dtype=torch.float64, chunk_steps=10)
    small = 0  # the [784, 5, 10] network, padded to 20 hidden units
    assert torch.equal(nets.w[1][small, :, 5:], torch.zeros(10, 15, dtype=torch.float64))  # no outgoing weight
    assert torch.equal(nets.w[0][small, 5:], torch.zeros(15, 784, dtype=torch.float64))  # incoming never updated
    assert torch.equal(nets.b[0][small, 5:], torch.zeros(15, dtype=torch.float64))


def test_no_hidden_layer_and_different_batch_sizes(mnist_train, tmp_path):
    data = _Data(mnist_train, n_train=1000)
    for config in (Config((), 3.0, 10, 1), Config((30,), 3.0, 7, 2)):  # m = 7: a short last mini-batch
        nets = train_group([config], data, epochs=1, dtype=torch.float64, chunk_steps=13)
        alone = _single_run(config, data, epochs=1)
        for p, q in zip(alone.parameters(), nets.network(0).parameters()):
            assert (p - q).abs().max() < 1e-9


def test_a_value_given_twice_makes_one_network():
    assert grid([3.0, 3.0], [[30], [30]], [10], [1, 1]) == [Config((30,), 3.0, 10, 1)]


def test_summary_counts_stuck_runs():
    records = [
        {"hidden": [30], "lr": 3.0, "batch_size": 10, "seed": s, "test_correct": tc}
        for s, tc in [(1, [9000, 9500]), (2, [8000, 8300]), (3, [9100, 9400])]
    ]
    (row,) = summarise(records)
    assert row["seeds"] == 3 and row["stuck"] == 1
    assert row["best_mean"] == pytest.approx((95 + 83 + 94) / 3)
    assert row["final_mean"] == pytest.approx((95 + 83 + 94) / 3) and row["best_max"] == 95


@pytest.mark.slow
def test_two_workers_split_the_grid_and_merge(tmp_path):
    """The grid split across two processes, then merged: every configuration once, tables and plots written."""
    common = [
        "--lr",
        "1",
        "3",
        "--hidden",
        "10",
        "20",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--threads",
        "1",
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nndigits.sweep", *common, "--worker", f"{i}/2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    parts = [json.loads((tmp_path / f"worker-{i}-of-2.json").read_text())["networks"] for i in range(2)]
    assert len(parts[0]) == len(parts[1]) == 4
    assert not {r["name"] for r in parts[0]} & {r["name"] for r in parts[1]}
    assert main(["--merge", "--out", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "results.json").read_text())
    assert len(merged["networks"]) == 8 and len(merged["configurations"]) == 4
    assert all(r["seeds"] == 2 for r in merged["configurations"])
    for name in ("heatmap.png", "curves.png", "table.md", "results.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert len(list((tmp_path / "tb").iterdir())) == 8  # one TensorBoard run per network
    best = [r for r in merged["networks"] if r["lr"] == 3.0 and r["hidden"] == [20]]
    assert all(max(r["test_correct"]) > 8000 for r in best)  # they learned


def test_bad_flags(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--lr", "0"])
    assert exit.value.code == 2 and "greater than 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--worker", "3/2"])
    assert "--worker must be I/N" in capsys.readouterr().err
