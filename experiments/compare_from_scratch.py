"""Lightning vs. the from-scratch NumPy network: same data, same orders, same start.

For each seed s, trains

* ``lightning``: ``BookNetwork(seed=s)`` + ``MNISTDataModule(seed=s)`` through
  ``pl.Trainer`` (as ``python -m nndigits.train`` does), and
* ``numpy``: ``nndigits.core.scratch.Network`` (vectorised mini-batch step, float64)
  from the Lightning model's initial weights, visiting the training set in
  ``EpochOrder.order(e)`` -- the very order the DataModule gives Lightning,

and records the test accuracy after every epoch.  The two should tell the same
story (the parity tests show they are the same algorithm; in float32 Lightning
drifts from float64 NumPy by rounding, which SGD amplifies over an epoch, so
individual runs differ but the distributions should not).

Writes, under ``--out`` (default experiments/results/compare):
  compare.md    per-epoch test accuracy mean +- std, best epoch, runs stuck below 90%, s/epoch
  compare.json  every per-epoch number of every run
  tb/lightning_seedS, tb/numpy_seedS   TensorBoard runs (tag test/accuracy), to overlay:
                                       tensorboard --logdir <out>/tb
and the figure experiments/figures/compare_from_scratch.png.

    python experiments/compare_from_scratch.py                 # 5 seeds x 30 epochs (slow on CPU)
    python experiments/compare_from_scratch.py --seeds 2 --epochs 2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

from nndigits.cli.command import command, exit_with
from nndigits.cli.data import add_data_dir, mnist_or_fail
from nndigits.cli.errors import UsageError
from nndigits.cli.flags import Parser, add_epochs, add_seeds, add_threads, positive, seed_range
from nndigits.learn.atomic import save_figure, write_atomic
from nndigits.learn.run import quiet_lightning

ROOT = Path(__file__).resolve().parent.parent

STUCK_BELOW = 0.90  # a run whose best epoch is below this has "got stuck" (the book mentions such runs)


def parse_args(argv=None) -> argparse.Namespace:
    p = Parser(prog="compare_from_scratch.py", description=__doc__.split("\n\n")[0])
    add_seeds(p, 5)
    add_epochs(p, 30)
    p.add_argument(
        "--sizes",
        type=positive(int, "--sizes", 1),
        nargs="+",
        default=[784, 30, 10],
        help="layer sizes (default: 784 30 10)",
    )
    p.add_argument(
        "--lr",
        "--eta",
        type=positive(float, "--lr", 0, strict=True),
        default=3.0,
        help="learning rate eta (default: 3.0)",
    )
    p.add_argument(
        "--batch-size", "-m", type=positive(int, "--batch-size", 1), default=10, help="mini-batch size m (default: 10)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "experiments" / "results" / "compare",
        help="output folder (default: experiments/results/compare)",
    )
    p.add_argument(
        "--figure",
        type=Path,
        default=ROOT / "experiments" / "figures" / "compare_from_scratch.png",
        help="where to draw accuracy vs epoch (default: experiments/figures/compare_from_scratch.png)",
    )
    p.add_argument(
        "--engine",
        choices=["backprop", "autograd"],
        default="backprop",
        help="BookNetwork's step engine (default: backprop)",
    )
    p.add_argument(
        "--precision",
        choices=["32-true", "64-true"],
        default="32-true",
        help="Lightning's precision (default: 32-true, as nndigits.train; NumPy is always float64)",
    )
    p.add_argument("--accelerator", default="cpu", help="Lightning accelerator (default: cpu, like NumPy)")
    add_threads(p, 1, help="CPU threads for torch and NumPy's BLAS")
    add_data_dir(p)
    args = p.parse_args(argv)
    if args.sizes[0] != 784 or args.sizes[-1] != 10:
        raise UsageError(f"--sizes must start with 784 (pixels) and end with 10 (digits), got {args.sizes}")
    return args


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fresh_dir(path: Path) -> Path:
    """An empty run folder, so a rerun's TensorBoard events never mix with an old run's."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# --- the two implementations ---------------------------------------------------------


