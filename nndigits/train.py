"""``python -m nndigits.train``: the book's run, through Lightning's Trainer.

With no arguments it trains [784, 30, 10] for 30 epochs with mini-batches of
10 and eta = 3.0 -- the run of chapter 1 -- printing the book's line
``Epoch j: k / 10000`` after every epoch.  Logs (TensorBoard) and the final
checkpoint go to ``<logdir>/<run name>/version_<n>/``.
"""

from __future__ import annotations

import sys

BOOK_HIDDEN = [30]
DEFAULT_SEED = 1  # a seed whose run is typical of the book's (some seeds get stuck: see experiments/)


def build_parser():
    from .cli import Parser, positive
    from .learn.checkpoints import DEFAULT_LOGDIR
    from .learn.devices import GPU_ENGINES
    from .learn.mnist import default_data_dir
    from .learn.sgd import ENGINES

    p = Parser(
        prog="python -m nndigits.train",
        description="Train the chapter 1 network on MNIST with mini-batch SGD "
        "(defaults: the book's run, [784, 30, 10], 30 epochs, m = 10, eta = 3.0).",
    )
    p.add_argument(
        "--hidden",
        nargs="*",
        type=positive(int, "a layer size", 1),
        default=BOOK_HIDDEN,
        metavar="N",
        help="hidden layer sizes (default: 30; `--hidden` alone: no hidden layer, [784, 10])",
    )
    p.add_argument("--epochs", type=positive(int, "--epochs", 1), default=30, help="number of epochs (default: 30)")
    p.add_argument(
        "--batch-size", "-m", type=positive(int, "--batch-size", 1), default=10, help="mini-batch size m (default: 10)"
    )
    p.add_argument(
        "--lr",
        "--eta",
        type=positive(float, "--lr (eta)", 0.0, strict=True),
        default=3.0,
        help="learning rate eta (default: 3.0)",
    )
    p.add_argument(
        "--seed",
        type=positive(int, "--seed", 0, maximum=2**32 - 1),
        default=DEFAULT_SEED,
        help=f"seed for the initial weights and the shuffles, 0 to 2**32-1 (default: {DEFAULT_SEED})",
    )
    p.add_argument(
        "--accelerator",
        choices=["auto", "cpu", "gpu", "cuda"],
        default="auto",
        help="where to train (default: auto = the CPU unless a GPU was measured faster for this run)",
    )
    p.add_argument(
        "--devices",
        type=positive(int, "--devices", 1),
        default=1,
        help="number of devices; the book's SGD is one sequential chain of updates, so 1",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES + GPU_ENGINES,
        default="native",
        help="how each SGD step is computed: native (the book's steps for a whole chunk in C++, built on first use; "
        "falls back to backprop without a compiler), backprop (explicit backprop in torch), autograd (quadratic cost, "
        "backward(), torch.optim.SGD); on a CUDA GPU: cudagraph, triton (exact fp32) or triton-tf32 (TF32 dots)",
    )
    p.add_argument(
        "--threads",
        type=positive(int, "--threads", 1),
        default=1,
        help="CPU threads (default: 1; at m = 10 each operation is tiny and one thread is fastest)",
    )
    p.add_argument("--data-dir", default=None, help=f"where MNIST is (torchvision root; default: {default_data_dir()})")
    p.add_argument(
        "--logdir", default=DEFAULT_LOGDIR, help=f"TensorBoard logs and checkpoints (default: {DEFAULT_LOGDIR}/)"
    )
    p.add_argument(
        "--resume",
        metavar="CKPT",
        default=None,
        help="continue an interrupted run from its checkpoint (give the same flags as the first run)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (the Epoch lines still print; there is none when stderr is not a terminal)",
    )
    p.add_argument(
        "--no-images",
        action="store_true",
        help="TensorBoard: scalars and hyperparameters only, no images or histograms (see nndigits/dashboards.py)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.devices != 1:
        print(
            "python -m nndigits.train: error: --devices must be 1: the book's SGD is one sequential "
            "chain of updates, and splitting it across devices would change the algorithm",
            file=sys.stderr,
        )
        return 2

    from .learn.book import TrainingDiverged
    from .learn.checkpoints import CheckpointError
    from .learn.mnist import DataError
    from .learn.run import RunError, train_run

    try:
        result = train_run(
            [784, *args.hidden, 10],
            eta=args.lr,
            m=args.batch_size,
            epochs=args.epochs,
            seed=args.seed,
            engine=args.engine,
            accelerator=args.accelerator,
            threads=args.threads,
            data_dir=args.data_dir,
            logdir=args.logdir,
            images=not args.no_images,
            progress=not args.no_progress and sys.stderr.isatty(),  # a bar is noise in a log file or CI
            resume=args.resume,
            say=lambda line: print(line, flush=True),
        )
    except (RunError, CheckpointError) as error:
        print(f"python -m nndigits.train: error: {error}", file=sys.stderr)
        return 2
    except (DataError, TrainingDiverged, OSError) as error:
        print(f"python -m nndigits.train: error: {error}", file=sys.stderr)
        return 1
    if result.interrupted:
        print(f"interrupted; the last checkpoint is {result.checkpoint or 'not written yet'}", file=sys.stderr)
        return 130
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
    sys.exit(main())
