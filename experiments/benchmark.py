"""Seconds per training epoch of the book's run, every implementation side by side, each at its best thread count.

One process, the same data (the book's 50,000 training images), the same
network ([784, 30, 10]), m = 10, eta = 3.0; only training is timed in the
table (no evaluation).  Every implementation is timed at 1 and at all CPU
threads (NumPy's BLAS threads through threadpoolctl, torch's through
``torch.set_num_threads``), in interleaved rounds -- round 1 times every
(implementation, threads) pair once, then round 2 again, and so on -- and the
minimum is kept: on a shared, loaded machine the minimum of interleaved
repeats is the fairest estimate of each, and ratios matter more than the
absolute numbers.  The slow ones (per-example NumPy, the autograd loops, naive Lightning) are
timed on a fifth of an epoch, scaled by 5, in the first round only.  Then the evaluation after an
epoch (validation and test, 20,000 forward passes), and whole commands:
``python -m nndigits.train`` for 30 epochs with each engine, process start
to exit.

    python experiments/benchmark.py                # writes experiments/results/benchmark.md
    python experiments/benchmark.py --device cuda  # the torch variants on a GPU, writes benchmark_cuda.md

Implementations:
  numpy per-example    the book's network.py algorithm: backprop one example at a time (nndigits.core.scratch)
  numpy vectorised     the same, one matrix product per layer per mini-batch, float64 (nndigits.core.scratch)
  numpy vectorised f32 the same 20-line loop in float32 (nndigits' default dtype)
  torch autograd loop  quadratic_cost -> backward() -> torch.optim.SGD, a plain Python loop, no Lightning
  naive Lightning      the first thing one writes: a per-image Dataset + DataLoader(batch_size=10),
                       automatic optimization, self.log each step, a progress bar
  Lightning <engine>   nndigits: BookNetwork(engine=...) through pl.Trainer (chunks of 500 mini-batches)
  bare <engine>        the engine's own loop over an epoch's mini-batches, no Lightning
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
from contextlib import redirect_stderr, redirect_stdout, suppress
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader, TensorDataset

from nndigits.cli.command import command, exit_with
from nndigits.cli.data import add_data_dir, mnist_or_fail
from nndigits.cli.errors import UsageError
from nndigits.cli.flags import Parser, positive
from nndigits.core import scratch
from nndigits.learn import native
from nndigits.learn.atomic import write_atomic
from nndigits.learn.book import BookNetwork
from nndigits.learn.datamodule import MNISTDataModule, Rows
from nndigits.learn.engines import make_engine
from nndigits.learn.mnist import TRAIN_SIZE, load_split
from nndigits.learn.network import one_hot, quadratic_cost
from nndigits.learn.run import quiet_lightning

SIZES, ETA, M, SEED = [784, 30, 10], 3.0, 10, 1
HERE = Path(__file__).resolve().parent
IMPORTS = "import os, nndigits.learn.book; os._exit(0)"  # what every training command imports first
PART = 5  # the slow implementations run 1/PART of an epoch, scaled by PART


def numpy_epoch(x, y, vectorised: bool, part: int = 1):
    net = scratch.Network(SIZES, seed=SEED)
    order = np.random.default_rng(0).permutation(len(x))[: len(x) // part]
    update = net.update_mini_batch_vectorised if vectorised else net.update_mini_batch
    start = time.perf_counter()
    for k in range(0, len(order), M):
        idx = order[k : k + M]
        update(x[idx], y[idx], ETA)
    return (time.perf_counter() - start) * part


def numpy_f32_epoch(x, y):
    """The book's SGD vectorised per mini-batch in float32: what a learner writes in twenty lines."""
    rng = np.random.default_rng(SEED)
    ws = [rng.standard_normal((o, i)).astype(np.float32) for i, o in zip(SIZES[:-1], SIZES[1:])]
    bs = [rng.standard_normal(o).astype(np.float32) for o in SIZES[1:]]
    order = np.random.default_rng(0).permutation(len(x))
    start = time.perf_counter()
    for k in range(0, len(x), M):
        idx = order[k : k + M]
        acts = [x[idx]]
        for w, b in zip(ws, bs):
            acts.append(1 / (1 + np.exp(-(acts[-1] @ w.T + b))))
        delta = (acts[-1] - y[idx]) * acts[-1] * (1 - acts[-1])
        for l in range(len(ws) - 1, -1, -1):
            previous = (delta @ ws[l]) * acts[l] * (1 - acts[l]) if l else None
            ws[l] -= (ETA / M) * (delta.T @ acts[l])
            bs[l] -= (ETA / M) * delta.sum(axis=0)
            delta = previous
    return time.perf_counter() - start