def run_lightning(args, seed: int, tb_root: Path) -> dict:
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import TensorBoardLogger

    from nndigits.learn.book import BookNetwork
    from nndigits.learn.datamodule import MNISTDataModule

    class Timer(pl.Callback):
        """Seconds of training per epoch (from the first chunk to the last, evaluation excluded), and progress."""

        def __init__(self):
            self.seconds = []

        def on_train_epoch_start(self, trainer, module):
            self.start = self.end = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.end = time.perf_counter()

        def on_validation_end(self, trainer, module):  # after BookNetwork.on_validation_epoch_end appended the epoch
            self.seconds.append(self.end - self.start)
            h = module.history[-1]
            log(
                f"[lightning seed {seed}] epoch {h['epoch'] + 1}/{args.epochs}: {h['test/correct']} / "
                f"{h['test/total']} ({h['test/accuracy']:.2%})  train {self.seconds[-1]:.1f} s"
            )

    model = BookNetwork(args.sizes, lr=args.lr, batch_size=args.batch_size, seed=seed, engine=args.engine)
    start = [
        (l.weight.detach().double().numpy().copy(), l.bias.detach().double().numpy().copy()) for l in model.net.layers
    ]
    data = MNISTDataModule(args.data_dir, batch_size=args.batch_size, seed=seed)
    name = f"lightning_seed{seed}"
    fresh_dir(tb_root / name)
    logger = TensorBoardLogger(str(tb_root), name=name, version="", default_hp_metric=False)
    timer = Timer()
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=1,
        precision=args.precision,
        logger=logger,
        callbacks=[timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )
    with contextlib.redirect_stdout(io.StringIO()):  # BookNetwork prints the book's Epoch lines; we log our own
        trainer.fit(model, datamodule=data)
    logger.finalize("success")
    return {
        "correct": [h["test/correct"] for h in model.history],
        "total": model.history[0]["test/total"],
        "seconds": timer.seconds,
        "start": start,
    }


def run_numpy(args, seed: int, start, train, test, tb_root: Path) -> dict:
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    from nndigits.core.scratch import Network
    from nndigits.learn.datamodule import EpochOrder

    x, y = train
    x_test, labels_test, y_test = test
    net = Network(args.sizes, weights=[w for w, _ in start], biases=[b for _, b in start])
    order = EpochOrder(len(x), args.batch_size, 1, seed)  # the DataModule's order; it does not depend on chunking
    writer = SummaryWriter(str(fresh_dir(tb_root / f"numpy_seed{seed}")))
    correct, seconds = [], []
    try:
        for epoch in range(args.epochs):
            index = order.order(epoch).numpy()
            t0 = time.perf_counter()
            net.SGD(x, y, epochs=1, m=args.batch_size, eta=args.lr, order=lambda _, index=index: index)
            seconds.append(time.perf_counter() - t0)
            a = net.feedforward(x_test)  # one forward pass for both numbers (as Network.evaluate and .cost)
            correct.append(int(np.sum(np.argmax(a, axis=1) == labels_test)))
            writer.add_scalar("test/accuracy", correct[-1] / len(x_test), epoch)
            writer.add_scalar("test/cost", float(np.sum((y_test - a) ** 2) / (2 * len(a))), epoch)
            log(
                f"[numpy     seed {seed}] epoch {epoch + 1}/{args.epochs}: {correct[-1]} / {len(x_test)} "
                f"({correct[-1] / len(x_test):.2%})  train {seconds[-1]:.1f} s"
            )
    finally:
        writer.close()
    return {"correct": correct, "total": len(x_test), "seconds": seconds}


# --- summary -----------------------------------------------------------------------------

IMPLEMENTATIONS = ("lightning", "numpy")


def summarise(runs: dict) -> dict:
    """Per implementation: accuracy per epoch (runs x epochs), mean/std curves, best epochs, stuck runs, s/epoch."""
    import numpy as np

    out = {}
    for impl in IMPLEMENTATIONS:
        acc = np.array([[c / r["total"] for c in r["correct"]] for r in runs[impl]])
        best = acc.max(axis=1)
        secs = np.array([s for r in runs[impl] for s in r["seconds"]])
        out[impl] = {
            "acc": acc,
            "mean": acc.mean(axis=0),
            "std": acc.std(axis=0),
            "best_epoch_of_mean": int(acc.mean(axis=0).argmax()) + 1,
            "best_acc": best,
            "best_epoch": acc.argmax(axis=1) + 1,
            "stuck": int((best < STUCK_BELOW).sum()),
            "seconds_mean": float(secs.mean()),
            "seconds_std": float(secs.std()),
        }
    return out


