"""Seconds per training epoch of the book's run, for every way this project can take the steps.

One process, the same data (the book's 50,000 training images), the same
network ([784, 30, 10]), m = 10, eta = 3.0, the same initial weights; only
training is timed (no evaluation).  Ratios matter more than the absolute
numbers, which move with the machine's load.

    python experiments/benchmark.py                # CPU, writes experiments/results/benchmark.md
    python experiments/benchmark.py --device cuda  # the torch variants on a GPU, writes experiments/results/benchmark_cuda.md

Implementations:
  numpy per-example    the book's network.py algorithm: backprop one example at a time (nndigits.studies.scratch)
  numpy vectorised     the same, one matrix product per layer per mini-batch (nndigits.studies.scratch)
  torch autograd loop  quadratic_cost -> backward() -> torch.optim.SGD, a plain Python loop, no Lightning
  naive Lightning      the first thing one writes: a per-image Dataset + DataLoader(batch_size=10),
                       automatic optimization, self.log each step, a progress bar
  Lightning autograd   nndigits: BookNetwork(engine="autograd") through pl.Trainer (chunks of mini-batches)
  Lightning backprop   nndigits: BookNetwork(engine="backprop") through pl.Trainer -- what `python -m nndigits.train` runs
"""

from __future__ import annotations

import io
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from nndigits.cli import (
    Parser,
    UsageError,
    add_data_dir,
    add_threads,
    command,
    exit_with,
    mnist_or_fail,
    positive,
    quiet_lightning,
)
from nndigits.learn.atomic import write_atomic
from nndigits.learn.book import BookNetwork
from nndigits.learn.datamodule import MNISTDataModule
from nndigits.learn.mnist import TRAIN_SIZE, load_split
from nndigits.learn.network import one_hot, quadratic_cost
from nndigits.learn.sgd import autograd_step
from nndigits.studies import scratch

SIZES, ETA, M, SEED = [784, 30, 10], 3.0, 10, 1
HERE = Path(__file__).resolve().parent


def numpy_epoch(x, y, vectorised: bool):
    net = scratch.Network(SIZES, seed=SEED)
    order = np.random.default_rng(0).permutation(len(x))
    update = net.update_mini_batch_vectorised if vectorised else net.update_mini_batch
    start = time.perf_counter()
    for k in range(0, len(x), M):
        idx = order[k : k + M]
        update(x[idx], y[idx], ETA)
    return time.perf_counter() - start


def autograd_loop_epoch(x, y, device):
    model = BookNetwork(SIZES, ETA, M, SEED).net.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=ETA)
    errors = torch.empty(M, 10, device=device)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).to(device)
    _sync(device)
    start = time.perf_counter()
    xs, ys = x[order], y[order]
    for k in range(0, len(x), M):
        autograd_step(model, optimizer, xs[k : k + M], ys[k : k + M], errors[: len(xs[k : k + M])])
    _sync(device)
    return time.perf_counter() - start


class NaiveLightning(pl.LightningModule):
    """What a first Lightning version looks like: automatic optimization, one DataLoader batch per SGD step."""

    def __init__(self):
        super().__init__()
        self.net = BookNetwork(SIZES, ETA, M, SEED).net

    def training_step(self, batch, batch_idx):
        x, labels = batch
        cost = quadratic_cost(self.net(x), one_hot(labels, 10, x.dtype))
        self.log("train/cost", cost, prog_bar=True)
        return cost

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=ETA)


class EpochTimer(pl.Callback):
    """Wall time of each training epoch, without validation (the loops here run none)."""

    def __init__(self, device):
        self.device, self.times = device, []

    def on_train_epoch_start(self, trainer, pl_module):
        _sync(self.device)
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        _sync(self.device)
        self.times.append(time.perf_counter() - self.start)


def _trainer(epochs, device, timer, progress=False, logdir=None):
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        logger=pl.loggers.TensorBoardLogger(logdir) if logdir else False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )


