"""``python -m nndigits.train``: the book's run, through Lightning's Trainer.

With no arguments it trains [784, 30, 10] for 30 epochs with mini-batches of
10 and eta = 3.0 -- the run of chapter 1 -- printing the book's line
``Epoch j: k / 10000`` after every epoch.  Logs (TensorBoard) and the final
checkpoint go to ``<logdir>/<run name>/version_<n>/``.
"""

from __future__ import annotations

import os
import sys
import time

BOOK_HIDDEN = [30]
DEFAULT_SEED = 1  # a seed whose run is typical of the book's (some seeds get stuck: see experiments/)


def build_parser():
    from .cli import Parser, positive
    from .learn.checkpoints import DEFAULT_LOGDIR
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
        help="where to train (default: auto = a GPU if there is one)",
    )
    p.add_argument(
        "--devices",
        type=positive(int, "--devices", 1),
        default=1,
        help="number of devices; the book's SGD is one sequential chain of updates, so 1",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="backprop",
        help="how each SGD step is computed: explicit backprop (fast, default) or autograd + torch.optim.SGD",
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


def _progress_bar():
    """Lightning's tqdm bar for the training chunks of each epoch, without the per-dataloader validation bars."""
    from pytorch_lightning.callbacks import TQDMProgressBar

    class EpochProgress(TQDMProgressBar):
        def init_validation_tqdm(self):
            bar = super().init_validation_tqdm()
            bar.disable = True
            return bar

    return EpochProgress(refresh_rate=1)


def _check_resume(checkpoint: dict, wanted: dict) -> None:
    """A run resumes only with the settings it started with; anything else would be a different run."""
    from .learn.checkpoints import CheckpointError

    saved = dict(checkpoint["hyper_parameters"])
    saved["sizes"] = list(saved.get("sizes") or [])
    different = [
        f"{key} {saved.get(key)!r} (flags say {wanted[key]!r})"
        for key in ("sizes", "lr", "batch_size", "seed")
        if saved.get(key) != wanted[key]
    ]
    if different:
        raise CheckpointError(
            "the checkpoint was trained with " + ", ".join(different) + "; resume with the flags of the original run"
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.devices != 1:
        print(
            "python -m nndigits.train: error: --devices must be 1: the book's SGD is one sequential "
            "chain of updates, and splitting it across devices would change the algorithm",
            file=sys.stderr,
        )
        return 2

    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import TensorBoardLogger

    from .cli import quiet_lightning
    from .learn.book import BookNetwork, TrainingDiverged
    from .learn.checkpoints import AtomicCheckpointIO, CheckpointError, read_checkpoint
    from .learn.dashboards import Dashboards
    from .learn.datamodule import MNISTDataModule
    from .learn.mnist import DataError

    quiet_lightning()
    accelerator = "gpu" if args.accelerator == "cuda" else args.accelerator
    if accelerator == "gpu" and not torch.cuda.is_available():
        print(
            "python -m nndigits.train: error: --accelerator gpu, but torch sees no CUDA GPU "
            "(use --accelerator cpu or auto)",
            file=sys.stderr,
        )
        return 2
    torch.set_num_threads(args.threads)
    # Late in training many sigmoid derivatives a(1 - a) underflow into subnormal floats, which the CPU
    # handles ~100x slower: epochs got twice as slow.  Flushing them to zero changes no result that matters.
    torch.set_flush_denormal(True)

    sizes = [784, *args.hidden, 10]
    name = f"{'-'.join(map(str, sizes))}_eta{args.lr:g}_m{args.batch_size}"
    model = BookNetwork(sizes, lr=args.lr, batch_size=args.batch_size, seed=args.seed, engine=args.engine)
    if args.resume is not None:
        try:
            _check_resume(read_checkpoint(args.resume), dict(model.hparams))
        except CheckpointError as error:
            print(f"python -m nndigits.train: error: {error}", file=sys.stderr)
            return 2
    data = MNISTDataModule(args.data_dir, batch_size=args.batch_size, seed=args.seed)
    try:
        logger = TensorBoardLogger(args.logdir, name=name, default_hp_metric=False)
        os.makedirs(logger.log_dir, exist_ok=True)  # a bad --logdir fails here, in one line
    except OSError as error:
        print(
            f"python -m nndigits.train: error: cannot write logs under --logdir {args.logdir}: {error}", file=sys.stderr
        )
        return 1
    checkpoints = ModelCheckpoint(filename="epoch{epoch:02d}", auto_insert_metric_name=False, save_last=True)
    progress = not args.no_progress and sys.stderr.isatty()  # a bar is noise in a log file or CI
    callbacks = [checkpoints, Dashboards(images=not args.no_images)] + ([_progress_bar()] if progress else [])
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        accelerator=accelerator,
        devices=1,
        logger=logger,
        callbacks=callbacks,
        enable_progress_bar=progress,
        plugins=[AtomicCheckpointIO()],
        num_sanity_val_steps=0,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    print(
        f"Training {sizes} by SGD: eta = {args.lr:g}, m = {args.batch_size}, {args.epochs} epochs, "
        f"seed {args.seed}, on {trainer.strategy.root_device.type} (engine: {args.engine})"
    )
    print(f"Logs and checkpoints: {logger.log_dir}   (view: tensorboard --logdir {args.logdir})")
    start = time.perf_counter()
    try:
        trainer.fit(model, datamodule=data, ckpt_path=args.resume)
    except (DataError, TrainingDiverged, OSError) as error:
        print(f"python -m nndigits.train: error: {error}", file=sys.stderr)
        return 1
    except SystemExit:  # Lightning turns Ctrl-C into a graceful stop and sys.exit(1)
        if not trainer.interrupted:
            raise
        print(
            f"interrupted; the last checkpoint is {checkpoints.last_model_path or 'not written yet'}", file=sys.stderr
        )
        return 130
    summary = f"Done in {time.perf_counter() - start:.1f} s."
    if model.history:
        best = max(model.history, key=lambda h: h.get("test/correct", 0))
        summary += (
            f" Best epoch{' since resuming' if args.resume else ''} {best['epoch']}: "
            f"{best['test/correct']} / {best['test/total']}."
        )
    print(f"{summary} Checkpoint: {checkpoints.last_model_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
