"""The three Lightning internals nndigits relies on, behind one small adapter.

Lightning's public API has no way to say "the backprop engine took k SGD steps",
to ask "how many epochs has fit begun" before ``current_epoch`` is restored on
resume, or to write an already-encoded image summary.  So these three reach
into Lightning's (and TensorBoard's) private objects.  They live here, and only
here, so that an upgrade that moves them breaks one file, and
``tests/test_adapter.py`` exercises each against a real ``Trainer`` run: when
Lightning changes them, that test fails, not a training run.  The range of
pytorch-lightning versions that test passes on is the bound in pyproject.toml.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl


def count_optimizer_steps(trainer: pl.Trainer, steps: int) -> None:
    """Add ``steps`` optimizer steps to manual optimization's progress, so ``trainer.global_step`` counts them.

    ``trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress``: under
    manual optimization Lightning counts a step when the wrapped optimizer's
    ``step()`` runs; a step taken without it (every engine but autograd) is
    counted here instead.  ``global_step`` is read from the ``total`` counter;
    ``current`` is the per-run counter Lightning keeps beside it.
    """
    progress = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
    for counter in (progress.total, progress.current):
        counter.ready += steps
        counter.completed += steps


def epochs_begun(trainer: pl.Trainer) -> int:
    """The number of training epochs fit has begun, correct even while a resumed run is being restored.

    ``trainer.fit_loop.epoch_progress.current.processed``: when a run resumes from a
    checkpoint, Lightning makes the first epoch's training iterator before it
    restores ``trainer.current_epoch`` and before it calls the sampler's
    ``set_epoch``; this counter is already restored then.
    """
    current: Any = trainer.fit_loop.epoch_progress.current  # a _ProcessedTracker while fitting
    return int(current.processed)


def file_writer(writer: Any) -> Any:
    """The event-file writer under a ``torch.utils.tensorboard.SummaryWriter`` (``writer._get_file_writer()``).

    Its ``add_summary(summary_proto, step)`` writes a summary we built ourselves (a
    PNG we encoded, lighter than ``add_image``'s), which the public API cannot.
    """
    return writer._get_file_writer()
