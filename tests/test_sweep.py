"""Many networks at once: each one in a sweep is exactly the network a single run trains."""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch
from torch.utils.data import DataLoader

from nndigits.learn.book import BookNetwork
from nndigits.learn.datamodule import Chunks, EpochOrder
from nndigits.learn.run import bare_trainer
from nndigits.studies.sweep import Config, grid, summarise, table, train_group
from nndigits.sweep import main, parser


class _Data:
    """A stand-in for a set-up MNISTDataModule over a slice of the real MNIST."""

    def __init__(self, mnist_train, n_train=2000, n_eval=500):
        from nndigits.learn.network import one_hot

        x, labels = mnist_train
        self.train = Chunks(x[:n_train], one_hot(labels[:n_train]))
        self.val = Chunks(x[50_000 : 50_000 + n_eval], labels[50_000 : 50_000 + n_eval])
        self.test = Chunks(x[-n_eval:], labels[-n_eval:])


def _single_run(config: Config, data, epochs: int, precision="64-true") -> torch.nn.Module:
    """The same configuration trained alone, as ``python -m nndigits.train`` does it: BookNetwork driven by
    pl.Trainer over the DataModule's kind of loader (Chunks + EpochOrder), in float64 unless told."""
    model = BookNetwork(config.sizes, config.lr, config.batch_size, config.seed)
    loader = DataLoader(
        data.train, batch_size=None, sampler=EpochOrder(len(data.train), config.batch_size, 20, config.seed)
    )
    trainer = bare_trainer(epochs, precision=precision, limit_val_batches=0)
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


@pytest.mark.parametrize("dtype, precision", [(torch.float32, "32-true"), (torch.float64, "64-true")])
def test_unpadded_networks_take_the_native_steps_of_a_single_run(mnist_train, dtype, precision):
    """One hidden size for all: on the CPU each network's steps are the native engine's, so each network is
    bit for bit the network its single run trains (both native, the same rows in the same order)."""
    data = _Data(mnist_train, n_train=1500)
    configs = grid([0.5, 3.0], [[30]], [10], [1, 2])
    nets = train_group(configs, data, epochs=2, dtype=dtype, chunk_steps=25)
    for k, config in enumerate(configs):
        alone = _single_run(config, data, epochs=2, precision=precision)
        assert all(torch.equal(p, q) for p, q in zip(alone.parameters(), nets.network(k).parameters())), config


def test_the_sweep_takes_its_engine_from_the_one_registry(mnist_train):
    """``engine="backprop"``: the batched torch step of all K (``learn/stacked.py``) takes the steps the native
    engine takes one network at a time (float64, to rounding); an engine with no form for K networks is refused."""
    data = _Data(mnist_train, n_train=400)
    configs = grid([0.5, 3.0], [[30]], [10], [1, 2])
    one_by_one = train_group(configs, data, epochs=1, dtype=torch.float64, chunk_steps=10)
    batched = train_group(configs, data, epochs=1, dtype=torch.float64, chunk_steps=10, engine="backprop")
    for k in range(len(configs)):
        for p, q in zip(one_by_one.network(k).parameters(), batched.network(k).parameters()):
            assert (p - q).abs().max() < 1e-9
    with pytest.raises(ValueError, match="unknown sweep engine 'autograd'"):
        train_group(configs, data, epochs=1, engine="autograd")


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


@pytest.mark.parametrize(
    "lrs, hiddens, ms, seeds, message",
    [
        ([0.0], [[30]], [10], [1], "eta must be greater than 0"),
        ([float("nan")], [[30]], [10], [1], "eta must be a number"),
        ([3.0], [[0]], [10], [1], "a layer size must be at least 1"),
        ([3.0], [[10, 10]], [10], [1], "one hidden layer or none"),
        ([3.0], [[30]], [50_001], [1], "m must be at most 50000"),
        ([3.0], [[30]], [10], [-1], "seed must be at least 0"),
        ([3.0], [[30]], [10], [2**32], "seed must be at most"),
        (list(range(1, 1001)), [[30]], [10], range(1, 102), "a grid of at most 100_000 networks, got 101_000"),
    ],
)
def test_the_grid_has_the_bounds_of_train(lrs, hiddens, ms, seeds, message):
    """The grid enters with chapter.py's bounds, the ones `python -m nndigits.train`'s flags and `fit` check."""
    with pytest.raises(ValueError, match=message):
        grid(lrs, hiddens, ms, seeds)