def autograd_loop_epoch(x, y, device, part=1):
    model = BookNetwork(SIZES, ETA, M, SEED).net.to(device)
    engine = make_engine("autograd", model, ETA, M)  # its own torch.optim.SGD; a Python loop over mini-batches
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[: len(x) // part].to(device)
    _sync(device)
    start = time.perf_counter()
    engine.steps(Rows(x[order], y[order]))
    _sync(device)
    return (time.perf_counter() - start) * part


def bare_epoch(engine, x, y, gather=True):
    """One epoch of an engine's own loop, no Lightning, in chunks of 500 mini-batches: each chunk gathered
    (``x[chunk]``), or -- the native engine as the DataModule now feeds it -- its rows read by number."""
    steps = make_engine(engine, BookNetwork(SIZES, ETA, M, SEED).net, ETA, M).steps
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for chunk in order.split(M * 500):
        steps(Rows(x, y, chunk) if engine == "native" and not gather else Rows(x[chunk], y[chunk]))
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


def _trainer(epochs, device, timer, progress=False, logdir=None, **options):
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
        **options,
    )


def lightning_epoch(engine, device, data, part=1):
    """The second of two epochs (the first pays Lightning's start-up), as `python -m nndigits.train` trains."""
    timer = EpochTimer(device)
    trainer = _trainer(2, device, timer, limit_train_batches=1 / part if part > 1 else None)
    trainer.fit(BookNetwork(SIZES, ETA, M, SEED, engine=engine), datamodule=data)
    return timer.times[-1] * part


def naive_lightning_epoch(x, labels, device):
    timer = EpochTimer(device)
    loader = DataLoader(TensorDataset(x, labels), batch_size=M, shuffle=True)
    with tempfile.TemporaryDirectory() as logdir, redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
        _trainer(1, device, timer, progress=True, logdir=logdir, limit_train_batches=1 / PART).fit(
            NaiveLightning(), train_dataloaders=loader
        )
    return timer.times[-1] * PART


def evaluation_seconds(x_eval, labels_eval):
    """One epoch's evaluation as BookNetwork.validation_step computes it: 20,000 forward passes, accuracy, cost."""
    net = BookNetwork(SIZES, ETA, M, SEED).net
    start = time.perf_counter()
    with torch.no_grad():
        for xs, ls in ((x_eval[:10000], labels_eval[:10000]), (x_eval[10000:], labels_eval[10000:])):
            a = net(xs)
            int((a.argmax(dim=1) == ls).sum()), float((one_hot(ls, 10, a.dtype) - a).square().sum())
    return time.perf_counter() - start


def command_seconds(args):
    """Process start to exit of a `python -m nndigits.train` command; returns (seconds, last Epoch line)."""
    with tempfile.TemporaryDirectory() as logdir:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "nndigits.train", "--no-progress", "--logdir", logdir, *args],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    epochs = [line for line in result.stdout.splitlines() if line.startswith("Epoch ")]
    return seconds, epochs[-1]


