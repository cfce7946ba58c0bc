"""One training run of the book's network through Lightning's Trainer.

This is the one path by which nndigits trains a single network: ``python -m
nndigits.train``, the Python API (``nndigits.fit``) and the web app all call
``train_run``.  It assembles what Lightning needs -- the ``BookNetwork``
(LightningModule), the ``MNISTDataModule``, a TensorBoard logger, atomic
checkpoints, the dashboards -- runs ``Trainer.fit`` and returns what happened.
It prints the book's ``Epoch j: k / 10000`` lines through ``say``; it never
exits the process: errors are raised (``RunError`` and the errors of the data and
checkpoint modules), and the caller decides what a user sees.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..chapter import DEFAULT_LOGDIR, ENGINE, EPOCHS, ETA, SEED, SIZES, M
from .errors import RunError  # raised here and in devices.py; defined in errors.py, below both


@dataclass
class RunResult:
    """What a run left behind: the trained module, its per-epoch metrics, where its logs and checkpoint are."""

    model: object  # the BookNetwork (a LightningModule); ``model.net`` is the SigmoidNetwork
    history: list[dict]
    log_dir: Path | None
    checkpoint: Path | None
    seconds: float
    interrupted: bool = False
    trainer: object | None = field(default=None, repr=False)
    already_complete: bool = False  # resumed from a run that had done all its epochs: nothing was trained


def quiet_lightning() -> None:
    """Keep the console to the book's lines: no Lightning banners or tips, no warnings that do not apply."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        ".*does not have many workers.*",
        ".*isn't set, so you may run out of memory.*",
        ".*LeafSpec.*is deprecated.*",
        ".*dirpath has changed from.*",
        ".*have no `val_dataloader`.*",
    ):
        warnings.filterwarnings("ignore", message=message)


def run_name(sizes: Sequence[int], eta: float, m: int, seed: int | None = None) -> str:
    """The folder a run's versions live in: ``784-30-10_eta3_m10_seed1`` (TensorBoard's run and trial name)."""
    return f"{'-'.join(map(str, sizes))}_eta{eta:g}_m{m}" + ("" if seed is None else f"_seed{seed}")


def check_resume(checkpoint: dict, wanted: dict) -> None:
    """A run resumes only with the settings it started with; anything else would be a different run."""
    from ..core.checkpoints import CheckpointError

    saved = dict(checkpoint["hyper_parameters"])
    saved["sizes"] = list(saved.get("sizes") or [])
    different = [
        f"{key} {saved.get(key)!r} (asked for {wanted[key]!r})"
        for key in ("sizes", "lr", "batch_size", "seed")
        if saved.get(key) != wanted[key]
    ]
    if different:
        raise CheckpointError(
            "the checkpoint was trained with " + ", ".join(different) + "; resume with the settings of the original run"
        )


