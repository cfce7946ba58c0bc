"""``python -m nndigits.train``: the book's run, through Lightning's Trainer.

With no arguments it trains [784, 30, 10] for 30 epochs with mini-batches of
10 and eta = 3.0 -- the run of chapter 1 -- printing the book's line
``Epoch j: k / 10000`` after every epoch.  Logs (TensorBoard) and the final
checkpoint go to ``<logdir>/<run name>/version_<n>/``.  The flags are parsed and
checked (against the machine's CPUs and memory too) before torch is imported.
"""

from __future__ import annotations

import os
import sys
from argparse import ArgumentTypeError
from pathlib import Path

from .chapter import (
    ACCELERATORS,
    DEFAULT_LOGDIR,
    ENGINE,
    ENGINES,
    EPOCHS,
    ETA,
    ETA_BOUND,
    HIDDEN,
    INPUTS,
    M_BOUND,
    MAX_LAYERS,
    NEURONS_BOUND,
    OUTPUTS,
    SEED,
    TRAIN_SIZE,
    M,
    parameters,
)
from .cli.command import command, exit_with
from .cli.data import add_data_dir
from .cli.errors import Failure, UsageError, os_message
from .cli.flags import Parser, add_epochs, add_seed, add_threads, path_arg, positive
from .cli.folders import check_writable, clean_stale
from .core.machine import NetworkTooLarge, check_network_fits

PROG = "python -m nndigits.train"


def one_device(text: str) -> int:
    if text.strip() != "1":
        raise ArgumentTypeError(
            f"must be 1, got {text[:20]!r}: the book's SGD is one sequential chain of updates, "
            "and splitting it across devices would change the algorithm"
        )
    return 1


def build_parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="Train the chapter 1 network on MNIST with mini-batch SGD "
        "(defaults: the book's run, [784, 30, 10], 30 epochs, m = 10, eta = 3.0).",
        epilog="Exit codes: 0 done, 1 failed (data, disk, diverged), 2 bad flags, 130 interrupted (Ctrl-C).",
    )
    p.add_argument(
        "--hidden",
        nargs="*",
        type=positive(int, "a layer size", bound=NEURONS_BOUND),
        default=list(HIDDEN),
        metavar="N",
        help="hidden layer sizes (default: 30; `--hidden` alone: no hidden layer, [784, 10])",
    )
    add_epochs(p, EPOCHS)
    p.add_argument(
        "-m",
        "--batch-size",
        dest="m",
        type=positive(int, "-m", bound=M_BOUND),
        default=M,
        help=f"mini-batch size m, 1 to {TRAIN_SIZE} (the training set) (default: {M})",
    )
    p.add_argument(
        "--eta",
        "--lr",
        dest="eta",
        type=positive(float, "--eta", bound=ETA_BOUND),
        default=ETA,
        help=f"learning rate eta, > 0 (default: {ETA:g})",
    )
    add_seed(p, SEED)
    p.add_argument(
        "--accelerator",
        choices=ACCELERATORS,
        default=ACCELERATORS[0],
        help="where to train (default: auto = the CPU unless a GPU was measured faster for this run)",
    )
    p.add_argument(
        "--devices",
        type=one_device,
        default=1,
        help="number of devices: 1, because the book's SGD is one sequential chain of updates (default: 1)",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default=ENGINE,
        help="how each SGD step is computed: native (the book's steps for a whole chunk in C++, built on first use; "
        "falls back to backprop without a compiler), backprop (explicit backprop in torch), autograd (quadratic cost, "
        "backward(), torch.optim.SGD); on a CUDA GPU: cudagraph, triton (exact fp32) or triton-tf32 (TF32 dots) "
        "(default: native)",
    )
    add_threads(p, 1, help="CPU threads (at m = 10 each operation is tiny and one thread is fastest)")
    add_data_dir(p)
    p.add_argument(
        "--logdir",
        type=path_arg("--logdir"),
        default=DEFAULT_LOGDIR,
        help=f"TensorBoard logs and checkpoints (default: {DEFAULT_LOGDIR}/)",
    )
    p.add_argument(
        "--resume",
        type=path_arg("--resume"),
        metavar="CKPT",
        default=None,
        help="continue an interrupted run from its checkpoint (give the same flags as the first run; default: none)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (the Epoch lines still print; there is none when stderr is not a terminal)",
    )
    p.add_argument(
        "--no-images",
        action="store_true",
        help="TensorBoard: scalars and hyperparameters only, no images or histograms (see learn/dashboards.py)",
    )
    return p