def lightning_epochs(engine, epochs, device, data_dir):
    timer = EpochTimer(device)
    data = MNISTDataModule(data_dir, batch_size=M, seed=SEED)
    _trainer(epochs, device, timer).fit(BookNetwork(SIZES, ETA, M, SEED, engine=engine), datamodule=data)
    return timer.times


def naive_lightning_epochs(x, labels, epochs, device):
    timer = EpochTimer(device)
    loader = DataLoader(TensorDataset(x, labels), batch_size=M, shuffle=True)
    with tempfile.TemporaryDirectory() as logdir, redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
        _trainer(epochs, device, timer, progress=True, logdir=logdir).fit(NaiveLightning(), train_dataloaders=loader)
    return timer.times


def book_run_seconds(device):
    """Process start to exit of `python -m nndigits.train` (30 epochs, evaluation after each)."""
    with tempfile.TemporaryDirectory() as logdir:
        start = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "nndigits.train",
                "--no-progress",
                "--logdir",
                logdir,
                "--accelerator",
                "gpu" if device == "cuda" else "cpu",
            ],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return seconds, [line for line in result.stdout.splitlines() if line.startswith("Epoch 29")][0]


def sweep_benchmark(args, data_dir):
    """Seconds per training epoch of K networks trained together by nndigits.sweep, against one."""
    from nndigits.studies.sweep import grid, train_group

    data = MNISTDataModule(data_dir)
    data.prepare_data()
    data.setup("fit")

    def seconds(configs, pack="pad"):
        groups = {}
        for c in configs:
            groups.setdefault(c.hidden if pack == "group" else len(c.hidden), []).append(c)
        start = time.perf_counter()
        for members in groups.values():
            train_group(members, data, 1, args.device)
        _sync(args.device)
        return time.perf_counter() - start

    one = seconds(grid([3.0], [[30]], [10], [1]))
    ten = seconds(grid([0.1, 1, 3, 10, 30], [[30]], [10], [1, 2]))
    mixed = grid([3.0], [[10], [30], [100]], [10], [1, 2])
    pad, group = seconds(mixed, "pad"), seconds(mixed, "group")
    rows = [
        ("1 network [784, 30, 10]", 1, one),
        ("10 networks [784, 30, 10], 5 etas x 2 seeds", 10, ten),
        ("6 networks, hidden 10/30/100 x 2 seeds, padded to 100", 6, pad),
        ("6 networks, hidden 10/30/100 x 2 seeds, grouped by size", 6, group),
    ]
    lines = [
        f"Sweep engine, one epoch (training and the per-epoch evaluation), {torch.get_num_threads()} threads:",
        "",
        "| networks | K | s/epoch | per network | vs K x one |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {k} | {t:.2f} | {t / k:.3f} | {t / (k * one):.2f} |" for name, k, t in rows]
    if not args.skip_book_run:  # whole commands, process start to exit, 30 epochs
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "nndigits.sweep",
                    "--lr",
                    "0.1",
                    "1",
                    "3",
                    "10",
                    "30",
                    "--hidden",
                    "30",
                    "--seeds",
                    "2",
                    "--epochs",
                    "30",
                    "--out",
                    out,
                    "--no-progress",
                    "--device",
                    args.device,
                ],
                check=True,
                capture_output=True,
            )
            grid_seconds = time.perf_counter() - start
        single, _ = book_run_seconds(args.device)
        lines += [
            "",
            f"Whole commands, 30 epochs each, process start to exit: `python -m nndigits.sweep --lr 0.1 1 3 10 30 "
            f"--hidden 30 --seeds 2` (10 networks) took {grid_seconds:.1f} s; one `python -m nndigits.train` "
            f"took {single:.1f} s: the 10 runs in {grid_seconds / single:.1f}x the time of one.",
        ]
    return lines


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


