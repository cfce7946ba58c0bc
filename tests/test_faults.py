"""Faults from outside: Ctrl-C during start-up, SIGKILL in a checkpoint write, read-only and full disks, broken pipes.

Every case ends in at most one line on stderr from us, the documented exit code, and no half-written file.
Mounting (a read-only bind mount, a small tmpfs) needs root; those tests skip cleanly where it is not allowed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nndigits.learn.checkpoints import load_network
from nndigits.learn.mnist import SHA256, default_data_dir, load_split
from nndigits.learn.network import SigmoidNetwork

ROOT = Path(__file__).resolve().parent.parent
DIGIT = str(ROOT / "examples" / "digit_7_dark_on_light.png")
PY = [sys.executable, "-X", "faulthandler"]


def fake_checkpoint(path: Path) -> Path:
    net = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(0))
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"epoch": 0, "state_dict": state, "hyper_parameters": {"sizes": [784, 30, 10]}}, path)
    return path


def run(command: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """``python -m nndigits.<command> args...`` to its end, its output captured as text."""
    return subprocess.run(
        [*PY, "-m", f"nndigits.{command}", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def ours(stderr: str) -> list[str]:
    """stderr without the `-X importtime` lines used as markers."""
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


def partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".partial")]


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def mounted(path: Path, *args: str):
    path.mkdir(parents=True, exist_ok=True)
    if not _mount(*args, str(path)):
        pytest.skip("cannot mount here (needs root and mount)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def read_only_copy(source: Path, target: Path):
    """``target`` holding ``source``'s files, read-only: a read-only bind mount as root, else chmod -w."""
    if os.geteuid() == 0:
        target.mkdir(parents=True, exist_ok=True)
        if not _mount("--bind", str(source), str(target)):
            pytest.skip("cannot bind-mount here")
        try:
            if not _mount("-o", "remount,bind,ro", str(target)):
                pytest.skip("cannot remount read-only here")
            yield target
        finally:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
    else:
        shutil.copytree(source, target)
        for path in [target, *target.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            yield target
        finally:
            for path in [target, *target.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)


# -- Ctrl-C while the command is still starting ------------------------------------------------------------------


def _interrupt(argv: list[str], marker: str, stream: str, delay: float) -> tuple[int, str]:
    """Start the command, wait for ``marker`` on ``stream``, wait ``delay`` s more, send SIGINT."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    pipe = process.stderr if stream == "stderr" else process.stdout
    seen = []
    for line in pipe:
        seen.append(line)
        if marker in line:
            break
    else:
        pytest.fail(f"{marker!r} never came: {''.join(seen)[-500:]}")
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return process.returncode, ("".join(seen) if stream == "stderr" else "") + err


@pytest.mark.slow
@pytest.mark.parametrize(
    "command, marker, stream, delay",
    [
        # `-X importtime` reports nndigits.cli imported: from then on our handler is (microseconds later) in place
        ("predict", "nndigits.cli", "stderr", 0.05),  # inside the imports of NumPy and Pillow (predict has no torch)
        ("train", "nndigits.cli", "stderr", 0.5),  # parsing done, inside `import torch`
        ("train", "Loading PyTorch and Lightning", "stdout", 2.5),  # deep inside Lightning's imports
        ("train", "Loading MNIST", "stdout", 0.0),  # loading the data, inside Trainer.fit
    ],
)
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(command, marker, stream, delay, tmp_path):
    args = [DIGIT, "--checkpoint", str(fake_checkpoint(tmp_path / "c.ckpt"))] if command == "predict" else []
    if command == "train":
        args = ["--epochs", "1", "--no-images", "--logdir", str(tmp_path / "runs")]
    importtime = ["-X", "importtime"] if stream == "stderr" else []
    code, err = _interrupt([*PY, *importtime, "-m", f"nndigits.{command}", *args], marker, stream, delay)
    lines = ours(err)
    if code == 0 and command == "predict":  # the machine was quick: the answer came before the signal
        return
    assert code == 130, err[-2000:]
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err, lines
    assert not partials(tmp_path)


# -- SIGKILL during a checkpoint write, then a clean rerun --------------------------------------------------------

SLOW_WRITER = """
import os, sys, time
from nndigits.learn.checkpoint_io import AtomicCheckpointIO

def stuck(fd):  # the disk is slow: the bytes are in the temp file, not yet on disk, when the kill comes
    print("writing", flush=True)
    time.sleep(120)

os.fsync = stuck
AtomicCheckpointIO().save_checkpoint({"state_dict": {}, "blob": b"x" * 1_000_000}, sys.argv[1])
"""


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_write_then_a_clean_rerun(tmp_path):
    logdir = tmp_path / "runs"
    checkpoints = logdir / "784-30-10_eta3_m10_seed1" / "version_0" / "checkpoints"
    checkpoints.mkdir(parents=True)
    writer = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(checkpoints / "last.ckpt")], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait(timeout=30)
    left = partials(logdir)
    assert len(left) == 1 and not (checkpoints / "last.ckpt").exists()  # what a SIGKILLed writer leaves

    result = run("train", "--epochs", "1", "--no-images", "--logdir", str(logdir), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not partials(logdir), partials(logdir)
    assert load_network(logdir / "784-30-10_eta3_m10_seed1" / "version_1" / "checkpoints" / "last.ckpt").sizes[0] == 784


# -- read-only and full -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cached_raw():
    load_split(train=False)  # the real fetch path: the cache holds verified MNIST
    return default_data_dir() / "MNIST" / "raw"


def test_a_read_only_data_dir_holding_mnist_is_used(cached_raw, tmp_path):
    with read_only_copy(cached_raw, tmp_path / "lab" / "MNIST" / "raw") as raw:
        with pytest.raises(OSError):
            (raw / "probe").write_bytes(b"")  # it really is read-only
        result = run("data", "--data-dir", str(tmp_path / "lab"))
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert all(f"{raw / name}  sha256 ok" in result.stdout for name in SHA256)
        x, y = load_split(tmp_path / "lab", train=False)
        assert x.shape == (10_000, 784) and len(y) == 10_000


def test_a_read_only_data_dir_without_mnist_says_so_in_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with read_only_copy(empty, tmp_path / "lab" / "MNIST" / "raw"):
        result = run("data", "--data-dir", str(tmp_path / "lab"))
    assert result.returncode == 1 and "cannot be written to" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_read_only_logdir_is_found_out_before_training(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with read_only_copy(empty, tmp_path / "runs") as runs:
        result = run("train", "--logdir", str(runs))
    assert result.returncode == 1 and "cannot write logs and checkpoints" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Loading PyTorch" not in result.stdout


def test_a_full_disk_is_found_out_before_training(tmp_path):
    with mounted(tmp_path / "full", "-t", "tmpfs", "-o", "size=1m", "tmpfs") as full:
        result = run("train", "--logdir", str(full / "runs"))
        assert result.returncode == 1 and "MiB free" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "Loading PyTorch" not in result.stdout
        assert not partials(full) and not [p for p in full.rglob(".nndigits-probe*")]


@pytest.mark.slow
def test_a_disk_full_in_mid_run_keeps_the_last_good_checkpoint(tmp_path):
    with mounted(tmp_path / "full", "-t", "tmpfs", "-o", "size=4m", "tmpfs") as full:
        process = subprocess.Popen(
            [*PY, "-m", "nndigits.train", "--epochs", "4", "--logdir", str(full / "runs")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for line in process.stdout:
            if line.startswith("Epoch 0"):
                break
        deadline = time.monotonic() + 60
        while not glob.glob(str(full / "runs" / "*" / "version_0" / "checkpoints" / "last.ckpt")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with open(full / "filler", "wb") as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 65536)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 1, err[-2000:]
        assert "No space left on device" in err and "the last good checkpoint is" in err
        assert len(err.splitlines()) <= 2 and "Traceback" not in err, err  # ours, and TensorBoard's writer's
        last = next(full.glob("runs/*/version_0/checkpoints/last.ckpt"))
        assert load_network(last).sizes == [784, 30, 10]
        assert not partials(full)


# -- pipes --------------------------------------------------------------------------------------------------------


def test_a_reader_that_goes_away_is_normal(tmp_path):
    ckpt = fake_checkpoint(tmp_path / "c.ckpt")
    process = subprocess.Popen(
        [*PY, "-m", "nndigits.predict", *[DIGIT] * 300, "--checkpoint", str(ckpt)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout.readline()  # `| head -1`
    process.stdout.close()
    err = process.stderr.read().decode()
    process.wait(timeout=300)
    assert process.returncode in (0, 1) and err == "", err


def test_predict_with_stdout_closed_fails_before_any_work(tmp_path):
    """`predict IMAGE >&-`: the answers would go nowhere, so it says so in one line and exits 1 (it exited 0)."""
    ckpt = fake_checkpoint(tmp_path / "c.ckpt")
    closed = subprocess.run(
        f"{sys.executable} -m nndigits.predict {DIGIT} --checkpoint {ckpt} >&-",
        shell=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert closed.returncode == 1, closed.stderr
    assert closed.stderr == (
        "python -m nndigits.predict: error: stdout is closed, so the output would be lost "
        "(redirect it to a file or /dev/null)\n"
    )
    opened = subprocess.run(
        [sys.executable, "-m", "nndigits.predict", str(DIGIT), "--checkpoint", str(ckpt)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert opened.returncode == 0 and opened.stdout.startswith(f"{DIGIT}: "), opened.stderr  # the same call, answered


@pytest.mark.parametrize("command", ["train", "data", "read"])
def test_a_closed_or_full_stdout(command):
    """`--help` writes to stdout without importing torch: the quickest way to exercise a closed and a full one.
    Either way the output would be lost: one line on stderr and exit 1, never a silent 0."""
    closed = subprocess.run(
        f"{sys.executable} -m nndigits.{command} --help >&-", shell=True, capture_output=True, text=True, cwd=ROOT
    )
    assert closed.returncode == 1 and closed.stderr.count("\n") == 1 and "stdout is closed" in closed.stderr
    if Path("/dev/full").exists():
        full = subprocess.run(
            f"{sys.executable} -m nndigits.{command} --help > /dev/full",
            shell=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert full.returncode == 1 and full.stderr.count("\n") == 1 and "No space left" in full.stderr
