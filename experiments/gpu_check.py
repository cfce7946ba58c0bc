"""The whole GPU check of issue 17 in one script: CUDA tests, the book's run end to end, s/epoch tables.

Made for one short session on a machine with a CUDA GPU (about 8 minutes in
all).  It writes, as it goes (a timeout still leaves what was done):

    <out>/gpu_check.md     the tables, the device named, and a suggested auto rule
    <out>/gpu_check.json   the same numbers
    <out>/pytest.txt       tests/test_cuda.py + tests/test_devices.py on the GPU
    <out>/train_<engine>.txt   `python -m nndigits.train` end to end on cuda

Sections:
  1. pytest tests/test_cuda.py tests/test_devices.py
  2. the book's run end to end: `python -m nndigits.train --accelerator gpu --engine E` for the GPU engines
  3. the book's step, s/epoch (50,000 images, m = 10, [784, 30, 10], training only, same shuffle):
     CPU engine (backprop, 1 thread, on this host's CPU), GPU eager (backprop on cuda), CUDA graph,
     Triton fp32 (num_warps 4/8/16), Triton TF32
  4. the sweep, s/epoch for K = 1, 10, 132 networks of the book's size: torch stacked (CPU, GPU) and
     the Triton stacked kernel (fp32, TF32)

MNIST travels as its raw IDX files (gzipped or not) in a git-ignored folder (``.mnist/`` is in .gitignore):

    mkdir -p .mnist/MNIST/raw && for f in ~/.cache/nndigits/MNIST/raw/*-ubyte; do
        gzip -c "$f" > .mnist/MNIST/raw/$(basename "$f").gz; done      # 11 MB to carry (raw files work too)
    python3 experiments/gpu_check.py --data-dir .mnist --out "$OUT"           # on the GPU machine
    python experiments/gpu_check.py --device cpu --quick --out /tmp/gpu_dry   # dry run: starts, parses, CPU rows

(device tool: command ``PYTHONUNBUFFERED=1 python3 experiments/gpu_check.py --data-dir .mnist``,
carry [".mnist"], timeout_s 560; it writes 5 files under $OUT.)  Nothing here changes ``auto``:
a rule goes into ``nndigits/learn/devices.py`` only by hand, with these results.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from nndigits.learn.atomic import write_atomic
from nndigits.learn.datamodule import Rows
from nndigits.learn.engines import make_engine
from nndigits.learn.mnist import DataError, load_split
from nndigits.learn.network import SigmoidNetwork, one_hot

SIZES, ETA, M, N_TRAIN = [784, 30, 10], 3.0, 10, 50_000
ROOT = Path(__file__).resolve().parent.parent


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Report:
    """Results so far, rewritten (atomically) after every measurement."""

    def __init__(self, out: Path, meta: dict):
        self.out, self.data = out, {"meta": meta, "tests": None, "train": [], "book": [], "sweep": [], "notes": []}

    def save(self):
        write_atomic(self.out / "gpu_check.json", json.dumps(self.data, indent=2).encode())
        write_atomic(self.out / "gpu_check.md", self.markdown().encode())

    def markdown(self) -> str:
        d, meta = self.data, self.data["meta"]
        lines = [
            "# GPU check (issue 17)",
            "",
            f"Device: **{meta['device_name']}**; host CPU: {meta['cpu']}; torch {meta['torch']}, "
            f"triton {meta['triton']}; {meta['date']}; command: `{meta['command']}`",
            "",
        ]
        if d["tests"]:
            lines += ["## CUDA tests", "", f"`{d['tests']['command']}`: **{d['tests']['summary']}**", ""]
        if d["train"]:
            lines += [
                "## The book's run end to end",
                "",
                "| engine | epochs | final test accuracy | whole command, s |",
            ]
            lines += ["|---|---|---|---|"]
            for r in d["train"]:
                lines.append(f"| {r['engine']} | {r['epochs']} | {r.get('accuracy', '?')} | {r.get('seconds', '?')} |")
            lines.append("")
        if d["book"]:
            lines += ["## The book's step: s/epoch (training only, m = 10, [784, 30, 10])", ""]
            lines += [
                "| implementation | device | s/epoch | steps timed | test accuracy after |",
                "|---|---|---|---|---|",
            ]
            for r in d["book"]:
                lines.append(
                    f"| {r['name']} | {r['device']} | {_num(r.get('s_per_epoch'))} | {r.get('steps', '')} | "
                    f"{r.get('accuracy', r.get('skipped', ''))} |"
                )
            lines.append("")
        if d["sweep"]:
            lines += ["## The sweep: s/epoch for K networks of the book's size", ""]
            lines += ["| engine | device | K | s/epoch | / K = 1 | steps timed |", "|---|---|---|---|---|---|"]
            for r in d["sweep"]:
                lines.append(
                    f"| {r['name']} | {r['device']} | {r['K']} | {_num(r.get('s_per_epoch'))} | "
                    f"{_num(r.get('vs_one'), '×')} | {r.get('steps', r.get('skipped', ''))} |"
                )
            lines.append("")
        if d["notes"]:
            lines += ["## Notes", ""] + [f"- {n}" for n in d["notes"]] + [""]
        return "\n".join(lines)


def _num(v, suffix=""):
    return "" if v is None else f"{v:.3f}{suffix}"


def run_tests(report: Report, env: dict, timeout: float):
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_cuda.py",
        "tests/test_devices.py",
    ]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        text, summary = done.stdout + done.stderr, (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    except subprocess.TimeoutExpired as e:
        text, summary = f"{e.stdout or ''}{e.stderr or ''}", f"timed out after {timeout:.0f} s"
    write_atomic(report.out / "pytest.txt", text.encode() if isinstance(text, str) else text)
    report.data["tests"] = {"command": " ".join(command[2:]), "summary": summary}
    report.save()


def run_train(report: Report, engine: str, accelerator: str, epochs: int, env: dict, logdir: Path, timeout: float):
    command = [sys.executable, "-m", "nndigits.train", "--engine", engine, "--accelerator", accelerator]
    command += ["--epochs", str(epochs), "--logdir", str(logdir), "--no-progress"]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        text, rc = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as e:
        text, rc = f"{e.stdout or ''}{e.stderr or ''}\ntimed out", 124
    seconds = time.perf_counter() - start
    write_atomic(report.out / f"train_{engine}.txt", (text if isinstance(text, str) else text.decode()).encode())
    correct = re.findall(r"Epoch \d+: (\d+) / (\d+)", text if isinstance(text, str) else text.decode())
    row = {"engine": engine, "epochs": epochs, "rc": rc, "seconds": round(seconds, 1)}
    if correct:
        row["accuracy"] = f"{int(correct[-1][0]) / int(correct[-1][1]):.2%}"
    report.data["train"].append(row)
    report.save()


def book_engines(device: torch.device):
    """(name, factory(net) -> engine, device) for every way to take the book's steps (``learn/engines.py``)."""
    cpu = torch.device("cpu")

    def engine(name, **options):
        return lambda net: make_engine(name, net, ETA, M, **options)

    rows = [("CPU engine (backprop, 1 thread)", engine("backprop"), cpu)]
    if device.type != "cuda":
        return rows
    rows += [
        ("GPU eager (backprop engine on cuda)", engine("backprop"), device),
        ("CUDA graph (engine cudagraph)", engine("cudagraph"), device),
    ]
    for warps in (4, 8, 16):
        rows.append((f"Triton fp32, num_warps {warps}", engine("triton", num_warps=warps), device))
    rows.append(("Triton TF32 (engine triton-tf32)", engine("triton-tf32"), device))
    return rows


