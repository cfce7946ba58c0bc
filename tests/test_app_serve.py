"""``python -m nndigits.serve``'s command line: fast --help, one-line errors with the right exit codes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

COMMAND = [sys.executable, "-m", "nndigits.serve"]


def run(*args, timeout=120):
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout)


def test_help_is_fast_and_imports_nothing_heavy():
    start = time.perf_counter()
    r = run("--help")
    assert r.returncode == 0 and "--checkpoint" in r.stdout and "--port" in r.stdout
    assert time.perf_counter() - start < 10  # no torch, no FastAPI (about 0.1 s when the machine is idle)
    code = (
        "import sys; from nndigits.serve import build_parser; build_parser(); "
        "print('torch' in sys.modules, 'fastapi' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == [
        "False",
        "False",
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "x"], "--port: must be a whole number"),
        (["--port", "70000"], "at most 65535"),
        (["--nope"], "unrecognized"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(args, words):
    r = run(*args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and words in r.stderr and "Traceback" not in r.stderr


def test_port_in_use_is_one_line_and_exit_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = run("--port", str(port))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and f"port {port}" in r.stderr and "in use" in r.stderr


def test_unknown_host_is_one_line_and_exit_1():
    r = run("--host", "no-such-host.invalid", "--port", "0")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no-such-host.invalid" in r.stderr


@pytest.mark.slow  # starts the server in subprocesses: tens of seconds on a busy machine
def test_another_host_warns_and_a_bad_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_text("not a checkpoint")
    r = run("--host", "0.0.0.0", "--port", "0", "--checkpoint", str(bad))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 2 and "Traceback" not in r.stderr
    assert "warning" in lines[0] and "0.0.0.0" in lines[0]
    assert "error" in lines[1] and "not a checkpoint" in lines[1]
