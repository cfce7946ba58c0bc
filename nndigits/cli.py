"""The command toolkit: how every ``python -m nndigits.*`` command and experiment parses, fails and exits.

One place decides what a user sees when something goes wrong:

- ``Parser``: a bad flag is one line on stderr and exit code 2; every flag's help shows its default.
- ``positive`` and the flag builders (``add_seed``, ``add_threads``, ...): numbers are checked against what
  the machine and the dtypes can honour -- C int64, float32 (no overflow, no underflow to zero), the CPUs
  this process may use, the memory a network's tensors need -- so a value that parses but cannot be used
  is refused before any work, not 80 lines deep inside torch.
- ``command(prog)``: the wrapper around a command's ``main``.  It installs the SIGINT handler before the
  command imports anything heavy (Ctrl-C at any moment: one line, exit 130), exits quietly on a broken
  pipe (``predict ... | head -1``), and turns ``Failure`` (exit 1), ``UsageError`` (exit 2), ``OSError``
  (a full disk, a read-only folder) and ``MemoryError`` into one line.  ``NNDIGITS_DEBUG=1`` shows the
  traceback of an unexpected error instead.
- ``clean_stale``: removes the temporary files (``learn/atomic.py``'s names) that a killed run left.
- ``load_checkpoint_or_fail`` and ``mnist_or_fail``: the two things almost every command needs.

Exit codes: 0 done, 1 failure (bad file, no data, full disk), 2 usage (a flag), 130 interrupted.
This module imports only the standard library at the top, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import math
import os
import shutil
import signal
import struct
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

INT64_MAX = 2**63 - 1  # what a C long / torch.int64 holds
FLOAT32_MAX = struct.unpack("f", struct.pack("I", 0x7F7FFFFF))[0]  # 3.4028e38; above it float32 is inf
FLOAT32_NORMAL = struct.unpack("f", struct.pack("I", 0x00800000))[0]  # 1.1755e-38; below it, with
# flush-to-zero on (learn/run.py turns it on), float32 arithmetic treats the value as 0
SEED_MAX = 2**32 - 1  # seeds go into torch.Generator.manual_seed(seed * 1_000_003 + epoch): keep them in int64
MAX_EPOCHS = 10_000  # about an hour of the book's run per thousand epochs here: more is a typo, not a plan
MAX_MESSAGE = 300  # characters of one error line (a flag's value is quoted, cut to 40)
TRAIN_SIZE = 50_000  # the book's training set (learn/mnist.py), the largest sensible mini-batch
EVAL_BATCH = 10_000  # examples per forward pass when evaluating (learn/datamodule.py)


class Failure(Exception):
    """The command cannot do what was asked (a bad file, no data, a full disk): one line, exit 1."""

    code = EXIT_FAILURE


class UsageError(Failure):
    """The flags ask for something that cannot be done (a network too big for memory): one line, exit 2."""

    code = EXIT_USAGE


# -- the error line --------------------------------------------------------------------------------------------


def one_line(message: object, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line of at most ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(prog: str, message: object) -> None:
    """Print ``<prog>: error: <message>`` as one line on stderr (nothing, if stderr is gone)."""
    with contextlib.suppress(OSError, ValueError):  # stderr closed or a broken pipe: there is no one to tell
        print(f"{prog}: error: {one_line(message)}", file=sys.stderr, flush=True)


def os_message(error: OSError) -> str:
    """An ``OSError`` as a user reads it: what failed, on which file (``No space left on device: runs/...``)."""
    what = error.strerror or str(error) or type(error).__name__
    return f"{what}: {error.filename}" if error.filename else what


# -- flags ------------------------------------------------------------------------------------------------------


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every flag's help ends with its default unless the help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            "default" not in text
            and action.option_strings
            and action.default not in (None, False, argparse.SUPPRESS)
            and action.nargs != 0
        ):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit code 2 -- no usage dump, no traceback."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        super().__init__(*args, **kwargs)

    def _print_message(self, message, file=None):
        # argparse swallows OSError here, so `--help > /dev/full` would exit 0 with nothing written;
        # file is None when stdout is closed (`>&-`): then there is nowhere to write
        if message and file is not None:
            file.write(message)

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see --help)\n")

    def exit(self, status=0, message=None):
        if message:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.write(message)
        raise SystemExit(status)


def _quote(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def positive(kind, name: str, minimum=None, strict: bool = False, maximum=None):
    """An argparse ``type``: a number of ``kind`` (int or float) in [minimum, maximum] (> minimum if ``strict``).

    Ints default to at least 1 and at most C int64; floats to greater than 0 and at most float32's largest
    value.  A float that must be above 0 must also be at least float32's smallest normal number, so that it
    does not become 0 when the network computes with it.  No bound is ever looser than the dtype allows.
    """
    if minimum is None:
        minimum, strict = (1, False) if kind is int else (0.0, True)
    ceiling = INT64_MAX if kind is int else FLOAT32_MAX
    maximum = ceiling if maximum is None else min(maximum, ceiling)

    def number(v) -> str:
        return f"{v:,}".replace(",", "_") if isinstance(v, int) and abs(v) >= 10**6 else f"{v:g}"

    who = "" if name.startswith("-") else f"{name} "  # argparse already names the flag

    def convert(text: str):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{who}must be {what}, got {_quote(text)}") from None
        if isinstance(value, float) and math.isnan(value):
            raise argparse.ArgumentTypeError(f"{who}must be a number, got {_quote(text)}")
        if isinstance(value, float) and math.isinf(value):
            raise argparse.ArgumentTypeError(f"{who}must be finite, got {_quote(text)}")
        if value < minimum or (strict and value <= minimum):
            bound = f"greater than {number(minimum)}" if strict else f"at least {number(minimum)}"
            raise argparse.ArgumentTypeError(f"{who}must be {bound}, got {_quote(text)}")
        if value > maximum:
            why = (
                " (the largest float32)"
                if maximum == FLOAT32_MAX
                else " (the largest int64)"
                if maximum == INT64_MAX
                else ""
            )
            raise argparse.ArgumentTypeError(f"{who}must be at most {number(maximum)}{why}, got {_quote(text)}")
        if kind is float and strict and minimum == 0 and value < FLOAT32_NORMAL:
            raise argparse.ArgumentTypeError(
                f"{who}must be at least {FLOAT32_NORMAL:.4g} (smaller is 0 in float32), got {_quote(text)}"
            )
        return value

    return convert


def path_arg(name: str):
    """An argparse ``type`` for a file or folder name: not empty (which would mean the current folder by
    accident), no NUL byte (no system call takes one), not longer than the system allows."""

    who = "" if name.startswith("-") else f"{name} "  # argparse already names the flag

    def convert(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{who}must not be empty")
        if "\x00" in text:
            raise argparse.ArgumentTypeError(f"{who}must not contain a NUL byte")
        if len(os.fsencode(text)) > 4096:
            raise argparse.ArgumentTypeError(f"{who}must be at most 4096 bytes long (a path cannot be longer)")
        return text

    return convert


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_memory() -> int:
    """Bytes of memory available for new allocations (``MemAvailable``), else the machine's physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**40


