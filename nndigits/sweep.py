"""``python -m nndigits.sweep``: train a whole grid of the chapter's runs at once (see ``studies/sweep``)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from .learn.atomic import write_atomic
from .studies.sweep import grid, report, run
from .studies.sweep.report import merge


def main(argv: list[str] | None = None) -> int:
    from .cli import Parser, positive

    p = Parser(prog="python -m nndigits.sweep", description="Train a grid of chapter 1 networks at once.")
    p.add_argument("--lr", "--eta", nargs="+", type=positive(float, "--lr (eta)", 0.0, strict=True), default=[3.0])
    p.add_argument(
        "--hidden",
        nargs="+",
        type=positive(int, "a hidden size", 0),
        default=[30],
        help="hidden layer sizes to try (one hidden layer each; 0 = no hidden layer)",
    )
    p.add_argument("--batch-size", "-m", nargs="+", type=positive(int, "--batch-size", 1), default=[10])
    p.add_argument("--seeds", type=positive(int, "--seeds", 1), default=5, help="seeds 1..S for every configuration")
    p.add_argument("--epochs", type=positive(int, "--epochs", 1), default=30)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument(
        "--pack",
        choices=["pad", "group"],
        default="group",
        help="networks of different hidden sizes: one batch per size (default; on a CPU the batched "
        "products are arithmetic-bound and padding adds arithmetic) or one batch padded to the "
        "largest size with inert units (fewer, larger steps)",
    )
    p.add_argument(
        "--threads", type=positive(int, "--threads", 1), default=None, help="CPU threads (default: torch's choice)"
    )
    p.add_argument("--worker", default=None, metavar="I/N", help="train only every N-th configuration, starting at I")
    p.add_argument("--merge", action="store_true", help="merge the worker-*.json files under --out and report")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="runs/sweep", help="results folder (default: runs/sweep)")
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.merge:
        try:
            print(merge(out, not args.no_tensorboard), end="")
        except (OSError, ValueError) as error:
            print(f"python -m nndigits.sweep: error: {error}", file=sys.stderr)
            return 1
        return 0
    worker = None
    if args.worker is not None:
        parts = args.worker.split("/")
        if len(parts) != 2 or not all(v.isdigit() for v in parts) or not 0 <= int(parts[0]) < int(parts[1]):
            p.error(f"--worker must be I/N with 0 <= I < N, got {args.worker!r}")
        worker = (int(parts[0]), int(parts[1]))
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda, but torch sees no CUDA GPU")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as in train: subnormal floats would slow late epochs down ~2x

    from .learn.datamodule import MNISTDataModule
    from .learn.mnist import DataError

    configs = grid(args.lr, [[h] if h else [] for h in args.hidden], args.batch_size, range(1, args.seeds + 1))
    if worker is not None:
        configs = configs[worker[0] :: worker[1]]
    data = MNISTDataModule(args.data_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)  # fail now, not after hours of training
        data.prepare_data()
        data.setup("fit")
    except (DataError, OSError) as error:
        print(f"python -m nndigits.sweep: error: {error}", file=sys.stderr)
        return 1
    print(f"Training {len(configs)} networks for {args.epochs} epochs on {args.device}", file=sys.stderr)
    start = time.perf_counter()
    records = run(configs, args.epochs, data, args.device, args.pack, progress=not args.no_progress)
    seconds = time.perf_counter() - start
    print(f"{len(configs)} networks x {args.epochs} epochs in {seconds:.1f} s", file=sys.stderr)
    try:
        if worker is not None:
            part = out / f"worker-{worker[0]}-of-{worker[1]}.json"
            write_atomic(part, json.dumps({"networks": records, "seconds": seconds}, indent=1))
            print(f"wrote {part}; merge with `python -m nndigits.sweep --merge --out {out}`")
            return 0
        print(report(records, out, not args.no_tensorboard), end="")
    except OSError as error:
        print(f"python -m nndigits.sweep: error: could not write the results: {error}", file=sys.stderr)
        return 1
    print(f"Results, plots and TensorBoard runs: {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
