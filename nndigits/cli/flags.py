"""Flags: the ``Parser`` (one-line errors, defaults in the help) and the flag builders, bounded as chapter.py says.

Numbers are checked against ``chapter.py``'s bounds (the same ones ``nndigits.fit``, the app and the sweep
check) and what the machine and the dtypes can honour -- C int64, float32 (no overflow, no underflow to zero),
the CPUs this process may use -- so a value that parses but cannot be used is refused before any work, not
80 lines deep inside torch.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from ..chapter import DEFAULT_LOGDIR, EPOCHS, EPOCHS_BOUND, FLOAT32_MAX, INT64_MAX, SEED, SEED_BOUND, Bound
from ..core.machine import usable_cpus
from .errors import EXIT_USAGE, one_line


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


def positive(kind, name: str, minimum=None, strict: bool = False, maximum=None, bound: Bound | None = None):
    """An argparse ``type``: a number of ``kind`` (int or float) in [minimum, maximum] (> minimum if ``strict``).

    Or ``bound``, one of ``chapter.py``'s bounds: the flags, ``nndigits.fit``, the app and the sweep check
    what a user typed against the same ``Bound``.  Ints default to at least 1 and at most C int64; floats to
    greater than 0 and at most float32's largest value (a float that must be above 0 must also be at least
    float32's smallest normal number, so that it does not become 0 when the network computes with it).
    No bound is ever looser than the dtype allows.
    """
    if bound is None:
        if minimum is None:
            minimum, strict = (1, False) if kind is int else (0.0, True)
        ceiling = INT64_MAX if kind is int else FLOAT32_MAX
        maximum = ceiling if maximum is None else min(maximum, ceiling)
        why = "the largest float32" if maximum == FLOAT32_MAX else "the largest int64" if maximum == INT64_MAX else ""
        bound = Bound(name, kind, minimum, maximum, open_low=strict, why=why)
    who = "" if name.startswith("-") else name  # argparse already names the flag

    def convert(text: str):
        try:
            return bound.check(text, who)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

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


def add_seed(p: argparse.ArgumentParser, default: int = SEED) -> None:
    """``--seed S``: THE seed convention. One run is seed S (default 1); S seeds are 1..S (``seed_range``)."""
    p.add_argument(
        "--seed",
        type=positive(int, "--seed", bound=SEED_BOUND),
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


def add_epochs(p: argparse.ArgumentParser, default: int = EPOCHS) -> None:
    p.add_argument(
        "--epochs",
        type=positive(int, "--epochs", bound=EPOCHS_BOUND),
        default=default,
        help=f"number of epochs, 1 to {EPOCHS_BOUND.high} (default: {default})",
    )


def add_threads(p: argparse.ArgumentParser, default: int | None = 1, help: str = "CPU threads") -> None:
    cpus = usable_cpus()
    p.add_argument(
        "--threads",
        type=positive(int, "--threads", 1, maximum=cpus),
        default=default,
        help=f"{help}, 1 to {cpus} (the CPUs this process may use) (default: {default or 'torch decides'})",
    )


def add_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        type=path_arg("--checkpoint"),
        metavar="CKPT",
        default=None,
        help=f"a checkpoint written by `python -m nndigits.train` (default: the newest under {DEFAULT_LOGDIR}/)",
    )