def network_bytes(sizes: Sequence[int], m: int = 10, bytes_per_number: int = 4) -> int:
    """About how much memory training ``SigmoidNetwork(sizes)`` with mini-batches of ``m`` takes.

    Weights and biases with their gradients, the Lightning module's copy and the checkpoint being
    serialised (6 copies), the activations of an evaluation pass over 10,000 examples and of a mini-batch
    (z, a and sigma'(z) per neuron), and MNIST itself (70,000 x 784 float32).
    """
    params = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    neurons = sum(sizes[1:])
    activations = 3 * (EVAL_BATCH + 2 * m) * neurons
    return bytes_per_number * (6 * params + activations) + 70_000 * 784 * 4


def check_network_fits(sizes: Sequence[int], m: int = 10) -> None:
    """``UsageError`` unless a network of ``sizes`` can be trained in the memory this machine has free."""
    need, have = network_bytes(sizes, m), available_memory()
    if need > have:
        raise UsageError(
            f"a network of sizes {list(sizes) if len(sizes) <= 6 else f'[{sizes[0]}, ... {len(sizes)} layers]'} "
            f"with m = {m} needs about {need / 2**30:.3g} GiB of memory; this machine has {have / 2**30:.3g} GiB "
            "available (use smaller layers or fewer of them)"
        )


def add_seed(p: argparse.ArgumentParser, default: int = 1) -> None:
    """``--seed S``: THE seed convention. One run is seed S (default 1); S seeds are 1..S (``seed_range``)."""
    p.add_argument(
        "--seed",
        type=positive(int, "--seed", 0, maximum=SEED_MAX),
        default=default,
        help=f"seed for the initial weights and the shuffles, 0 to 2**32-1 (default: {default})",
    )


def add_seeds(p: argparse.ArgumentParser, default: int = 5, limit: int = 1000) -> None:
    """``--seeds S``: run seeds 1..S, the same seeds ``--seed`` names one at a time."""
    p.add_argument(
        "--seeds",
        type=positive(int, "--seeds", 1, maximum=limit),
        default=default,
        help=f"number of seeds: seeds 1 to S, each as `--seed s` (default: {default}; at most {limit})",
    )


