"""What torchmetrics costs the book's run: its evaluation sums against hand-kept Python sums, side by side.

``BookNetwork`` keeps the per-epoch validation and test sums (images right, summed
cost, images seen) in torchmetrics ``SumMetric``s (``learn.book.EvaluationSums``).
The issue's rule: use the library unless it costs the book's run more than 2%.
This script trains the book's network ([784, 30, 10], eta = 3, m = 10) through
``pl.Trainer`` twice per repeat, in one process, alternating: once as it is, once
with the sums kept as plain Python numbers (what book.py did before), everything
else equal.  It reports the CPU seconds (``time.process_time``) per whole run and
spent in each epoch's evaluation, and their ratios, and the wall-clock seconds too.
On a shared machine wall-clock time mostly measures the other processes; CPU time
is what the run itself costs.

    python experiments/evaluation_cost.py                   # 4 repeats x 3 epochs
    python experiments/evaluation_cost.py --repeats 5 --epochs 2

Writes experiments/results/evaluation_cost.md.  Timings are of this machine under
whatever load it carries; the ratios, measured side by side, are what to read.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from contextlib import redirect_stdout

import pytorch_lightning as pl
import torch

from nndigits.cli.flags import Parser, positive
from nndigits.learn.atomic import write_atomic
from nndigits.learn.book import BookNetwork, EvaluationSums
from nndigits.learn.datamodule import MNISTDataModule
from nndigits.learn.mnist import DataError
from nndigits.learn.run import bare_trainer, quiet_lightning


class HandTotals:
    """The sums as plain Python numbers (tensors added to ints), the interface of ``EvaluationSums``."""

    def __init__(self) -> None:
        self.sums: list | None = None

    def reset(self) -> None:
        self.sums = None

    def update(self, correct, cost, n: int) -> None:
        if self.sums is None:
            self.sums = [0, 0.0, 0]
        self.sums[0] += correct
        self.sums[1] += cost
        self.sums[2] += n

    def totals(self):
        return None if self.sums is None else (int(self.sums[0]), float(self.sums[1]), self.sums[2])


class HandSums(BookNetwork):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sums = (HandTotals(), HandTotals())  # the variant measured


class EvalClock(pl.Callback):
    """CPU seconds spent in each epoch's evaluation (validation and test sets)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_validation_epoch_start(self, trainer, module):
        self._start = time.process_time()

    def on_validation_epoch_end(self, trainer, module):
        self.seconds.append(time.process_time() - self._start)


def fit(cls, data, epochs: int, seed: int) -> tuple[float, float, float, list[dict]]:
    """(CPU seconds, wall seconds, CPU seconds per evaluation, history) of one run."""
    model, clock = cls(seed=seed), EvalClock()
    trainer = bare_trainer(epochs, callbacks=[clock])
    cpu, wall = time.process_time(), time.perf_counter()
    with open(os.devnull, "w") as null, redirect_stdout(null):
        trainer.fit(model, datamodule=data)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, sum(clock.seconds) / len(clock.seconds), model.history