def checked_sizes(args) -> list[int]:
    """The network's sizes, once they are few enough and fit in memory (``UsageError`` otherwise)."""
    if len(args.hidden) > MAX_LAYERS:
        raise UsageError(f"--hidden lists {len(args.hidden)} layers; at most {MAX_LAYERS}")
    sizes = [INPUTS, *args.hidden, OUTPUTS]
    try:
        check_network_fits(sizes, args.m)
    except NetworkTooLarge as error:
        raise UsageError(error) from None
    return sizes


def prepare_logdir(args, sizes: list[int]) -> None:
    """Before any work: remove what killed runs of these settings left, and prove the log dir takes files."""
    from .learn.run import run_name  # standard library only at import time

    if args.logdir is None:
        return
    run_dir = Path(args.logdir) / run_name(sizes, args.eta, args.m, args.seed)
    clean_stale(run_dir, pattern="*/checkpoints")
    if args.resume is not None:
        clean_stale(Path(args.resume).parent)
    # two checkpoint files (epochNN, last) and one being written, float32, plus 1 MiB of logs to start with
    check_writable(args.logdir, "logs and checkpoints", need_bytes=3 * 4 * parameters(sizes) + 2**20)


def last_checkpoint(args, sizes: list[int]) -> Path | None:
    """The newest run of these settings' ``last.ckpt``, if it has one."""
    from .learn.run import run_name

    versions = (Path(args.logdir) / run_name(sizes, args.eta, args.m, args.seed)).glob("version_*")
    newest = max(versions, key=lambda p: int(p.name.split("_")[-1]) if p.name[8:].isdigit() else -1, default=None)
    last = newest / "checkpoints" / "last.ckpt" if newest is not None else None
    return last if last is not None and last.is_file() else None


@command(PROG)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = checked_sizes(args)
    prepare_logdir(args, sizes)
    print("Loading PyTorch and Lightning ...", flush=True)

    from .core.checkpoints import CheckpointError
    from .learn.book import TrainingDiverged
    from .learn.mnist import DataError
    from .learn.run import RunError, train_run

    try:
        result = train_run(
            sizes,
            eta=args.eta,
            m=args.m,
            epochs=args.epochs,
            seed=args.seed,
            engine=args.engine,
            accelerator=args.accelerator,
            threads=args.threads,
            data_dir=args.data_dir,
            logdir=args.logdir,
            images=not args.no_images,
            progress=not args.no_progress and sys.stderr is not None and sys.stderr.isatty(),  # no bar in a log
            resume=args.resume,
            say=lambda line: print(line, flush=True),
        )
    except (RunError, CheckpointError) as error:
        raise UsageError(error) from None
    except (DataError, TrainingDiverged) as error:
        raise Failure(error) from None
    except OSError as error:  # a full disk or a folder gone read-only in mid-run: the last good checkpoint stays
        from .learn.mnist import default_data_dir

        data_dir = Path(args.data_dir if args.data_dir is not None else default_data_dir()).absolute()
        if error.filename and Path(os.fsdecode(error.filename)).absolute().is_relative_to(data_dir):
            raise Failure(f"cannot get MNIST: {os_message(error)}") from None
        last = last_checkpoint(args, sizes)
        raise Failure(
            f"{os_message(error)} (writing under {args.logdir}); "
            f"the last good checkpoint is {last or 'not written yet'}"
        ) from None
    if result.interrupted:
        print(f"{PROG}: interrupted; the last checkpoint is {result.checkpoint or 'not written yet'}", file=sys.stderr)
        return 130
    if result.already_complete:
        print(f"Nothing to train. Checkpoint: {result.checkpoint}")
        return 0
    summary = f"Done in {result.seconds:.1f} s."
    if result.history:
        best = max(result.history, key=lambda h: h.get("test/correct", 0))
        summary += (
            f" Best epoch{' since resuming' if args.resume else ''} {best['epoch']}: "
            f"{best['test/correct']} / {best['test/total']}."
        )
    print(f"{summary} Checkpoint: {result.checkpoint}")
    return 0


if __name__ == "__main__":
    exit_with(main())