def seed_range(seeds: int) -> list[int]:
    """The seeds of ``--seeds S``: 1..S (seed 1 is ``python -m nndigits.train``'s default)."""
    return list(range(1, seeds + 1))


def add_epochs(p: argparse.ArgumentParser, default: int = 30) -> None:
    p.add_argument(
        "--epochs",
        type=positive(int, "--epochs", 1, maximum=MAX_EPOCHS),
        default=default,
        help=f"number of epochs, 1 to {MAX_EPOCHS} (default: {default})",
    )


def add_threads(p: argparse.ArgumentParser, default: int | None = 1, help: str = "CPU threads") -> None:
    cpus = usable_cpus()
    p.add_argument(
        "--threads",
        type=positive(int, "--threads", 1, maximum=cpus),
        default=default,
        help=f"{help}, 1 to {cpus} (the CPUs this process may use) (default: {default or 'torch decides'})",
    )


def add_data_dir(p: argparse.ArgumentParser) -> None:
    from .learn.mnist import default_data_dir  # standard library only at import time

    p.add_argument(
        "--data-dir",
        type=path_arg("--data-dir"),
        default=None,
        metavar="DIR",
        help=f"where MNIST is (torchvision root: DIR/MNIST/raw; read-only is fine once it is there) "
        f"(default: {default_data_dir()})",
    )


def add_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        type=path_arg("--checkpoint"),
        metavar="CKPT",
        default=None,
        help="a checkpoint written by `python -m nndigits.train` (default: the newest under runs/)",
    )


def check_writable(folder: str | os.PathLike, what: str, need_bytes: int = 0) -> Path:
    """Make ``folder`` if need be and prove it takes a file (and has ``need_bytes`` free), before any work.

    ``Failure`` naming the folder otherwise: a read-only folder or a full disk is found out here, not
    after training.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".nndigits-probe.", suffix=".partial") as probe:
            probe.write(b"x")
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(folder).free
    except OSError as error:
        raise Failure(f"cannot write {what} under {folder}: {error.strerror or error}") from None
    if free < need_bytes:
        raise Failure(
            f"cannot write {what} under {folder}: {free / 2**20:.3g} MiB free, "
            f"about {need_bytes / 2**20:.3g} MiB needed"
        )
    return folder


def clean_stale(*folders: str | os.PathLike, pattern: str = "*") -> list[Path]:
    """Remove the temp files that killed writers left in ``folders`` (matching ``pattern`` below each).

    Only ``learn/atomic.py``'s temp names, and only those whose writing process is gone.
    """
    from .learn.atomic import stale_partials

    removed = []
    for folder in folders:
        for path in stale_partials(folder, pattern):
            try:
                path.unlink()
                removed.append(path)
            except OSError:  # someone else's file, or a read-only folder: not ours to fight over
                pass
    return removed


MAX_IMAGES = 100_000  # per call of predict / read; more is a runaway glob


def check_image_count(images: Sequence[str]) -> None:
    if len(images) > MAX_IMAGES:
        raise UsageError(f"{len(images)} images in one call; at most {MAX_IMAGES} (split the list)")


def image_errors() -> tuple[type[BaseException], ...]:
    """What reading one image may raise that concerns that image alone (the other images are still read)."""
    from .use.images import ImageError

    return (ImageError, OSError, ValueError, MemoryError)


def image_error_message(path, error: BaseException) -> str:
    if isinstance(error, OSError):
        return f"cannot read {path}: {error.strerror or error}"
    if isinstance(error, MemoryError):
        return f"{path} is too large to preprocess in the memory available"
    return str(error)


# -- loading what commands need ----------------------------------------------------------------------------------


def load_checkpoint_or_fail(path=None, logdir=None):
    """The ``SigmoidNetwork`` of a checkpoint (the newest under ``logdir`` if ``path`` is None) that reads
    784 pixels into 10 digits, or ``Failure`` saying why not."""
    from .learn.checkpoints import DEFAULT_LOGDIR, CheckpointError, load_network, newest_checkpoint

    try:
        path = newest_checkpoint(logdir or DEFAULT_LOGDIR) if path is None else path
        net = load_network(path)
    except CheckpointError as error:
        raise Failure(error) from None
    except OSError as error:  # e.g. permission denied: the file is there but cannot be read
        raise Failure(f"cannot read checkpoint {path}: {error.strerror or error}") from None
    if net.sizes[0] != 784 or net.sizes[-1] != 10:
        raise Failure(f"{path} holds a network of sizes {net.sizes}; reading digits needs 784 inputs and 10 outputs")
    return net


def mnist_or_fail(data_dir=None, verbose: bool = True) -> Path:
    """The folder of the four verified MNIST files (fetched if missing), or ``Failure`` saying how to fix it."""
    from .learn.mnist import DataError, fetch_mnist

    try:
        return fetch_mnist(data_dir, verbose=verbose)
    except DataError as error:
        raise Failure(error) from None
    except OSError as error:
        raise Failure(f"cannot get MNIST: {os_message(error)}") from None


def quiet_lightning() -> None:
    """Keep the console to the book's lines: no Lightning banners or tips, no warnings that do not apply."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        ".*does not have many workers.*",
        ".*isn't set, so you may run out of memory.*",
        ".*LeafSpec.*is deprecated.*",
        ".*dirpath has changed from.*",
        ".*have no `val_dataloader`.*",
    ):
        warnings.filterwarnings("ignore", message=message)