def sweep_benchmark(args, data_dir):
    """Seconds per training epoch of K networks trained together by nndigits.sweep, against one."""
    from nndigits.studies.sweep import grid, train_group

    data = MNISTDataModule(data_dir)
    data.prepare_data()
    data.setup("fit")

    def seconds(configs, pack="pad", engine="native"):
        groups = {}
        for c in configs:
            groups.setdefault(c.hidden if pack == "group" else len(c.hidden), []).append(c)
        start = time.perf_counter()
        for members in groups.values():
            train_group(members, data, 1, args.device, engine=engine)
        _sync(args.device)
        return time.perf_counter() - start

    ten_grid = grid([0.1, 1, 3, 10, 30], [[30]], [10], [1, 2])
    mixed = grid([3.0], [[10], [30], [100]], [10], [1, 2])
    lines = [
        "Sweep engine, one epoch (training and the per-epoch evaluation), at 1 thread (the sweep's default "
        "per task) and at every core:",
        "",
        "| networks | K | threads | s/epoch | per network | vs K x one |",
        "|---|---|---|---|---|---|",
    ]
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        one = seconds(grid([3.0], [[30]], [10], [1]))
        rows = [
            ("1 network [784, 30, 10]", 1, one),
            ("10 networks [784, 30, 10], 5 etas x 2 seeds (native, one by one)", 10, seconds(ten_grid)),
            (
                "the same 10, one batched torch step for all (engine='backprop')",
                10,
                seconds(ten_grid, engine="backprop"),
            ),
            ("6 networks, hidden 10/30/100 x 2 seeds, padded to 100 (batched torch)", 6, seconds(mixed, "pad")),
            ("6 networks, hidden 10/30/100 x 2 seeds, grouped by size (native)", 6, seconds(mixed, "group")),
        ]
        lines += [f"| {name} | {k} | {threads} | {t:.2f} | {t / k:.3f} | {t / (k * one):.2f} |" for name, k, t in rows]
    if not args.skip_commands:  # whole commands, process start to exit, 30 epochs
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
        single, _ = command_seconds(["--accelerator", "gpu" if args.device == "cuda" else "cpu"])
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


def _busy() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("inf")


def _load() -> str:
    try:
        return "load average (1, 5, 15 min) " + ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


