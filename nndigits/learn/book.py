"""The LightningModule: the book's network trained by plain mini-batch SGD.

Lightning's Trainer runs the loop (epochs, evaluation, logging, checkpoints);
this module says what one step of learning is.  One Lightning "batch" is a
*chunk* of many of the book's mini-batches (see ``data.EpochOrder``), and
``training_step`` takes one SGD step per mini-batch in order -- manual
optimization -- so Lightning's per-batch bookkeeping is paid once per chunk
instead of once per mini-batch of 10 images.  The algorithm is unchanged:
the same mini-batches in the same order, one update each (eq. 20-21).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytorch_lightning as pl
import torch

from .native import native_steps
from .network import BOOK_SIZES, SigmoidNetwork, one_hot
from .sgd import ENGINES, autograd_step, backprop_steps


class TrainingDiverged(RuntimeError):
    """The training cost became NaN or infinite."""


class BookNetwork(pl.LightningModule):
    """``SigmoidNetwork(sizes)`` trained with SGD at learning rate ``lr`` (eta) on mini-batches of ``batch_size`` (m).

    ``engine`` picks how a step is computed: ``"autograd"`` (quadratic cost,
    autograd, ``torch.optim.SGD``), ``"backprop"`` (the same step with the
    gradient written out) or ``"native"`` (the backprop step in C++, a chunk of
    mini-batches per call; the fast default, see ``native.py``).  The initial
    weights depend on ``seed`` alone.
    """

    def __init__(
        self,
        sizes: Sequence[int] = BOOK_SIZES,
        lr: float = 3.0,
        batch_size: int = 10,
        seed: int = 0,
        engine: str = "native",
    ):
        super().__init__()
        if not lr > 0 or not math.isfinite(lr):
            raise ValueError(f"learning rate eta must be a positive number, got {lr}")
        if batch_size < 1:
            raise ValueError(f"mini-batch size must be at least 1, got {batch_size}")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.net = SigmoidNetwork(sizes, generator=torch.Generator().manual_seed(seed))
        self.lr, self.batch_size, self.engine = lr, batch_size, engine
        self.history: list[dict] = []  # one dict of metrics per epoch, as printed
        self._train_sum = self._train_count = None
        self._eval: dict[int, list] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Plain SGD: no momentum, no weight decay, no schedule.  lr = eta.
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    # --- training ----------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._train_sum = torch.zeros((), device=self.device, dtype=self.dtype)
        self._train_count = 0

    def training_step(self, chunk, chunk_idx):
        x, y = chunk
        m = self.batch_size
        errors = torch.empty_like(y)  # a - y for every example, filled in by the steps
        if self.engine == "native":  # the same steps as backprop, the whole chunk in one C++ call
            native_steps(self.net.layers, x, y, m, self.lr, errors)
            self._count_sgd_steps(-(-len(x) // m))
        elif self.engine == "backprop":
            backprop_steps(self.net.layers, x.split(m), y.split(m), self.lr, errors.split(m))
            self._count_sgd_steps(-(-len(x) // m))
        else:
            optimizer = self.optimizers()  # Lightning's wrapper: its step() counts toward global_step
            for start in range(0, len(x), m):
                autograd_step(
                    self.net,
                    optimizer,
                    x[start : start + m],
                    y[start : start + m],
                    errors[start : start + m],
                    backward=self.manual_backward,
                )
        # sum over the chunk of C_x = ||y - a||^2 / 2, each taken just before its own update
        self._train_sum += errors.detach().square().sum() / 2
        self._train_count += len(x)
        self._check_finite()

    def _check_finite(self) -> None:
        """Stop with a clear message once the cost or a weight is NaN or infinite (once per chunk, before anything logs it)."""
        weights = torch.stack([p.detach().sum() for p in self.net.parameters()])
        if torch.isfinite(self._train_sum) and torch.isfinite(weights).all():
            return
        what = "training cost" if not torch.isfinite(self._train_sum) else "weights"
        raise TrainingDiverged(
            f"the {what} became NaN or infinite in epoch {self.current_epoch}; "
            f"try a smaller learning rate than eta = {self.lr:g}"
        )

    def _count_sgd_steps(self, steps: int) -> None:
        """Advance ``trainer.global_step`` by the SGD steps the backprop engine took without an optimizer.

        Lightning counts a manual-optimization step when the wrapped optimizer's
        ``step()`` runs; the backprop engine updates the weights itself, so it
        reports its steps here.  global_step then means what it says (SGD steps
        so far), and checkpoints -- which are skipped when it has not moved -- are
        written every epoch.
        """
        if self._trainer is None:
            return
        progress = self.trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        for counter in (progress.total, progress.current):
            counter.ready += steps
            counter.completed += steps

    # --- evaluation (validation and test sets, after every epoch) -------------------
    def on_validation_epoch_start(self) -> None:
        self._eval = {}

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0) -> None:
        x, labels = batch
        a = self.net(x)
        correct = (a.argmax(dim=1) == labels).sum()
        cost = (one_hot(labels, a.shape[1], a.dtype) - a).square().sum() / 2
        totals = self._eval.setdefault(dataloader_idx, [0, 0.0, 0])
        totals[0] += correct
        totals[1] += cost
        totals[2] += len(x)

    test_step = validation_step

    def on_test_epoch_start(self) -> None:
        self._eval = {}

    def on_test_epoch_end(self) -> None:
        correct, cost, n = self._eval[0]
        self.log_dict({"test/accuracy": correct / n, "test/cost": cost / n})

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        metrics = {}
        for idx, split in ((0, "val"), (1, "test")):
            if idx in self._eval:
                correct, cost, n = self._eval[idx]
                metrics[f"{split}/correct"] = int(correct)
                metrics[f"{split}/total"] = n
                metrics[f"{split}/accuracy"] = int(correct) / n
                metrics[f"{split}/cost"] = float(cost) / n
        if self._train_count:
            metrics["train/cost"] = float(self._train_sum) / self._train_count
        metrics["epoch"] = self.current_epoch
        self.history.append(metrics)
        self.log_dict(
            {k: float(v) for k, v in metrics.items() if k.endswith(("accuracy", "cost"))}
            | {"step": float(self.current_epoch)}
        )  # x-axis in TensorBoard: the epoch
        self.print(format_epoch(metrics))


def format_epoch(metrics: dict) -> str:
    """The book's line ``Epoch j: k / 10000``, then validation accuracy and the costs."""
    line = f"Epoch {metrics['epoch']}: {metrics.get('test/correct', '?')} / {metrics.get('test/total', '?')}"
    if "val/accuracy" in metrics:
        line += f"   validation {metrics['val/accuracy']:.2%}, cost {metrics['val/cost']:.4f}"
    if "train/cost" in metrics:
        line += f"   training cost {metrics['train/cost']:.4f}"
    return line