# -- the wrapper every command's main goes through ---------------------------------------------------------------


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (in-process tests): nothing to redirect
        pass


_interrupted = False  # set by the SIGINT handler: whatever error follows a Ctrl-C, the user pressed Ctrl-C


def _on_sigint(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _install_sigint():
    """Ctrl-C raises KeyboardInterrupt from now on, even if the parent ignored SIGINT; returns the old handler.

    A KeyboardInterrupt raised in the middle of importing a library can come out as another error (a module
    left half-initialised, a fallback import failing): the flag set here makes any of those "interrupted".
    """
    global _interrupted
    _interrupted = False
    try:
        return signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread (a command run from a worker thread): leave signals alone
        return None


def _was_interrupted(prog: str) -> int | None:
    if not _interrupted:
        return None
    fail(prog, "interrupted")
    return EXIT_INTERRUPTED


def _thread_errors(prog: str):
    """A ``threading.excepthook`` that reports a background thread's error (TensorBoard's event writer on a
    full disk) in one line, once, instead of a traceback."""
    said: list[bool] = []

    def hook(args):
        if args.exc_type is SystemExit or said:
            return
        said.append(True)
        error = args.exc_value
        text = os_message(error) if isinstance(error, OSError) else f"{args.exc_type.__name__}: {error}"
        fail(prog, f"a background writer stopped: {text}")

    return hook


def run_command(main: Callable[[list[str] | None], int | None], prog: str, argv: list[str] | None = None) -> int:
    """Run ``main(argv)`` and return its exit code; every way out is one line on stderr at most."""
    previous = _install_sigint()
    previous_hook, threading.excepthook = threading.excepthook, _thread_errors(prog)
    try:
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse: --help (0) or a bad flag (2, its line already printed)
            if stop.code is not None and not isinstance(stop.code, int):
                raise Failure(stop.code) from None
            code = stop.code
        if sys.stdout is not None:
            sys.stdout.flush()  # a broken pipe or a full disk shows here, inside the handlers, not at exit
        return EXIT_OK if code is None else int(code)
    except KeyboardInterrupt:
        if previous is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we say so: quiet
        fail(prog, "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`| head -1`): normal, nothing to say
        _silence_stdout()
        return EXIT_FAILURE
    except Failure as error:
        fail(prog, error)
        return error.code
    except MemoryError:
        fail(prog, "out of memory (try smaller sizes or a smaller --batch-size)")
        return EXIT_FAILURE
    except OSError as error:
        code = _was_interrupted(prog)
        if code is None:
            fail(prog, os_message(error))
        return code or EXIT_FAILURE
    except Exception as error:
        code = _was_interrupted(prog)
        if code is not None:
            return code
        if os.environ.get("NNDIGITS_DEBUG"):
            raise
        fail(prog, f"unexpected {type(error).__name__}: {error} (NNDIGITS_DEBUG=1 shows the traceback)")
        return EXIT_FAILURE
    finally:
        threading.excepthook = previous_hook
        if previous is not None:
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signal.SIGINT, previous)


def exit_with(code: int) -> None:
    """End the process with ``code``: what ``if __name__ == "__main__"`` calls with ``main()``'s result.

    After Ctrl-C the process ends at once (``os._exit``), streams flushed: a KeyboardInterrupt that landed
    inside a C extension's own Python call (torch's import does some) leaves a flag that makes the
    interpreter kill itself with SIGINT on a normal exit, whatever the exit code -- not 130.
    """
    if code == EXIT_INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


def command(prog: str):
    """Decorator for a command's ``main(argv) -> exit code``: ``main`` then never raises, never prints a traceback.

    ``if __name__ == "__main__": exit_with(main())`` is then all a command module needs.  The module must
    import only light modules at its top (this one, argparse): the heavy ones go inside ``main``, after the
    flags are parsed, so ``--help`` is instant and Ctrl-C during the imports is one line.
    """

    def wrap(main):
        @functools.wraps(main)
        def wrapped(argv: list[str] | None = None) -> int:
            return run_command(main, prog, argv)

        wrapped.prog = prog
        return wrapped

    return wrap