def bookkeeping_seconds(make, batches: int = 2, rounds: int = 2000) -> float:
    """Seconds per epoch of the sums alone -- reset, one update per evaluation batch, totals -- for both sets.

    A whole run's timing under load varies by more than the sums can cost; this isolates them."""
    sums = (make(), make())
    correct, cost = torch.tensor(9000), torch.tensor(800.0)
    start = time.perf_counter()
    for _ in range(rounds):
        for s in sums:
            s.reset()
        for s in sums:
            for _ in range(batches):
                s.update(correct, cost, 10_000 // batches)
        for s in sums:
            s.totals()
    return (time.perf_counter() - start) / rounds


def main(argv=None) -> int:
    p = Parser(prog="evaluation_cost.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=positive(int, "--repeats", 1), default=4)
    p.add_argument("--epochs", type=positive(int, "--epochs", 1), default=3)
    p.add_argument("--seed", type=positive(int, "--seed", 0), default=1)
    p.add_argument("--out", default="experiments/results/evaluation_cost.md")
    args = p.parse_args(argv)
    quiet_lightning()
    torch.set_num_threads(1)  # as python -m nndigits.train does
    torch.set_flush_denormal(True)
    data = MNISTDataModule(batch_size=10, seed=args.seed)
    try:
        data.prepare_data()
        data.setup()
    except (DataError, OSError) as error:
        print(f"evaluation_cost.py: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    fit(BookNetwork, data, 1, args.seed)  # warm-up: the first fit in a process pays one-off costs
    runs: dict[str, list[float]] = {"torchmetrics": [], "hand": []}
    walls: dict[str, list[float]] = {"torchmetrics": [], "hand": []}
    evals: dict[str, list[float]] = {"torchmetrics": [], "hand": []}
    for r in range(args.repeats):
        for name, cls in (("torchmetrics", BookNetwork), ("hand", HandSums))[:: 1 if r % 2 == 0 else -1]:
            seconds, wall, eval_seconds, history = fit(cls, data, args.epochs, args.seed)
            runs[name].append(seconds)
            walls[name].append(wall)
            evals[name].append(eval_seconds)
            print(
                f"{name:12s} run {seconds:6.2f} s CPU ({wall:6.2f} s wall)   "
                f"evaluation {eval_seconds * 1000:6.1f} ms/epoch   "
                f"{history[-1]['test/correct']} / 10000",
                file=sys.stderr,
            )
            if name == "hand":
                hand_history = history
            else:
                metric_history = history
    same = [h["test/correct"] for h in hand_history] == [h["test/correct"] for h in metric_history]
    med = {k: statistics.median(v) for k, v in runs.items()}
    med_eval = {k: statistics.median(v) for k, v in evals.items()}
    med_wall = {k: statistics.median(v) for k, v in walls.items()}
    per_epoch = med["hand"] / args.epochs
    extra = (med_eval["torchmetrics"] - med_eval["hand"]) / per_epoch
    alone = {"torchmetrics": [], "hand": []}
    for _ in range(5):
        for name, make in (("torchmetrics", EvaluationSums), ("hand", HandTotals)):
            alone[name].append(bookkeeping_seconds(make, batches=-(-10_000 // data.eval_batch_size)))
    book = {k: min(v) for k, v in alone.items()}
    cpu = platform.processor() or platform.machine()
    lines = [
        "# What torchmetrics costs the book's run",
        "",
        f"Command: `python experiments/evaluation_cost.py --repeats {args.repeats} --epochs {args.epochs}`"
        f" -- {cpu}, {os.cpu_count()} cores, 1 torch thread, torch {torch.__version__},"
        f" pytorch-lightning {pl.__version__}.",
        "",
        "The book's network ([784, 30, 10], eta = 3, m = 10) through `pl.Trainer`, the two variants alternating in one"
        " process; medians over the repeats.",
        "",
        "| evaluation sums | CPU seconds per run | evaluation, CPU ms per epoch | wall seconds per run |",
        "|---|---|---|---|",
        *(f"| {k} | {med[k]:.2f} | {med_eval[k] * 1000:.1f} | {med_wall[k]:.2f} |" for k in runs),
        "",
        f"Whole run (CPU), torchmetrics / hand: {med['torchmetrics'] / med['hand']:.3f}"
        f" (wall: {med_wall['torchmetrics'] / med_wall['hand']:.3f}).  Evaluation CPU time added by"
        f" torchmetrics per epoch, as a share of an epoch: {extra:+.2%}.  Same Epoch lines: {same}.",
        "",
        "The sums alone (reset, an update per evaluation batch, totals; both held-out sets; best of 5 x 2000 epochs,"
        " wall clock):"
        f" torchmetrics {book['torchmetrics'] * 1e6:.0f} µs, hand {book['hand'] * 1e6:.0f} µs per epoch --"
        f" a difference of {(book['torchmetrics'] - book['hand']) / per_epoch:.3%} of the median epoch above.",
        "",
    ]
    write_atomic(args.out, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
