"""Shared fixtures.  Tests that need MNIST go through the real fetch path into the shared cache."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

EPOCH_LINE = re.compile(r"^Epoch (\d+): (\d+) / (\d+)", re.M)


@pytest.fixture(scope="session")
def mnist_train():
    """MNIST's 60,000 training images (float32, (N, 784)) and labels, via ``fetch_mnist`` and the shared cache."""
    from nndigits.learn.mnist import load_split

    return load_split(train=True)


@pytest.fixture(scope="session")
def mnist_test():
    """MNIST's 10,000 test images (float32, (N, 784)) and labels, via ``fetch_mnist`` and the shared cache."""
    from nndigits.learn.mnist import load_split

    return load_split(train=False)


@dataclass(frozen=True)
class BookRun:
    """What the shared 2-epoch run of the book's network left: its logs, checkpoint and printed lines."""

    logdir: Path  # the --logdir it was given
    run: Path  # its version folder: logdir / 784-30-10_eta3_m10 / version_0
    checkpoint: Path  # run / checkpoints / last.ckpt
    printed: str  # every line it said, the book's Epoch lines among them
    history: list[dict]

    @property
    def epoch_lines(self) -> list[tuple[int, int]]:
        """(j, k) of each printed ``Epoch j: k / 10000``."""
        return [(int(j), int(k)) for j, k, _ in EPOCH_LINE.findall(self.printed)]


@pytest.fixture(scope="session")
def book_run(tmp_path_factory) -> BookRun:
    """The book's [784, 30, 10] (eta = 3, m = 10, seed 1, the train command's defaults) trained for 2 epochs with
    logs, dashboards and checkpoints -- once per session, through the one training path, ``train_run``."""
    from nndigits.learn.run import train_run

    logdir = tmp_path_factory.mktemp("book_run")
    said: list[str] = []
    result = train_run(epochs=2, seed=1, accelerator="cpu", logdir=logdir, say=said.append)  # restores the threads
    assert result.log_dir is not None and result.checkpoint is not None
    return BookRun(logdir, result.log_dir, result.checkpoint, "\n".join(said), result.history)


@pytest.fixture(scope="session")
def exported_site(book_run, tmp_path_factory) -> Path:
    """The static site of the shared run (``python -m nndigits.serve --export``), exported once (MNIST gzipped once)."""
    from nndigits.app.export import export_site

    return export_site(tmp_path_factory.mktemp("export") / "site", book_run.checkpoint)


def pytest_collection_modifyitems(items):
    """A test that needs the shared training run (``book_run``, directly or through another fixture) is slow:
    the run trains the book's network for 2 epochs.  ``pytest -m "not slow"`` leaves it out with them."""
    for item in items:
        if "book_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensor ops are fastest on one thread, and results then do not depend on the core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
