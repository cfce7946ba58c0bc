"""One training run at a time, started from the page, streamed to it epoch by epoch, stoppable.

The run is ``nndigits.learn.run.train_run`` -- the path of ``python -m
nndigits.train`` -- in a background thread, with one extra Lightning callback
(``Stream``) that records each epoch as an event (the book's ``Epoch j: k /
10000`` line, the accuracy, the hidden neurons' weights) and asks the Trainer to
stop when the page says so.  Events are kept in order in a list; each page
reads them from the index it has seen, so a page opened mid-run catches up.
"""

from __future__ import annotations

import threading
import time

import pytorch_lightning as pl

from ..chapter import INPUTS, OUTPUTS
from ..learn.book import format_epoch
from .inside import weight_pictures


class RunInProgress(Exception):
    """A second run was asked for while one is going on."""


class Stream(pl.Callback):
    """Turns each finished epoch into an event, and stops the Trainer between chunks when asked."""

    def __init__(self, job: TrainingJob):
        self.job = job

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.job.stop_requested.is_set():
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer, pl_module):
        # Lightning validates at the end of the training epoch, before this hook: the epoch's metrics are in history.
        if not pl_module.history or pl_module.history[-1]["epoch"] != trainer.current_epoch:
            return
        metrics = pl_module.history[-1]
        self.job.emit(
            "epoch",
            epoch=metrics["epoch"],
            line=format_epoch(metrics),
            correct=metrics.get("test/correct"),
            total=metrics.get("test/total"),
            accuracy=metrics.get("test/accuracy"),
            validation=metrics.get("val/accuracy"),
            weights=weight_pictures(pl_module.net),
        )


class TrainingJob:
    """The app's single run: ``start`` refuses a second one; ``events`` is what the page streams."""

    def __init__(self, logdir, on_network, data_dir=None):
        self.logdir, self.on_network, self.data_dir = logdir, on_network, data_dir
        self.events: list[dict] = []
        self.changed = threading.Condition()
        self.stop_requested = threading.Event()
        self.thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.seconds: float | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def emit(self, kind: str, **data) -> None:
        with self.changed:
            self.events.append({"type": kind, "index": len(self.events), **data})
            self.changed.notify_all()

    def start(self, settings: dict) -> None:
        with self._start_lock:
            if self.running:
                raise RunInProgress("a run is in progress; stop it or wait for it to end")
            with self.changed:
                self.events = []
            self.stop_requested.clear()
            self.emit("start", settings=settings)
            self.thread = threading.Thread(target=self._run, args=(settings,), name="nndigits-train", daemon=True)
            self.thread.start()

    def stop(self) -> bool:
        """Ask the run to stop after the chunk of mini-batches it is in; False if there is no run."""
        if not self.running:
            return False
        self.stop_requested.set()
        return True

    def _run(self, settings: dict) -> None:
        from ..core.checkpoints import CheckpointError
        from ..learn.book import TrainingDiverged
        from ..learn.mnist import DataError
        from ..learn.run import RunError, train_run

        start = time.perf_counter()
        try:
            result = train_run(
                [INPUTS, *settings["hidden"], OUTPUTS],
                eta=settings["eta"],
                m=settings["m"],
                epochs=settings["epochs"],
                seed=settings["seed"],
                data_dir=self.data_dir,
                logdir=self.logdir,
                callbacks=[Stream(self)],
                say=lambda line: self.emit("say", line=line) if not line.startswith("Epoch ") else None,
            )
        except (RunError, CheckpointError, DataError, TrainingDiverged, OSError, ValueError) as error:
            self.emit("end", status="failed", message=" ".join(str(error).split()))
            return
        except Exception as error:  # a bug: say so on the page, keep the server up
            self.emit("end", status="failed", message=f"the run failed: {type(error).__name__}: {error}"[:300])
            return
        self.seconds = time.perf_counter() - start
        stopped = self.stop_requested.is_set() or result.interrupted
        ident = self.on_network(result.model.net, result.checkpoint)  # type: ignore[attr-defined]
        self.emit(
            "end",
            status="stopped" if stopped else "done",
            seconds=round(result.seconds, 2),
            network=ident,
            message=f"{'Stopped' if stopped else 'Done'} after {len(result.history)} epoch(s) in "
            f"{result.seconds:.1f} s; Draw now reads digits with this network.",
        )