def test_another_grid_in_the_results_folder_is_refused_saying_what_differs(tmp_path):
    from nndigits.studies.sweep.store import Store, StoreError, manifest

    Store(tmp_path, manifest(grid([1.0, 3.0], [[10], [20]], [10], [1, 2]), 2, "float32", 1000))
    Store(tmp_path, manifest(grid([1.0, 3.0], [[10], [20]], [10], [1, 2]), 2, "float32", 1000))  # the same: taken
    other = manifest(grid([0.5, 3.0], [[10], []], [10], [1, 2, 3]), 3, "float64", None)
    with pytest.raises(StoreError) as error:
        Store(tmp_path, other)
    assert str(error.value) == (
        f"{tmp_path} holds another grid (--hidden 10 20 there, 10 0 here; --lr 1 3 there, 0.5 3 here; "
        "--seeds 2 there, 3 here; --epochs 2 there, 3 here; --dtype float32 there, float64 here; "
        "--limit 1000 there, all here); give another --out, or delete that folder to start over"
    )


def test_summary_counts_stuck_runs_only_on_runs_long_enough_to_tell():
    def records(epochs):
        return [
            {"hidden": [30], "lr": 3.0, "batch_size": 10, "seed": s, "test_correct": [first] * (epochs - 1) + [last]}
            for s, (first, last) in enumerate([(9000, 9500), (8000, 8300), (9100, 9400)], 1)
        ]

    (row,) = summarise(records(10))
    assert row["seeds"] == 3 and row["stuck"] == 1 and row["epochs"] == 10
    assert row["best_mean"] == pytest.approx((95 + 83 + 94) / 3)
    assert row["final_mean"] == pytest.approx((95 + 83 + 94) / 3) and row["best_max"] == 95
    (short,) = summarise(records(2))
    assert short["stuck"] is None and "too short to judge" in table([short])


FLAGS = ["--lr", "1", "3", "--hidden", "10", "20", "--seeds", "2", "--epochs", "2", "--limit", "1000"]