@command("benchmark.py")
def main(argv=None):
    parser = Parser(prog="benchmark.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to time")
    parser.add_argument(
        "--epochs",
        type=positive(int, "--epochs", 1, maximum=100),
        default=3,
        help="epochs for the fast implementations (best is reported)",
    )
    parser.add_argument(
        "--slow-epochs",
        type=positive(int, "--slow-epochs", 1, maximum=100),
        default=1,
        help="epochs for the slow ones (numpy per-example, naive)",
    )
    add_threads(parser, 1, help="torch CPU threads (1 is fastest at m = 10)")
    parser.add_argument("--skip-book-run", action="store_true", help="skip timing the whole 30-epoch CLI run")
    parser.add_argument("--sweep", action="store_true", help="also time nndigits.sweep (K networks at once)")
    add_data_dir(parser)
    parser.add_argument(
        "--out",
        default=None,
        help="markdown table to write (default: experiments/results/benchmark.md, "
        "or benchmark_cuda.md with --device cuda, so a GPU run keeps the CPU table)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = str(HERE / "results" / ("benchmark_cuda.md" if args.device == "cuda" else "benchmark.md"))
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda, but torch sees no CUDA GPU")
    quiet_lightning()
    warnings.filterwarnings("ignore")  # all of them: only the timings belong on the console
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as `python -m nndigits.train` does (see there); all torch variants alike

    mnist_or_fail(args.data_dir)
    x, labels = load_split(args.data_dir, train=True, fetch=False)
    x, labels = x[:TRAIN_SIZE], labels[:TRAIN_SIZE]
    y = one_hot(labels)
    x64, y64 = x.double().numpy(), y.double().numpy()
    xd, yd, ld = x.to(args.device), y.to(args.device), labels.to(args.device)

    rows = []

    def record(name, times):
        best = min(times)
        rows.append((name, best, len(times)))
        print(
            f"{name:<22} {best:7.3f} s/epoch  (best of {len(times)}: {', '.join(f'{t:.3f}' for t in times)})",
            file=sys.stderr,
            flush=True,
        )

    if args.device == "cpu":
        record("numpy per-example", [numpy_epoch(x64, y64, False) for _ in range(args.slow_epochs)])
        record("numpy vectorised", [numpy_epoch(x64, y64, True) for _ in range(args.epochs)])
    record("torch autograd loop", [autograd_loop_epoch(xd, yd, args.device) for _ in range(args.epochs)])
    record("naive Lightning", naive_lightning_epochs(xd, ld, args.slow_epochs, args.device))
    record("Lightning autograd", lightning_epochs("autograd", args.epochs, args.device, args.data_dir))
    record("Lightning backprop", lightning_epochs("backprop", args.epochs, args.device, args.data_dir))

    ours = dict((n, t) for n, t, _ in rows)["Lightning backprop"]
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"{cpu}, {os.cpu_count()} cores"
    lines = [
        f"Device: {device_name}; torch {torch.__version__}, pytorch-lightning {pl.__version__}, "
        f"{args.threads} torch thread(s). One epoch of [784, 30, 10], m = 10, eta = 3 (5,000 SGD steps), "
        "training only.",
        "",
        "| implementation | s/epoch | epochs timed | time / nndigits |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {t:.3f} | {k} | {t / ours:.1f}x |" for n, t, k in rows]
    if not args.skip_book_run:
        seconds, last = book_run_seconds(args.device)
        lines += [
            "",
            f"The whole book run, `python -m nndigits.train --no-progress` (30 epochs, validation and test "
            f"after each, process start to exit): {seconds:.1f} s; it ended `{last}`.",
        ]
    if args.sweep:
        torch.set_num_threads(os.cpu_count() or 1)  # batched products of K networks are arithmetic-bound
        lines += [""] + sweep_benchmark(args, args.data_dir)
    text = "\n".join(lines) + "\n"
    print(text)
    write_atomic(
        Path(args.out),
        f"Command: `python experiments/benchmark.py{' --device cuda' if args.device == 'cuda' else ''}"
        f"{' --sweep' if args.sweep else ''}`\n\n" + text,
    )


if __name__ == "__main__":
    exit_with(main())