def time_book(name, factory, device, x_train, y_train, x_test, labels_test, steps: int, chunk_steps: int = 500):
    """Seconds per epoch (5,000 steps) of one engine, from ``steps`` timed steps after a warm-up chunk."""
    x_train, y_train = x_train.to(device), y_train.to(device)
    net = SigmoidNetwork(SIZES, generator=torch.Generator().manual_seed(1)).to(device)
    engine = factory(net)
    order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0)).to(device)
    chunk = M * chunk_steps
    idx = order[:chunk]
    engine.steps(Rows(x_train[idx], y_train[idx]))  # compile / capture / first-touch
    sync(device)
    start, done = time.perf_counter(), 0
    while done < steps:
        take = min(chunk, (steps - done) * M)
        idx = order[(done * M) % len(order) :][:take]
        engine.steps(Rows(x_train[idx], y_train[idx]))
        done += -(-len(idx) // M)
    sync(device)
    seconds = (time.perf_counter() - start) * (N_TRAIN // M) / done
    with torch.no_grad():
        accuracy = (net(x_test.to(device)).argmax(1).cpu() == labels_test).float().mean().item()
    return {"name": name, "device": str(device), "s_per_epoch": seconds, "steps": done, "accuracy": f"{accuracy:.2%}"}


def time_sweep(name, K, device, x_train, y_train, steps: int, precision=None, chunk_steps=25):
    """Seconds per epoch of K stacked networks [784, 30, 10] (m = 10, each its own shuffle), gathers included."""
    from nndigits.studies.sweep.grid import Config
    from nndigits.studies.sweep.stacked import StackedNetworks

    configs = [Config((30,), ETA, M, seed) for seed in range(K)]
    nets = StackedNetworks(configs, device)
    engine_name = {None: "backprop", "ieee": "triton", "tf32": "triton-tf32"}[precision]
    engine = make_engine(engine_name, nets, [c.lr for c in configs], M)
    x_train, y_train = x_train.to(device), y_train.to(device)
    perms = torch.stack([torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(s)) for s in range(K)])
    perms = perms.to(device)
    chunk = M * chunk_steps

    def chunk_at(done):  # [K, chunk]: network k's rows by number, which the engine gathers
        return perms[:, (done * M) % N_TRAIN :][:, :chunk]

    engine.steps(Rows(x_train, y_train, chunk_at(0)))  # warm-up (compile)
    sync(device)
    start, done = time.perf_counter(), 0
    while done < steps:
        idx = chunk_at(done)
        engine.steps(Rows(x_train, y_train, idx))
        done += -(-idx.shape[1] // M)
    sync(device)
    seconds = (time.perf_counter() - start) * (N_TRAIN // M) / done
    return {
        "name": name,
        "device": str(device),
        "K": K,
        "s_per_epoch": seconds,
        "steps": done,
        "chunk_steps": chunk_steps,
    }


def unpacked(data_dir: Path) -> Path:
    """``data_dir`` itself, or -- when its MNIST/raw holds only ``*-ubyte.gz`` (11 MB instead of 55 to carry) -- a
    temporary folder with them unpacked, which ``load_split`` then verifies as usual."""
    raw = data_dir / "MNIST" / "raw"
    packed = sorted(raw.glob("*-ubyte.gz"))
    if not packed or all((raw / p.name[:-3]).exists() for p in packed):
        return data_dir
    target = Path(tempfile.mkdtemp(prefix="gpu_check_mnist_"))
    (target / "MNIST" / "raw").mkdir(parents=True)
    for p in packed:
        (target / "MNIST" / "raw" / p.name[:-3]).write_bytes(gzip.decompress(p.read_bytes()))
    return target


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.environ.get("OUT") or "experiments/results/gpu_check")
    p.add_argument("--data-dir", default=None, help="folder holding MNIST/raw/*-ubyte (e.g. .mnist)")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: a dry run of the CPU rows only")
    p.add_argument("--quick", action="store_true", help="a few hundred steps per row, 1 epoch end to end")
    p.add_argument("--epochs", type=int, default=None, help="epochs of the end-to-end runs (default 30; --quick 1)")
    p.add_argument("--budget", type=float, default=480.0, help="seconds; later sections are skipped past it")
    p.add_argument("--skip", nargs="*", default=[], choices=["tests", "train", "book", "sweep"])
    args = p.parse_args(argv)
    began = time.perf_counter()
    left = lambda: args.budget - (time.perf_counter() - began)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: error: torch sees no CUDA GPU (use --device cpu for a dry run)", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"gpu_check: error: cannot write {out}: {error}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    if args.data_dir:
        args.data_dir = unpacked(Path(args.data_dir))
        env["NNDIGITS_DATA_DIR"] = str(Path(args.data_dir).resolve())
        os.environ["NNDIGITS_DATA_DIR"] = env["NNDIGITS_DATA_DIR"]
    try:
        x, labels = load_split(args.data_dir, train=True)
        x_test, labels_test = load_split(args.data_dir, train=False)
    except DataError as error:
        print(f"gpu_check: error: {error}", file=sys.stderr)
        return 1
    x_train, y_train = x[:N_TRAIN].contiguous(), one_hot(labels[:N_TRAIN])
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "not installed"
    meta = {
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (dry run)",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "triton": triton_version,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(["python", "experiments/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    report = Report(out, meta)
    report.save()
    steps = 300 if args.quick else 5000
    epochs = args.epochs or (1 if args.quick else 30)

    if "tests" not in args.skip:
        run_tests(report, env, timeout=max(30.0, min(240.0, left() - 200)))
    if "train" not in args.skip:
        engines = ["cudagraph", "triton"] if device.type == "cuda" else ["backprop"]
        for engine in engines:
            if left() < 150:
                report.data["notes"].append(f"end-to-end {engine} skipped: out of time")
                continue
            logdir = Path(tempfile.mkdtemp(prefix="gpu_check_tb_"))  # not under --out: $OUT takes back 8 files
            run_train(report, engine, "gpu" if device.type == "cuda" else "cpu", epochs, env, logdir, left() - 120)
    if "book" not in args.skip:
        for name, factory, dev in book_engines(device):
            if left() < 60:
                report.data["book"].append({"name": name, "device": str(dev), "skipped": "out of time"})
                continue
            cpu_steps = min(steps, 1000)  # the CPU rows are scaled from 1,000 steps (a fifth of an epoch)
            row = time_book(
                name, factory, dev, x_train, y_train, x_test, labels_test, cpu_steps if dev.type == "cpu" else steps
            )
            print(f"{name}: {row['s_per_epoch']:.3f} s/epoch", flush=True)
            report.data["book"].append(row)
            report.save()
        if device.type != "cuda":
            report.data["book"].append({"name": "GPU rows", "device": "cuda", "skipped": "no CUDA device (dry run)"})
    if "sweep" not in args.skip:
        variants = [("torch stacked (engine backprop)", None, torch.device("cpu"), 25)]
        if device.type == "cuda":
            variants += [
                ("torch stacked (engine backprop)", None, device, 25),
                ("Triton stacked fp32", "ieee", device, 100),
            ]
            variants += [("Triton stacked TF32", "tf32", device, 100)]
        for name, precision, dev, chunk_steps in variants:
            one = None
            for K in (1, 10, 132):
                if left() < 20:
                    report.data["sweep"].append({"name": name, "device": str(dev), "K": K, "skipped": "out of time"})
                    continue
                timed = (200 if K == 132 else min(steps, 1000)) if dev.type == "cpu" else steps
                row = time_sweep(name, K, dev, x_train, y_train, timed, precision, chunk_steps)
                one = row["s_per_epoch"] if K == 1 else one
                row["vs_one"] = row["s_per_epoch"] / one if one else None
                print(f"{name} K={K}: {row['s_per_epoch']:.3f} s/epoch", flush=True)
                report.data["sweep"].append(row)
                report.save()
    book = {r["name"]: r.get("s_per_epoch") for r in report.data["book"]}
    cpu_time = book.get("CPU engine (backprop, 1 thread)")
    gpu = {n: t for n, t in book.items() if t is not None and not n.startswith(("CPU", "Triton TF32"))}
    if cpu_time and gpu:
        best = min(gpu, key=gpu.get)
        verdict = "faster" if gpu[best] < cpu_time else "NOT faster"
        report.data["notes"].append(
            f"fastest exact GPU path: {best}, {gpu[best]:.3f} s/epoch vs CPU engine {cpu_time:.3f} "
            f"on this host: {verdict}. "
            "If faster, the rule for nndigits/learn/devices.py MEASURED_GPU_FASTER is "
            f"GpuFaster(engine=..., max_params=parameters([784, 30, 10]), m_min=10, m_max=10, "
            f"device={meta['device_name']!r}, source='experiments/results/gpu_check/gpu_check.md')."
        )
    report.data["notes"].append(f"whole check: {time.perf_counter() - began:.0f} s")
    report.save()
    print(f"wrote {out / 'gpu_check.md'} and gpu_check.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