def _sweep(*args, env=None):
    """The command in a fresh process (stderr a pipe, as in a log file), without a Ray address."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "nndigits.sweep", *args], capture_output=True, text=True, timeout=600, env=env
    )


@pytest.mark.slow
def test_the_sweep_saves_each_task_resumes_and_refuses_another_grid(tmp_path):
    """In process: each task saved as it finishes; a rerun trains only what is missing, and equals the first."""
    out = tmp_path / "sweep"
    first = _sweep(*FLAGS, "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "Training 8 of 8 networks in 2 tasks" in first.stderr
    assert "\r" not in first.stderr and first.stderr.count(" done: 4 networks") == 2  # a line per task, no bar
    results = json.loads((out / "results.json").read_text())
    assert len(results["networks"]) == 8 and len(results["configurations"]) == 4
    for name in ("heatmap.png", "curves.png", "table.md", "results.csv", "manifest.json"):
        assert (out / name).stat().st_size > 0
    assert len(list((out / "tb").iterdir())) == 8  # one TensorBoard run per network
    assert "too short to judge" in (out / "table.md").read_text()
    assert all(max(r["test_correct"]) > 300 for r in results["networks"] if r["lr"] == 3.0)  # learned (chance: 100)
    epochs = (out / "results.csv").read_text().splitlines()[1].split(",")[5]
    assert epochs == "0"  # numbered from 0, as train numbers them

    again = _sweep(*FLAGS, "--out", str(out))
    assert again.returncode == 0 and "already trained" in again.stderr and "Training" not in again.stderr

    lost = sorted((out / "tasks").glob("*.json"))[0]  # as if the sweep had stopped before this task
    lost.unlink()
    resumed = _sweep(*FLAGS, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "Training 4 of 8 networks in 1 tasks" in resumed.stderr and "4 already in" in resumed.stderr
    assert json.loads((out / "results.json").read_text())["networks"] == results["networks"]

    other = _sweep(*FLAGS[:-4], "--epochs", "3", "--limit", "1000", "--out", str(out))
    assert other.returncode == 1 and other.stderr.count("\n") == 1
    assert "holds another grid (--epochs 2 there, 3 here)" in other.stderr

    (out / "table.md").unlink()
    report = _sweep("--report", "--out", str(out), "--no-tensorboard")
    assert report.returncode == 0 and (out / "table.md").read_text() in report.stdout


@pytest.mark.slow
def test_without_an_address_ray_is_not_imported(tmp_path):
    code = (
        "import sys; from nndigits.sweep import main; "
        f"assert main({[*FLAGS[:-4], '--epochs', '1', '--limit', '200', '--out', str(tmp_path), '--no-tensorboard']})"
        " == 0; print('ray' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_help_and_bad_flags_import_no_torch():
    code = (
        "import sys\nfrom nndigits.sweep import main\n"
        "for argv in (['--help'], ['--lr', '0'], ['--per-task', 'x']):\n"
        "    try: main(argv)\n"
        "    except SystemExit as e: print(e.code)\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split()[-4:] == ["0", "2", "2", "False"], result
    assert len(result.stderr.strip().splitlines()) == 2


def test_every_flag_says_its_default():
    import argparse

    for action in parser()._actions:
        if action.help != argparse.SUPPRESS and action.dest != "help":
            assert "default" in action.help, action.dest


def test_bad_flags(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--lr", "0"])
    assert exit.value.code == 2 and "greater than 0" in capsys.readouterr().err
    for flags, message in [
        (["--batch-size", "50001"], "-m: must be at most 50000 (the training set)"),
        (["--hidden", "-3"], "--hidden: must be at least 0"),
        (["--epochs", "10001"], "--epochs: must be at most 10000"),
        (["--seeds", "1001"], "must be at most 1000"),
    ]:
        with pytest.raises(SystemExit) as exit:
            main(flags)
        err = capsys.readouterr().err
        assert exit.value.code == 2 and message in err and err.count("\n") == 1, (flags, err)
    with pytest.raises(SystemExit):
        main(["--worker", "0/2"])  # gone: Ray does the splitting now
    assert "unrecognized arguments: --worker" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--hidden", "1000000000000", "--seeds", "1"], "a task of 1 networks [784, 1000000000000, 10] with m = 10"),
        (["--hidden", "1000", "--seeds", "1000", "--lr", *map(str, range(1, 101))], "a task of 100000 networks"),
    ],
)
def test_a_network_or_a_grid_larger_than_memory_is_one_line(tmp_path, capsys, flags, message):
    """Before any work (and before the results folder is claimed), as `train` refuses a network too big."""
    out = tmp_path / "out"
    assert main([*flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "GiB of memory" in err and "--per-task" in err and err.count("\n") == 1, err
    assert not out.exists()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _web_server() -> http.server.ThreadingHTTPServer:
    """An HTTP server on a loopback port, serving in a thread."""
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    return web


class _Silent(threading.Thread):
    """A server on a loopback port that accepts connections and says nothing (or closes them)."""

    def __init__(self, close: bool):
        super().__init__(daemon=True)
        self.server, self.close = socket.create_server(("127.0.0.1", 0)), close
        self.port, self.held = self.server.getsockname()[1], []

    def run(self):
        while True:
            connection, _ = self.server.accept()
            if self.close:
                connection.close()
            else:
                self.held.append(connection)


def test_an_address_with_something_else_behind_it_is_refused_at_once():
    """A web server, a silent server, one that hangs up: none is Ray, and each is said in one line within
    seconds (``ray.init`` itself would retry for minutes).  A real Ray head passes: tests/test_cluster.py."""
    from nndigits.studies.sweep.cluster import CONNECT_TIMEOUT_S, ClusterError, connect

    web = _web_server()
    silent, closing = _Silent(close=False), _Silent(close=True)
    silent.start(), closing.start()
    try:
        for port, said in [
            (web.server_address[1], "it answered"),
            (silent.port, f"no answer within {CONNECT_TIMEOUT_S:g} s"),
            (closing.port, "it closed the connection"),
        ]:
            start = time.monotonic()
            with pytest.raises(ClusterError) as error:
                connect(f"127.0.0.1:{port}")
            assert time.monotonic() - start < CONNECT_TIMEOUT_S + 2
            assert f"127.0.0.1:{port} is not a Ray cluster" in str(error.value) and said in str(error.value)
    finally:
        web.shutdown()


@pytest.mark.slow
def test_an_address_with_a_web_server_behind_it_is_one_line(tmp_path):
    web = _web_server()
    try:
        start = time.monotonic()
        result = _sweep(*FLAGS, "--out", str(tmp_path), "--address", f"127.0.0.1:{web.server_address[1]}")
        assert time.monotonic() - start < 60
    finally:
        web.shutdown()
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "is not a Ray cluster" in result.stderr


@pytest.mark.slow
def test_an_address_with_no_cluster_behind_it_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _sweep(*FLAGS, "--out", str(tmp_path), "--address", f"127.0.0.1:{port}")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"no Ray cluster at 127.0.0.1:{port}" in result.stderr
    result = _sweep(*FLAGS, "--out", str(tmp_path / "b"), "--address", "nonsense")
    assert result.returncode == 1 and "--address must be HOST:PORT" in result.stderr