def markdown(args, seeds, summary) -> str:
    pct = lambda m, s: f"{100 * m:.2f} ± {100 * s:.2f}"
    L, N = summary["lightning"], summary["numpy"]
    lines = [
        f"# Lightning vs. from-scratch NumPy: sizes {args.sizes}, eta = {args.lr:g}, m = {args.batch_size}",
        "",
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), {args.epochs} epochs; test accuracy (%) after each "
        f"epoch, mean ± std over seeds (std over runs, ddof 0). Lightning: engine {args.engine}, precision "
        f"{args.precision}, {args.accelerator}; NumPy: float64, vectorised mini-batch step. Same initial weights "
        f"and the same training order (EpochOrder) for both in each seed.",
        "",
        "| epoch | Lightning | NumPy |",
        "|---:|---:|---:|",
    ]
    for e in range(args.epochs):
        lines.append(f"| {e + 1} | {pct(L['mean'][e], L['std'][e])} | {pct(N['mean'][e], N['std'][e])} |")
    lines += [
        "",
        "| | Lightning | NumPy |",
        "|---|---:|---:|",
        f"| best epoch of the mean curve | {L['best_epoch_of_mean']} ({100 * L['mean'].max():.2f}) "
        f"| {N['best_epoch_of_mean']} ({100 * N['mean'].max():.2f}) |",
        f"| best accuracy per run, mean ± std | {pct(L['best_acc'].mean(), L['best_acc'].std())} "
        f"| {pct(N['best_acc'].mean(), N['best_acc'].std())} |",
        f"| best epoch per run | {', '.join(map(str, L['best_epoch']))} | {', '.join(map(str, N['best_epoch']))} |",
        f"| runs stuck below {STUCK_BELOW:.0%} at their best epoch | {L['stuck']} / {len(seeds)} "
        f"| {N['stuck']} / {len(seeds)} |",
        f"| training seconds per epoch, mean ± std | {L['seconds_mean']:.2f} ± {L['seconds_std']:.2f} "
        f"| {N['seconds_mean']:.2f} ± {N['seconds_std']:.2f} |",
        "",
    ]
    return "\n".join(lines)


def draw(path: Path, args, summary) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    epochs = np.arange(1, args.epochs + 1)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for impl, color in zip(IMPLEMENTATIONS, ("tab:blue", "tab:orange")):
        s = summary[impl]
        n = len(s["acc"])
        ax.plot(epochs, 100 * s["mean"], color=color, marker="o", ms=3, label=f"{impl} (mean of {n})")
        ax.fill_between(epochs, 100 * (s["mean"] - s["std"]), 100 * (s["mean"] + s["std"]), color=color, alpha=0.2)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{args.sizes}, eta = {args.lr:g}, m = {args.batch_size}: mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


@command("compare_from_scratch.py")
def main(argv=None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before NumPy loads its BLAS
        os.environ[var] = str(args.threads)
    import numpy as np
    import torch

    from nndigits.learn.mnist import TRAIN_SIZE, load_split

    torch.set_num_threads(args.threads)
    quiet_lightning()

    mnist_or_fail(args.data_dir)
    x, labels = load_split(args.data_dir, train=True, fetch=False)
    x_test, labels_test = load_split(args.data_dir, train=False, fetch=False)
    train = (x[:TRAIN_SIZE].double().numpy(), np.eye(10)[labels[:TRAIN_SIZE].numpy()])
    test = (x_test.double().numpy(), labels_test.numpy(), np.eye(10)[labels_test.numpy()])
    del x, labels, x_test, labels_test

    tb_root = args.out / "tb"
    seeds = seed_range(args.seeds)
    runs = {impl: [] for impl in IMPLEMENTATIONS}
    for seed in seeds:
        lit = run_lightning(args, seed, tb_root)
        runs["lightning"].append({k: v for k, v in lit.items() if k != "start"} | {"seed": seed})
        runs["numpy"].append(run_numpy(args, seed, lit["start"], train, test, tb_root) | {"seed": seed})

    summary = summarise(runs)
    table = markdown(args, seeds, summary)
    print(table)
    report = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "seeds": seeds,
        "stuck_below": STUCK_BELOW,
        "runs": runs,
        "summary": {
            impl: {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in s.items()} for impl, s in summary.items()
        },
    }
    write_atomic(args.out / "compare.md", table)
    write_atomic(args.out / "compare.json", json.dumps(report, indent=1) + "\n")
    draw(args.figure, args, summary)
    log(
        f"wrote {args.out / 'compare.md'}, {args.out / 'compare.json'}, {args.figure}; "
        f"TensorBoard: tensorboard --logdir {tb_root}"
    )
    return 0


if __name__ == "__main__":
    exit_with(main())
