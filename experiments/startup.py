"""How long a command takes from process start: ``--help`` of every command, one ``predict`` of one image and one
``read`` of one line of digits.

    python experiments/startup.py                          # this checkout, 5 runs each
    python experiments/startup.py --compare /path/to/old   # and another checkout, runs interleaved

Each command runs as ``python -m nndigits.<command>`` with the checkout as working directory (so that
checkout's ``nndigits`` is the one imported).  Runs of the two checkouts alternate, so a busy machine
slows both alike: read the ratio.  Writes experiments/results/startup.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nndigits.cli.command import command, exit_with
from nndigits.cli.flags import Parser, positive
from nndigits.learn.atomic import write_atomic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COMMANDS = ("train", "data", "predict", "read", "perceptrons")


def seconds(root: Path, argv: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", *argv], cwd=root, capture_output=True, timeout=600)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{argv} in {root} exited {result.returncode}: {result.stderr.decode()[-300:]}")
    return elapsed


def fake_checkpoint(path: Path) -> Path:
    import torch

    from nndigits.learn.network import SigmoidNetwork

    net = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(0))
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"epoch": 0, "state_dict": state, "hyper_parameters": {"sizes": [784, 30, 10]}}, path)
    return path


@command("startup.py")
def main(argv=None) -> int:
    p = Parser(prog="startup.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=positive(int, "--runs", 1, maximum=100), default=5, help="runs of each")
    p.add_argument("--compare", type=Path, default=None, help="another checkout to time side by side")
    p.add_argument("--out", type=Path, default=HERE / "results" / "startup.md", help="markdown table to write")
    args = p.parse_args(argv)
    roots = {"this checkout": ROOT} | ({"compared": args.compare.resolve()} if args.compare else {})
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = str(fake_checkpoint(Path(tmp) / "net.ckpt"))
        cases = {f"{c} --help": [f"nndigits.{c}", "--help"] for c in COMMANDS}
        cases["predict, one image"] = ["nndigits.predict", str(ROOT / "examples" / "digit_7_dark_on_light.png")]
        cases["predict, one image"] += ["--checkpoint", ckpt]
        cases["read, one line"] = ["nndigits.read", str(ROOT / "examples" / "line_gaps_06901.png")]
        cases["read, one line"] += ["--checkpoint", ckpt]
        times: dict[str, dict[str, list[float]]] = {case: {name: [] for name in roots} for case in cases}
        for _ in range(args.runs):
            for case, argv_ in cases.items():
                for name, root in roots.items():
                    times[case][name].append(seconds(root, argv_))
    names = list(roots)
    lines = [
        f"Command: `python experiments/startup.py --runs {args.runs}"
        + (f" --compare {args.compare}`" if args.compare else "`"),
        "",
        "Seconds from process start to exit, median (min-max) of "
        f"{args.runs} runs, the checkouts' runs interleaved; the machine was shared, so read the ratios.",
        "",
        "| command | " + " | ".join(names) + (" | ratio |" if len(names) > 1 else ""),
        "|---|" + "---|" * (len(names) + (len(names) > 1)),
    ]
    for case, by_root in times.items():
        cells = [f"{statistics.median(t):.2f} ({min(t):.2f}-{max(t):.2f})" for t in by_root.values()]
        ratio = ""
        if len(names) > 1:
            ratio = f" {statistics.median(by_root[names[1]]) / statistics.median(by_root[names[0]]):.1f}x |"
        lines.append(f"| `{case}` | " + " | ".join(cells) + " |" + ratio)
    text = "\n".join(lines) + "\n"
    print(text)
    write_atomic(args.out, text)
    return 0


if __name__ == "__main__":
    exit_with(main())