@command("benchmark.py")
def main(argv=None):
    parser = Parser(prog="benchmark.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to time")
    parser.add_argument(
        "--rounds",
        type=positive(int, "--rounds", 1, maximum=100),
        default=3,
        help="interleaved rounds; the minimum of each is reported",
    )
    parser.add_argument(
        "--command-rounds",
        type=positive(int, "--command-rounds", 1, maximum=100),
        default=2,
        help="repeats of each whole command",
    )
    parser.add_argument("--skip-commands", action="store_true", help="skip timing the whole 30-epoch commands")
    parser.add_argument("--sweep", action="store_true", help="also time nndigits.sweep (K networks at once)")
    add_data_dir(parser)
    parser.add_argument("--out", default=None, help="markdown file (default: experiments/results/benchmark.md)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = str(HERE / "results" / ("benchmark_cuda.md" if args.device == "cuda" else "benchmark.md"))
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda, but torch sees no CUDA GPU")
    quiet_lightning()
    warnings.filterwarnings("ignore")  # all of them: only the timings belong on the console
    torch.set_flush_denormal(True)  # as `python -m nndigits.train` does (see there); all torch variants alike
    load_before = _load()
    build_start = time.perf_counter()
    native.load_extension()
    build = time.perf_counter() - build_start

    mnist_or_fail(args.data_dir)
    x, labels = load_split(args.data_dir, train=True)
    x_eval, labels_eval = torch.cat([x[TRAIN_SIZE:], load_split(args.data_dir, train=False)[0]]), None
    labels_eval = torch.cat([labels[TRAIN_SIZE:], load_split(args.data_dir, train=False)[1]])
    x, labels = x[:TRAIN_SIZE], labels[:TRAIN_SIZE]
    y = one_hot(labels)
    x64, y64 = x.double().numpy(), y.double().numpy()
    x32, y32 = x.numpy(), y.numpy()
    xd, yd, ld = x.to(args.device), y.to(args.device), labels.to(args.device)
    data = MNISTDataModule(args.data_dir, batch_size=M, seed=SEED)
    data.prepare_data()
    data.setup("fit")

    cpu = args.device == "cpu"
    # name -> (numpy or torch threads, slow?, run); slow ones run a fifth of an epoch, in the first round only
    impls = {}
    if cpu:
        impls["numpy per-example"] = ("numpy", True, lambda: numpy_epoch(x64, y64, False, PART))
        impls["numpy vectorised"] = ("numpy", False, lambda: numpy_epoch(x64, y64, True))
        impls["numpy vectorised f32"] = ("numpy", False, lambda: numpy_f32_epoch(x32, y32))
    impls["torch autograd loop"] = ("torch", True, lambda: autograd_loop_epoch(xd, yd, args.device, PART))
    impls["naive Lightning"] = ("torch", True, lambda: naive_lightning_epoch(xd, ld, args.device))
    impls["Lightning autograd"] = ("torch", True, lambda: lightning_epoch("autograd", args.device, data, PART))
    impls["Lightning backprop"] = ("torch", False, lambda: lightning_epoch("backprop", args.device, data))
    if cpu:
        impls["Lightning native"] = ("torch", False, lambda: lightning_epoch("native", args.device, data))
        impls["bare backprop"] = ("torch", False, lambda: bare_epoch("backprop", x, y))
        impls["bare native, chunks gathered"] = ("torch", False, lambda: bare_epoch("native", x, y))
        impls["bare native, rows by number"] = ("torch", False, lambda: bare_epoch("native", x, y, gather=False))
    thread_counts = sorted({1, os.cpu_count() or 1})
    times: dict[tuple[str, int], list[float]] = {}
    for r in range(args.rounds):
        for name, (kind, slow, run) in impls.items():
            if slow and r:
                continue
            # torch's per-operation loops at 2 threads on a loaded 2-core machine, measured once: the autograd
            # loop took 348 s per epoch against 13 s at 1 thread, Lightning backprop 55 s against 1.8 s, bare
            # backprop 70 s against 2.4 s (OpenMP threads waiting on each other for every tiny op).  They run at 1
            # thread; the NumPy ones and the native engine (whose steps are one thread of C++) are timed at both.
            for threads in thread_counts if kind == "numpy" or "native" in name else [1]:
                torch.set_num_threads(threads)
                with threadpool_limits(threads if kind == "numpy" else None):
                    t = run()
                times.setdefault((name, threads), []).append(t)
                print(f"round {r + 1}: {name:<22} {threads} thread(s) {t:7.3f} s/epoch", file=sys.stderr, flush=True)
    evaluation = {}
    for threads in thread_counts:
        torch.set_num_threads(threads)
        evaluation[threads] = min(evaluation_seconds(x_eval, labels_eval) for _ in range(5))

    best = {name: min((min(times[name, t]), t) for t in thread_counts if (name, t) in times) for name in impls}
    ours = "Lightning native" if cpu and native.available() else "Lightning backprop"
    numpy_best = min((best[n] for n in ("numpy vectorised", "numpy vectorised f32")), default=None) if cpu else None
    cpu_name = platform.processor() or platform.machine()
    with suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        cpu_name = next(l.split(":", 1)[1].strip() for l in info if l.startswith("model name"))
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"{cpu_name}, {os.cpu_count()} cores"
    lines = [
        f"Device: {device_name}; torch {torch.__version__}, pytorch-lightning {pl.__version__}, "
        f"numpy {np.__version__}. "
        f"One epoch of [784, 30, 10], m = 10, eta = 3 (5,000 SGD steps), training only; each implementation at "
        f"its best of {', '.join(map(str, thread_counts))} thread(s), minimum of {args.rounds} interleaved rounds "
        f"(the slow ones: one round on a fifth of an epoch, times 5). The torch per-operation loops ran at 1 thread "
        "only: at 2 threads on this loaded machine they took 20-30x longer (see the comment in the script). "
        f"Machine load: {load_before} at the start, {_load()} at the end "
        f"({'a quiet machine' if _busy() < 1.5 else 'a shared machine: absolute times are inflated'}; the "
        "rounds show the noise, the ratios measured side by side are what to read).",
        "",
        f"| implementation | s/epoch | best threads | time / {ours} | time / best NumPy vectorised |",
        "|---|---|---|---|---|",
    ]
    for name in impls:
        t, threads = best[name]
        vs_numpy = f"{t / numpy_best[0]:.2f}x" if numpy_best else "-"
        lines.append(f"| {name} | {t:.3f} | {threads} | {t / best[ours][0]:.2f}x | {vs_numpy} |")
    lines += [
        "",
        "Per-round times (s/epoch), for judging the noise: "
        + "; ".join(f"{n} @{t}: " + ", ".join(f"{v:.3f}" for v in vs) for (n, t), vs in times.items()),
        "",
        "Evaluation after an epoch (validation + test, 20,000 forward passes, as validation_step computes them): "
        + ", ".join(f"{evaluation[t] * 1000:.0f} ms at {t} thread(s)" for t in thread_counts)
        + ".",
    ]
    if cpu:
        lines.append(
            f"Native extension: {'available' if native.available() else 'unavailable: ' + str(native.unavailable())}; "
            f"building or loading it took {build:.1f} s in this process "
            f"({'a fresh build' if build > 3 else 'loaded from the cache'})."
        )
    if not args.skip_commands:
        accel = ["--accelerator", "gpu" if args.device == "cuda" else "cpu"]
        runs: dict[str, list[tuple[float, str]]] = {}
        engines = ["native", "backprop"] if cpu else ["backprop"]
        for _ in range(args.command_rounds):
            for engine in engines:
                for epochs in (30, 1):
                    key = f"--engine {engine} --epochs {epochs}"
                    runs.setdefault(key, []).append(
                        command_seconds([*accel, "--engine", engine, "--epochs", str(epochs)])
                    )
                    print(f"command {key}: {runs[key][-1][0]:.1f} s", file=sys.stderr, flush=True)
        lines += [
            "",
            "Whole commands, process start to exit (`python -m nndigits.train --no-progress ...`, "
            "evaluation, checkpoints and TensorBoard logs every epoch), minimum of "
            f"{args.command_rounds} interleaved runs:",
            "",
            "| command | seconds | per extra epoch | ended |",
            "|---|---|---|---|",
        ]
        for engine in engines:
            full, one = min(runs[f"--engine {engine} --epochs 30"]), min(runs[f"--engine {engine} --epochs 1"])
            lines.append(
                f"| `--engine {engine}` (30 epochs) | {full[0]:.1f} | {(full[0] - one[0]) / 29:.3f} | `{full[1]}` |"
            )
            lines.append(f"| `--engine {engine} --epochs 1` | {one[0]:.1f} | | |")
        imports = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", IMPORTS], check=True)
            imports.append(time.perf_counter() - start)
        lines.append(
            f"\nProcess start, importing torch and Lightning, exit (`python -c '{IMPORTS}'`, as the command ends): "
            f"{min(imports):.1f} s (minimum of 3): the part of the whole command that is not nndigits' to shorten."
        )
    if args.sweep:
        lines += [""] + sweep_benchmark(args, args.data_dir)
    text = "\n".join(lines) + "\n"
    print(text)
    write_atomic(
        Path(args.out),
        f"Command: `python experiments/benchmark.py{''.join(' ' + a for a in (argv or sys.argv[1:]))}`\n\n" + text,
    )


if __name__ == "__main__":
    exit_with(main())
