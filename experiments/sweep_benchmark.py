"""What a sweep costs where: threads on a busy machine, in-process against Ray (``--address local``).

    python experiments/sweep_benchmark.py [--epochs 1] [--seeds 1] [--out experiments/results/sweep_benchmark.md]

1. Threads under load: the same 4-network task (1 epoch on 10,000 images), trained with 1 and with 2
   threads, alternately, while a CPU-bound process competes (on top of whatever else the machine runs).
   This is what picks the sweep's default ``--threads``.
2. The chapter's η × hidden grid (η in 0.001 0.1 1 3 10 100, hidden 10 30 100), in this process and on a
   Ray started here (``--address local``), both through the command; epochs and seeds reduced to fit.
3. What Ray costs per task: many tiny tasks (100 images, one epoch) in-process and on Ray; the
   difference per task is Ray's scheduling, data fetch and result transfer.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = ["--lr", "0.001", "0.1", "1", "3", "10", "100", "--hidden", "10", "30", "100"]


def burn(stop):
    x = 0
    while not stop.is_set():
        for i in range(100_000):
            x += i * i


def threads_under_load(repeats: int) -> list[str]:
    from nndigits.studies.sweep.grid import grid
    from nndigits.studies.sweep.tasks import pixels, train_task

    splits = pixels(limit=10_000)
    configs = grid([3.0], [[30]], [10], [1, 2, 3, 4])
    stop = multiprocessing.Event()
    rival = multiprocessing.Process(target=burn, args=(stop,), daemon=True)
    rival.start()
    times: dict[int, list[float]] = {1: [], 2: []}
    try:
        for _ in range(repeats):
            for threads in (1, 2):
                start = time.perf_counter()
                train_task(configs, splits, 1, threads=threads)
                times[threads].append(time.perf_counter() - start)
    finally:
        stop.set()
        rival.join()
    lines = ["| threads | seconds (each repeat) | best |", "|---|---|---|"]
    for threads, ts in times.items():
        lines.append(f"| {threads} | {', '.join(f'{t:.1f}' for t in ts)} | {min(ts):.1f} |")
    ratio = min(times[2]) / min(times[1])
    lines.append(f"\nbest of 2 threads / best of 1 thread: **{ratio:.2f}x**")
    return lines


def sweep(args: list[str]) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "nndigits.sweep", *args, "--no-tensorboard", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"sweep_benchmark: error: the sweep failed: {result.stderr.strip().splitlines()[-1:]}")
    return seconds, result.stderr


def trained(stderr: str) -> float:
    """The command's own count of training seconds (after Ray is up and the data loaded)."""
    match = re.search(r"epochs in ([0-9.]+) s", stderr)
    return float(match.group(1)) if match else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1, help="epochs of the chapter's grid (default: 1)")
    p.add_argument("--seeds", type=int, default=1, help="seeds of the chapter's grid (default: 1)")
    p.add_argument("--repeats", type=int, default=3, help="repeats of the threads measurement (default: 3)")
    p.add_argument("--tiny-tasks", type=int, default=12, help="tasks in the per-task cost (default: 12)")
    p.add_argument("--skip", choices=["threads", "grid", "tiny"], nargs="*", default=[])
    p.add_argument("--out", default="experiments/results/sweep_benchmark.md")
    args = p.parse_args()
    load = os.getloadavg()
    lines = [
        "# Sweep benchmark",
        "",
        f"`python experiments/sweep_benchmark.py --epochs {args.epochs} --seeds {args.seeds}` on this machine "
        f"({os.cpu_count()} CPUs, shared: load average {load[0]:.1f} when it began; times are wall-clock "
        "under that load, so read the ratios).",
        "",
    ]
    if "threads" not in args.skip:
        lines += ["## Threads under load (one extra CPU-bound process running)", ""]
        lines += threads_under_load(args.repeats) + [""]
        print("\n".join(lines), flush=True)  # each section as soon as it is measured
    with tempfile.TemporaryDirectory() as tmp:
        if "grid" not in args.skip:
            common = [*GRID, "--seeds", str(args.seeds), "--epochs", str(args.epochs)]
            here, here_err = sweep([*common, "--out", f"{tmp}/in"])
            ray, ray_err = sweep([*common, "--out", f"{tmp}/ray", "--address", "local"])
            same = Path(f"{tmp}/in/table.md").read_text() == Path(f"{tmp}/ray/table.md").read_text()
            lines += [
                f"## The chapter's η × hidden grid: {6 * 3 * args.seeds} networks, {args.epochs} epoch(s) "
                "(the chapter trains 30; reduced to fit)",
                "",
                "| where | wall (process start to end) | training (after start-up and data) |",
                "|---|---|---|",
                f"| in this process | {here:.1f} s | {trained(here_err):.1f} s |",
                f"| `--address local` (Ray) | {ray:.1f} s | {trained(ray_err):.1f} s |",
                "",
                f"Same table from both: {'yes' if same else 'NO'}.  The difference in wall time is mostly "
                "starting Ray (its processes) on this machine; the tasks are 3 (one per hidden size).",
                "",
            ]
            print("\n".join(lines[-9:]), flush=True)
        if "tiny" not in args.skip:
            n = args.tiny_tasks
            tiny = ["--lr", "3", "--hidden", "30", "--seeds", str(n), "--epochs", "1", "--limit", "100"]
            tiny += ["--per-task", "1"]
            _, here_err = sweep([*tiny, "--out", f"{tmp}/tin"])
            _, ray_err = sweep([*tiny, "--out", f"{tmp}/tray", "--address", "local"])
            per_here, per_ray = trained(here_err) / n, trained(ray_err) / n
            lines += [
                f"## What Ray costs per task: {n} tiny tasks (one network, 100 images, one epoch)",
                "",
                "| where | training, all tasks | per task |",
                "|---|---|---|",
                f"| in this process | {trained(here_err):.2f} s | {per_here:.3f} s |",
                f"| `--address local` (Ray) | {trained(ray_err):.2f} s | {per_ray:.3f} s |",
                "",
                f"Ray adds about **{per_ray - per_here:.2f} s per task** here (scheduling, a worker's first "
                "import of torch and nndigits, the data from the object store, the result back), on top of "
                "starting Ray once. A task of the chapter's grid (a stacked group, 30 epochs) runs for minutes, "
                "so this is small there; with `--per-task`, keep tasks much longer than that.",
                "",
            ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from nndigits.learn.atomic import write_atomic

    write_atomic(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
