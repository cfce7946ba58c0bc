"""``python -m nndigits.sweep``: train a whole grid of the chapter's runs at once (see ``studies/sweep``).

In this process by default; on a Ray cluster with ``--address`` (or ``$RAY_ADDRESS``).  Either way
each finished task is saved in ``--out`` at once, and the same command run again trains only the rest.
Flags are parsed before torch (or Ray) is imported, so ``--help`` and a bad flag answer at once.
"""

from __future__ import annotations

import os
import sys

PROG = "python -m nndigits.sweep"


def parser():
    import argparse

    from .chapter import EPOCHS_BOUND, ETA_BOUND, M_BOUND
    from .cli.flags import Parser, add_seeds, positive

    p = Parser(
        prog=PROG,
        description="Train a grid of chapter 1 networks at once: in this process, or on a Ray cluster "
        "(--address). Results go to --out as each task finishes; the same command again trains only the rest.",
    )
    grid = p.add_argument_group("the grid (every combination, each network as `python -m nndigits.train` trains it)")
    grid.add_argument(
        "--lr",
        "--eta",
        nargs="+",
        type=positive(float, "--eta", bound=ETA_BOUND),
        default=[3.0],
        metavar="ETA",
        help="learning rates η to try (default: 3.0)",
    )
    grid.add_argument(
        "--hidden",
        nargs="+",
        type=positive(int, "--hidden", 0),
        default=[30],
        metavar="H",
        help="hidden layer sizes to try, one hidden layer each; 0 = no hidden layer (default: 30)",
    )
    grid.add_argument(
        "--batch-size",
        "-m",
        nargs="+",
        type=positive(int, "-m", bound=M_BOUND),
        default=[10],
        metavar="M",
        help="mini-batch sizes m to try (default: 10)",
    )
    add_seeds(grid)
    grid.add_argument(
        "--epochs",
        type=positive(int, "--epochs", bound=EPOCHS_BOUND),
        default=30,
        help="epochs per network (default: 30)",
    )
    grid.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="floating point type (default: float32; float64 matches a single run to 1e-9)",
    )
    grid.add_argument("--limit", type=positive(int, "--limit", 1), default=None, help=argparse.SUPPRESS)  # tests
    how = p.add_argument_group("where and how")
    how.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS") or None,
        help="a Ray cluster's head HOST:PORT (`ray start --head` prints it), 'auto' for the one started on "
        "this machine, or 'local' to start one here for this sweep (default: $RAY_ADDRESS, else no Ray: "
        "train in this process)",
    )
    how.add_argument(
        "--per-task",
        type=positive(int, "--per-task", 1),
        default=None,
        metavar="K",
        help="at most K networks in one task, so that many machines get work (default: one task per "
        "stacked group, i.e. per mini-batch size and hidden size)",
    )
    how.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="where each task trains; on a cluster, cuda asks Ray for one GPU per task (default: cpu)",
    )
    how.add_argument(
        "--threads",
        type=positive(int, "--threads", 1),
        default=1,
        help="CPU threads per task (and CPUs asked of Ray per task); one is fastest on a busy machine, "
        "see experiments/results/sweep_benchmark.md (default: 1)",
    )
    how.add_argument(
        "--pack",
        choices=["pad", "group"],
        default="group",
        help="networks of different hidden sizes: one stacked group per size, or one group padded to the "
        "largest size with inert units (default: group; on a CPU padding only adds arithmetic)",
    )
    out = p.add_argument_group("data and results")
    out.add_argument(
        "--data-dir", default=None, help="where MNIST is (default: $NNDIGITS_DATA_DIR, else ~/.cache/nndigits)"
    )
    out.add_argument("--out", default="runs/sweep", help="results folder (default: runs/sweep)")
    out.add_argument(
        "--report",
        action="store_true",
        help="train nothing: rebuild the tables, plots and TensorBoard runs from what --out holds (default: off)",
    )
    out.add_argument(
        "--no-tensorboard", action="store_true", help="write no TensorBoard runs (default: one run per network)"
    )
    out.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress display (default: a bar on a terminal, a line per finished task otherwise)",
    )
    return p


def fail(message, code: int = 1) -> int:
    """One line on stderr; the exit code (1: a failure; 2: what the flags ask cannot be done, as in ``cli``)."""
    from .cli.errors import fail as one_line

    one_line(PROG, message)
    return code


def task_too_big(tasks, args, ray) -> str | None:
    """Why the largest task cannot be trained in the memory of the machine it runs on (None if it can),
    checked before any work as ``train`` checks its network (``cli.check_network_fits``)."""
    from .chapter import TEST_SIZE, TRAIN_SIZE, VALIDATION_SIZE
    from .studies.sweep.tasks import too_big

    sets = (TRAIN_SIZE, VALIDATION_SIZE, TEST_SIZE)
    examples = sum(sets if args.limit is None else (min(n, args.limit) for n in sets))
    if ray is not None:
        from .studies.sweep.cluster import memory

        return too_big(tasks, args.dtype, examples, memory(ray), "the cluster's largest machine has")
    from .core.machine import available_memory

    return too_big(tasks, args.dtype, examples, available_memory(), "this machine has")


