"""The LightningModule: the book's network trained by plain mini-batch SGD.

Lightning's Trainer runs the loop (epochs, evaluation, logging, checkpoints);
this module hands the learning to an engine.  One Lightning "batch" is a
*chunk* of many of the book's mini-batches (see ``datamodule.EpochOrder``), and
``training_step`` gives it to the engine, which takes one SGD step per
mini-batch in order (eq. 20-21; the reference step is ``engines.backprop_steps``)
-- manual optimization -- so Lightning's per-batch bookkeeping is paid once per
chunk instead of once per mini-batch of 10 images.  The algorithm is unchanged:
the same mini-batches in the same order, one update each.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import SumMetric

from ..chapter import ENGINE, ETA, SEED, SIZES, M
from .adapter import count_optimizer_steps
from .datamodule import Rows
from .engines import Engine, check_engine, make_engine
from .network import SigmoidNetwork, one_hot


class TrainingDiverged(RuntimeError):
    """The training cost became NaN or infinite."""


class EvaluationSums(nn.Module):
    """Over one held-out set: the images classified right, the summed cost and the images seen.

    torchmetrics' ``SumMetric`` keeps each sum on the module's device (no sync to the
    host per batch) and resets it for every evaluation; NaN costs are kept, not dropped.
    What it costs the book's run against plain Python sums: ``python
    experiments/evaluation_cost.py`` (results in experiments/results/evaluation_cost.md).
    """

    def __init__(self) -> None:
        super().__init__()
        self.correct, self.cost, self.total = (SumMetric(nan_strategy="disable") for _ in range(3))

    def update(self, correct: torch.Tensor, cost: torch.Tensor, n: int) -> None:
        self.correct.update(correct)
        self.cost.update(cost)
        self.total.update(n)

    def reset(self) -> None:
        for metric in (self.correct, self.cost, self.total):
            metric.reset()

    def totals(self) -> tuple[int, float, int] | None:
        """(correct, summed cost, number of images) since the last reset; None if it saw none."""
        if not self.total.update_called:
            return None
        return int(self.correct.compute()), float(self.cost.compute()), int(self.total.compute())


class BookNetwork(pl.LightningModule):
    """``SigmoidNetwork(sizes)`` trained by mini-batch SGD with learning rate eta on mini-batches of m.

    The book's names and Lightning's, in one place: the constructor and the
    checkpoints' hyperparameters say ``lr`` (the book's eta) and ``batch_size``
    (the book's m), the names Lightning, ``torch.optim.SGD`` and every saved
    checkpoint use; ``.eta`` and ``.m`` read the same two numbers under the
    book's names.  ``learn.run.train_run(sizes, eta, m, ...)`` takes the book's.

    ``engine`` names how the steps are computed (``engines.py`` lists them: the
    reference ``"backprop"``, ``"autograd"``, the default ``"native"`` in C++,
    and the GPU engines); each takes the same steps.  The initial weights depend
    on ``seed`` alone.  The values are trusted: they were checked where they entered
    (the flags, ``nndigits.fit``, the app's settings, the sweep's grid: ``chapter.py``'s bounds).
    """

    def __init__(
        self,
        sizes: Sequence[int] = SIZES,
        lr: float = ETA,
        batch_size: int = M,
        seed: int = SEED,
        engine: str = ENGINE,
    ):
        super().__init__()
        check_engine(engine, sizes)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.net = SigmoidNetwork(sizes, generator=torch.Generator().manual_seed(seed))
        self.lr, self.batch_size, self.engine = lr, batch_size, engine
        self.history: list[dict] = []  # one dict of metrics per epoch, as printed
        self._train_sum = torch.zeros(())
        self._train_count = 0
        # The sums of each held-out dataloader (0: validation, 1: test), registered as submodules.
        self._val_sums, self._test_sums = EvaluationSums(), EvaluationSums()
        self._sums = (self._val_sums, self._test_sums)
        self._sgd: Engine | None = None  # the engine, made on each fit's first chunk (where Lightning put the network)

    @property
    def eta(self) -> float:
        """The learning rate eta of eq. 20-21 (stored as ``lr``)."""
        return self.lr

    @property
    def m(self) -> int:
        """The mini-batch size m (stored as ``batch_size``)."""
        return self.batch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Plain SGD: no momentum, no weight decay, no schedule.  lr = eta.
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    # --- training ----------------------------------------------------------------
    def on_train_start(self) -> None:
        self._sgd = None  # a new fit: a new optimizer, perhaps another device or dtype

    def on_train_end(self) -> None:
        self._sgd = None  # the trained network keeps no reference to the fit (autograd's optimizer, its trainer)

    def on_train_epoch_start(self) -> None:
        self._train_sum = torch.zeros((), device=self.device, dtype=self.net.linear_layers()[0].weight.dtype)
        self._train_count = 0

    def training_step(self, chunk, chunk_idx):
        # A chunk is ``Rows`` (the training set's rows by number, from MNISTDataModule) or an (x, y) pair.
        rows = chunk if isinstance(chunk, Rows) else Rows(*chunk)
        if self._sgd is None:
            self._sgd = self._make_engine()
        errors = self._sgd.steps(rows)  # one SGD step per mini-batch of m rows, in order (eq. 20-21): a - y per row
        if self.engine != "autograd":  # the engines that update the weights themselves report their steps
            self._count_sgd_steps(-(-len(rows) // self.batch_size))
        # sum over the chunk of C_x = ||y - a||^2 / 2, each taken just before its own update
        self._train_sum += errors.detach().square().sum() / 2
        self._train_count += len(rows)
        self._check_finite()

    def _make_engine(self) -> Engine:
        """``engines.make_engine`` for this network; autograd steps through Lightning's optimizer, which counts them."""
        options = {}
        if self.engine == "autograd":
            options = dict(optimizer=self.optimizers(), backward=self.manual_backward)
        return make_engine(self.engine, self.net, self.lr, self.batch_size, **options)

    def _check_finite(self) -> None:
        """Stop with a clear message once the cost or a weight is NaN or infinite (once per chunk, before any log)."""
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
        if self._trainer is not None:
            count_optimizer_steps(self._trainer, steps)

    # --- evaluation (validation and test sets, after every epoch) -------------------
    def evaluate(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(number classified correctly, summed cost sum_x C_x) of one batch of held-out images.

        The digit is the most active output neuron; C_x = ||y(x) - a||^2 / 2 (eq. 6).
        A subclass that reads the outputs another way (e.g. as the bits of the digit)
        overrides this; the sums, the metrics and the Epoch line stay the same.
        """
        a = self.net(x)
        correct = (a.argmax(dim=1) == labels).sum()
        cost = (one_hot(labels, a.shape[1], a.dtype) - a).square().sum() / 2
        return correct, cost

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0) -> None:
        x, labels = batch
        right, summed_cost = self.evaluate(x, labels)
        self._sums[dataloader_idx].update(right, summed_cost, len(x))

    test_step = validation_step

    def on_validation_epoch_start(self) -> None:
        for sums in self._sums:
            sums.reset()

    on_test_epoch_start = on_validation_epoch_start

    def on_test_epoch_end(self) -> None:
        totals = self._sums[0].totals()
        assert totals is not None, "the test set was empty"
        correct, cost, n = totals
        self.log_dict({"test/accuracy": correct / n, "test/cost": cost / n})

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        metrics: dict = {}
        for idx, split in ((0, "val"), (1, "test")):
            totals = self._sums[idx].totals()
            if totals is not None:
                correct, cost, n = totals
                metrics[f"{split}/correct"] = correct
                metrics[f"{split}/total"] = n
                metrics[f"{split}/accuracy"] = correct / n
                metrics[f"{split}/cost"] = cost / n
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