def bare_trainer(epochs: int, **options):
    """A CPU ``pl.Trainer`` for ``epochs`` with no logger, checkpoints, progress bar, model summary or sanity check.

    For studies and tests that train a ``BookNetwork`` (or a variant of it) on their own data;
    ``train_run`` is the full run.  ``options`` are more (or overriding) Trainer arguments.
    """
    import pytorch_lightning as pl

    defaults: dict[str, Any] = dict(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    return pl.Trainer(max_epochs=epochs, **(defaults | options))


def _progress_bar():
    """Lightning's tqdm bar for the training chunks of each epoch, without the per-dataloader validation bars."""
    from pytorch_lightning.callbacks import TQDMProgressBar

    class EpochProgress(TQDMProgressBar):
        def init_validation_tqdm(self):
            bar = super().init_validation_tqdm()
            bar.disable = True
            return bar

    return EpochProgress(refresh_rate=1)


class _CtrlC:
    """During the fit, Ctrl-C also asks the Trainer to stop, and afterwards SIGINT is what it was before.

    Ctrl-C raises KeyboardInterrupt, which Lightning turns into a graceful stop -- unless it lands while
    Python runs a finalizer (``__del__``, a weakref callback), where Python prints and drops it.  Setting
    ``trainer.should_stop`` as well makes the run stop after the current chunk of mini-batches all the same.
    Lightning leaves SIGINT ignored after a Ctrl-C; restoring the previous handler keeps the next Ctrl-C (a
    notebook's stop button) working.  Signals belong to the main thread: elsewhere (the web app's training
    thread) this does nothing.
    """

    def __init__(self, trainer) -> None:
        self.trainer, self.pressed, self.previous = trainer, False, None

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
            self.previous = signal.signal(signal.SIGINT, self._on_sigint)  # (a process that ignores Ctrl-C still does)
        return self

    def _on_sigint(self, signum, frame) -> None:
        import signal

        self.pressed = True
        self.trainer.should_stop = True
        previous = self.previous
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, frame)  # e.g. the command's own handler, which remembers the Ctrl-C
        raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def train_run(
    sizes: Sequence[int] = SIZES,
    eta: float = ETA,
    m: int = M,
    epochs: int = EPOCHS,
    seed: int = SEED,
    *,
    engine: str = ENGINE,
    accelerator: str = "auto",
    threads: int | None = 1,
    data_dir: str | os.PathLike | None = None,
    logdir: str | os.PathLike | None = DEFAULT_LOGDIR,
    images: bool = True,
    progress: bool = False,
    resume: str | os.PathLike | None = None,
    callbacks: Sequence[object] = (),
    say: Callable[[str], None] | None = print,
) -> RunResult:
    """Train ``SigmoidNetwork(sizes)`` by mini-batch SGD (learning rate ``eta``, mini-batches of ``m``) for ``epochs``.

    ``logdir=None`` writes no logs and no checkpoint (a quick run from a notebook).
    ``callbacks`` are extra Lightning callbacks (the web app streams epochs and
    stops runs with one).  ``say`` receives every line a user should see (the
    Epoch lines among them); ``None`` keeps the run silent.
    """
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import TensorBoardLogger

    from .book import BookNetwork
    from .checkpoint_io import AtomicCheckpointIO
    from .checkpoints import read_checkpoint
    from .dashboards import Dashboards
    from .datamodule import MNISTDataModule
    from .devices import choose_accelerator
    from .stuck import StuckWatch

    quiet_lightning()
    # auto = the CPU unless a measured rule says the GPU is faster for this run (learn/devices.py)
    accelerator = choose_accelerator(accelerator, sizes, m, engine)

    sizes = list(sizes)
    model = BookNetwork(sizes, lr=eta, batch_size=m, seed=seed, engine=engine)
    if resume is not None:
        saved = read_checkpoint(resume)
        check_resume(saved, dict(model.hparams))
        done = int(saved.get("epoch", -1)) + 1  # saved at the end of epoch `epoch` (0-based)
        if done >= epochs:
            model.load_state_dict(saved["state_dict"])
            if say is not None:
                say(f"Already complete: {resume} holds all {done} epochs asked for (a larger --epochs goes on)")
            return RunResult(model, [], None, Path(resume), 0.0, already_complete=True)
    data = MNISTDataModule(data_dir, batch_size=m, seed=seed)
    all_callbacks: list = list(callbacks)
    if say is not None:  # one plain line if the run is clearly stuck (a saturated output neuron; learn/stuck.py)
        all_callbacks.append(StuckWatch(say))
    checkpoints = None
    logger: TensorBoardLogger | None = None
    if logdir is not None:
        try:
            logger = TensorBoardLogger(str(logdir), name=run_name(sizes, eta, m, seed), default_hp_metric=False)
            os.makedirs(logger.log_dir, exist_ok=True)  # a bad logdir fails here, before any work
        except OSError as error:
            raise RunError(f"cannot write logs under {logdir}: {error}") from None
        checkpoints = ModelCheckpoint(filename="epoch{epoch:02d}", auto_insert_metric_name=False, save_last=True)
        all_callbacks += [checkpoints, Dashboards(images=images)]
    if progress:
        all_callbacks.append(_progress_bar())
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=logger if logger is not None else False,
        callbacks=all_callbacks,
        enable_progress_bar=progress,
        enable_checkpointing=checkpoints is not None,
        plugins=[AtomicCheckpointIO()],
        num_sanity_val_steps=0,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    if say is None:
        model.print = lambda *args, **kwargs: None  # type: ignore[method-assign]
    else:
        model.print = lambda *args, **kwargs: say(" ".join(map(str, args)))  # type: ignore[method-assign]
        say(
            f"Training {sizes} by SGD: eta = {eta:g}, m = {m}, {epochs} epochs, "
            f"seed {seed}, on {trainer.strategy.root_device.type} (engine: {engine})"
        )
        if logger is not None:
            say(f"Logs and checkpoints: {logger.log_dir}   (view: tensorboard --logdir {logdir})")
        say(f"Loading MNIST from {data.data_dir} ...")
    start = time.perf_counter()
    threads_before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    # Late in training many sigmoid derivatives a(1 - a) underflow into subnormal floats, which the CPU
    # handles ~100x slower: epochs got twice as slow.  Flushing them to zero changes no result that matters.
    # Only during the fit: a notebook's other float work afterwards gets IEEE subnormals again (the default).
    torch.set_flush_denormal(True)
    ctrl_c = _CtrlC(trainer)
    try:
        with ctrl_c:
            trainer.fit(model, datamodule=data, ckpt_path=None if resume is None else str(resume))
    except SystemExit:  # Lightning turns Ctrl-C into a graceful stop and sys.exit(1)
        if not trainer.interrupted:
            raise
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads_before)
    last = checkpoints.last_model_path if checkpoints is not None else ""
    return RunResult(
        model=model,
        history=model.history,
        log_dir=Path(logger.log_dir) if logger is not None else None,
        checkpoint=Path(last) if last else None,
        seconds=time.perf_counter() - start,
        interrupted=bool(trainer.interrupted) or ctrl_c.pressed,
        trainer=trainer,
    )