def write_report(store, tensorboard: bool) -> int:
    from .studies.sweep.report import report

    records = store.records()
    if not records:
        return fail(f"{store.out} holds no finished networks yet")
    missing = len(store.manifest["networks"]) - len(records)
    try:
        print(report(records, store.out, tensorboard), end="")
    except OSError as error:
        return fail(f"could not write the results: {error}")
    if missing:
        print(f"({missing} networks of the grid are not trained yet; the sweep's command trains them)")
    print(f"Results, plots and TensorBoard runs: {store.out}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    from .studies.sweep.store import Store, StoreError, manifest

    if args.report:
        try:
            return write_report(Store(args.out), not args.no_tensorboard)
        except StoreError as error:
            return fail(error)

    from .cli.errors import UsageError
    from .studies.sweep.grid import grid
    from .studies.sweep.tasks import plan

    try:
        configs = grid(args.lr, [[h] if h else [] for h in args.hidden], args.batch_size, range(1, args.seeds + 1))
    except ValueError as error:
        return fail(error, UsageError.code)
    tasks = plan(configs, args.pack, args.per_task)
    too_big = None if args.address else task_too_big(tasks, args, None)  # on a cluster: its machines, below
    if too_big:
        return fail(too_big, UsageError.code)
    try:
        store = Store(args.out, manifest(configs, args.epochs, args.dtype, args.limit))
        done = store.done()
    except StoreError as error:
        return fail(error)
    todo = [[c for c in t if c.name not in done] for t in tasks]
    todo = [t for t in todo if t]
    if not todo:
        print(f"All {len(configs)} networks are already trained in {args.out}/", file=sys.stderr)
        return write_report(store, not args.no_tensorboard)

    ray = None
    cluster_errors: tuple[type[Exception], ...] = ()
    if args.address:
        from .studies.sweep.cluster import ClusterError, connect

        cluster_errors = (ClusterError,)
        try:
            ray = connect(args.address, args.threads, gpus=1 if args.device == "cuda" else 0)
        except ClusterError as error:
            return fail(error)
    else:
        import torch

        if args.device == "cuda" and not torch.cuda.is_available():
            return fail("--device cuda, but torch sees no CUDA GPU")
    try:
        return train(args, configs, todo, done, store, ray, cluster_errors)
    finally:  # however training ends, a cluster connection is let go
        if ray is not None:
            ray.shutdown()


def train(args, configs, todo, done, store, ray, cluster_errors) -> int:
    """Train the tasks ``todo`` (in this process, or on ``ray``), saving each into ``store``; the report."""
    from .cli.errors import UsageError
    from .learn.mnist import DataError
    from .studies.sweep.progress import Progress
    from .studies.sweep.tasks import pixels

    too_big = task_too_big(todo, args, ray) if ray is not None else None  # in this process: checked before
    if too_big:
        return fail(too_big, UsageError.code)
    try:
        split = pixels(args.data_dir, args.limit)
    except (DataError, OSError) as error:
        return fail(error)
    todo_networks = sum(map(len, todo))
    where = f"the Ray cluster at {args.address}" if ray else "this process"
    already = f"; {len(done)} already in {args.out}/" if done else ""
    print(
        f"Training {todo_networks} of {len(configs)} networks in {len(todo)} tasks for {args.epochs} epochs "
        f"on {args.device}, in {where}{already}",
        file=sys.stderr,
        flush=True,
    )
    progress = Progress(len(configs), len(done), len(todo), enabled=not args.no_progress)
    import time

    from .studies.sweep.driver import run

    start = time.perf_counter()
    try:
        run(todo, split, args.epochs, store, progress, ray, device=args.device, dtype=args.dtype, threads=args.threads)
    except KeyboardInterrupt:
        progress.close()
        saved = len(store.done())
        print(
            f"interrupted: {saved} of {len(configs)} networks are saved in {args.out}/; "
            "the same command trains the rest",
            file=sys.stderr,
        )
        return 130
    except OSError as error:
        progress.close()
        return fail(f"could not save a task's results: {error}")
    except cluster_errors as error:
        progress.close()
        return fail(f"{error}; the finished tasks are saved in {args.out}/, the same command trains the rest")
    progress.close()
    seconds = time.perf_counter() - start
    print(f"{todo_networks} networks x {args.epochs} epochs in {seconds:.1f} s", file=sys.stderr)
    return write_report(store, not args.no_tensorboard)


if __name__ == "__main__":
    sys.exit(main())
