"""``experiments/gpu_check.py`` -- the script a session lent a GPU runs -- works: its CPU dry run, end to end.

A GPU session is short and rare, so the script must not fail there on something a CPU could have
caught: a renamed engine, a changed call, a section that no longer parses.  The dry run takes every
path the CPU can (the CUDA tests skip, the book's run end to end with the backprop engine, the
timed CPU rows of the book's step and of the sweep) and writes the same report files.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_dry_run_on_the_cpu(tmp_path):
    out = tmp_path / "gpu_check"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"} | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "experiments/gpu_check.py", "--device", "cpu", "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert "# GPU check" in (out / "gpu_check.md").read_text()

    summary = report["tests"]["summary"]  # tests/test_cuda.py skips without a GPU; tests/test_devices.py runs
    assert "passed" in summary and "failed" not in summary and "error" not in summary, summary

    (train,) = report["train"]  # `python -m nndigits.train --engine backprop --accelerator cpu --epochs 1`
    assert train["engine"] == "backprop" and train["rc"] == 0, (out / "train_backprop.txt").read_text()[-2000:]
    assert float(train["accuracy"].rstrip("%")) > 85  # one epoch of the book's run learns the digits

    book = {row["name"]: row for row in report["book"]}
    cpu = book["CPU engine (backprop, 1 thread)"]  # 300 timed steps on real digits
    assert cpu["s_per_epoch"] > 0 and cpu["steps"] == 300
    assert float(cpu["accuracy"].rstrip("%")) > 30  # learning after 800 steps (47% here; chance is 10%)
    assert book["GPU rows"]["skipped"] == "no CUDA device (dry run)"

    sweep = [row for row in report["sweep"] if "skipped" not in row]
    assert [row["K"] for row in sweep] == [1, 10, 132]
    assert all(row["name"] == "torch stacked (engine backprop)" and row["s_per_epoch"] > 0 for row in sweep), sweep
