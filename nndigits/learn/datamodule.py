"""The book's split of MNIST as a LightningDataModule: 50,000 / 10,000 / 10,000, held as tensors.

Read by ``torchvision.datasets.MNIST`` from the verified raw files (``mnist.book_split``); train, the sweep's
tasks, the Python API and the app all take MNIST from here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from .adapter import epochs_begun
from .mnist import book_split, default_data_dir, fetch_mnist, intensities
from .network import one_hot


class Chunks(Dataset):
    """Tensors indexed a whole chunk at a time: ``dataset[index]`` returns ``(x[index], y[index])``.

    Used with ``DataLoader(batch_size=None)`` and a sampler of chunks, so a DataLoader
    delivers thousands of rows per item instead of collating one image at a time (the
    slow way at m = 10).  A chunk given as a ``slice`` (the held-out sets, read in order)
    is a view: no copy.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], self.y[index]


class Rows:
    """A chunk of the training set named by its row numbers: ``x[index]``, ``y[index]`` without the copy.

    Gathering a chunk of 5,000 shuffled rows (15 MB) cost about as much as the 500 SGD steps
    taken on it; the native engine instead reads each mini-batch's m rows by number as it goes.
    Lightning hands this object to ``training_step`` as it is (it is neither a tensor nor a
    collection, so it is not moved or converted: the tensors already live on the training
    device); ``gather`` makes the copy, in the network's dtype, for the engines that need one.
    ``index`` None means all rows in order.
    """

    __slots__ = ("x", "y", "index")

    def __init__(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None):
        self.x, self.y, self.index = x, y, index

    def __len__(self) -> int:
        return len(self.x) if self.index is None else len(self.index)

    def gather(self, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = (self.x, self.y) if self.index is None else (self.x[self.index], self.y[self.index])
        return (x, y) if dtype is None else (x.to(dtype), y.to(dtype))

    def room_for_errors(self, like: torch.Tensor) -> torch.Tensor:
        """Room for an engine's a - y of every row, in the dtype and on the device of ``like`` (the weights).

        Shaped as the rows are named: (rows, outputs), or (K, rows, outputs) for a stack's [K, rows] index.
        """
        rows = (len(self.x),) if self.index is None else tuple(self.index.shape)
        return torch.empty(*rows, self.y.shape[-1], dtype=like.dtype, device=like.device)


class TrainingChunks(Chunks):
    """The training set: ``dataset[index]`` is ``Rows(x, y, index)``, the chunk by row numbers (see ``Rows``)."""

    def __getitem__(self, index):
        return Rows(self.x, self.y, index)


class EpochOrder:
    """A sampler giving, each epoch, a fresh random order of the training set in chunks.

    The order of epoch e is a function of (seed, e) only, so a run resumed from a
    checkpoint after epoch k sees exactly the orders an uninterrupted run would.
    The epoch comes from ``current_epoch()`` when given, else from ``set_epoch``.
    The DataModule passes the Trainer's count of epochs begun, read when the
    epoch's iterator is made: Lightning makes the first iterator of a resumed run
    before it calls ``set_epoch`` and before ``trainer.current_epoch`` is restored.
    Each chunk holds whole mini-batches (``steps`` of them), so no mini-batch
    straddles two chunks.
    """

    def __init__(
        self, n: int, batch_size: int, steps: int, seed: int, device: torch.device | str = "cpu", current_epoch=None
    ):
        self.n, self.chunk, self.seed, self.device, self.epoch = n, batch_size * steps, seed, device, 0
        self.current_epoch = current_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=generator).to(self.device)

    def __iter__(self):
        epoch = self.current_epoch() if self.current_epoch is not None else self.epoch
        return iter(self.order(epoch).split(self.chunk))

    def __len__(self) -> int:
        return -(-self.n // self.chunk)


class MNISTDataModule(pl.LightningDataModule):
    """MNIST with the book's split, held as tensors on the training device.

    training   = the first 50,000 of MNIST's training images, targets one-hot 10-vectors,
                 in a fresh random order every epoch;
    validation = the last 10,000 of MNIST's training images;
    test       = MNIST's 10,000 test images.

    ``batch_size`` is the mini-batch size m.  A training "batch" in Lightning's
    sense is a chunk of ``chunk_steps`` mini-batches (see ``book.BookNetwork``).
    ``split``: the pixels of ``mnist.book_split`` already read (a sweep's task gets them from its driver),
    instead of reading them from ``data_dir``.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        batch_size: int = 10,
        seed: int = 0,
        chunk_steps: int = 500,
        eval_batch_size: int = 10_000,
        split: dict | None = None,
    ):
        super().__init__()
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.batch_size, self.seed, self.chunk_steps, self.eval_batch_size = (
            batch_size,
            seed,
            chunk_steps,
            eval_batch_size,
        )
        self.split = split
        self.train: Chunks | None = None  # made by setup(): a TrainingChunks
        self.val: Chunks | None = None
        self.test: Chunks | None = None

    def prepare_data(self) -> None:
        if self.split is None:
            fetch_mnist(self.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        # fetched and verified here (prepare_data may run in another process), unless given
        split = self.split if self.split is not None else book_split(self.data_dir)
        inputs = {name: (intensities(p).to(device), y.to(device)) for name, (p, y) in split.items()}
        x, labels = inputs["train"]
        self.train = TrainingChunks(x, one_hot(labels))
        self.val, self.test = Chunks(*inputs["val"]), Chunks(*inputs["test"])

    @staticmethod
    def _loaded(split: Chunks | None) -> Chunks:
        if split is None:
            raise RuntimeError("MNISTDataModule.setup() has not run yet: no data is loaded")
        return split

    def train_dataloader(self) -> DataLoader:
        train = self._loaded(self.train)
        order = EpochOrder(
            len(train),
            self.batch_size,
            self.chunk_steps,
            self.seed,
            train.x.device,
            current_epoch=self._epochs_begun if self.trainer is not None else None,
        )
        return DataLoader(train, sampler=order, batch_size=None)

    def _epochs_begun(self) -> int:
        assert self.trainer is not None  # only passed to EpochOrder when attached to a Trainer
        return epochs_begun(self.trainer)

    def _eval_loader(self, data: Chunks) -> DataLoader:
        size = self.eval_batch_size  # in order, as slices: each chunk is a view, not a copy
        chunks = [slice(start, min(start + size, len(data))) for start in range(0, len(data), size)]
        return DataLoader(data, sampler=chunks, batch_size=None)

    def val_dataloader(self) -> list[DataLoader]:
        # The book reports test accuracy after every epoch; we evaluate both held-out sets each epoch.
        return [self._eval_loader(self._loaded(self.val)), self._eval_loader(self._loaded(self.test))]

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self._loaded(self.test))
