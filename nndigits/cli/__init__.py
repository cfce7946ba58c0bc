"""The command toolkit: how every ``python -m nndigits.*`` command and experiment parses, fails and exits.

One place decides what a user sees when something goes wrong; each idea is one module here:

- ``errors``: ``Failure`` (exit 1), ``UsageError`` (exit 2) and the one error line on stderr.
- ``flags``: ``Parser`` (a bad flag is one line and exit code 2; every flag's help shows its default),
  ``positive`` and the flag builders (``add_seed``, ``add_threads``, ...), bounded by the dtypes.
- ``machine``: the CPUs and memory this process may use, a network's memory, writable folders and
  ``clean_stale`` (the temporary files, ``learn/atomic.py``'s names, that a killed run left).
- ``resources``: images, ``load_checkpoint_or_fail``, ``mnist_or_fail``, ``quiet_lightning``.
- ``running``: ``command(prog)``, the wrapper around a command's ``main`` (Ctrl-C, broken pipes, exit codes).

Exit codes: 0 done, 1 failure (bad file, no data, full disk), 2 usage (a flag), 130 interrupted.
These modules import only the standard library at the top, so ``--help`` is instant.  Everything is
re-exported here: ``from nndigits.cli import Parser, command`` is how commands use them.
"""

from __future__ import annotations

from .errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    MAX_MESSAGE,
    Failure,
    UsageError,
    fail,
    one_line,
    os_message,
)
from .flags import (
    FLOAT32_MAX,
    FLOAT32_NORMAL,
    INT64_MAX,
    MAX_EPOCHS,
    SEED_MAX,
    TRAIN_SIZE,
    Parser,
    add_checkpoint,
    add_data_dir,
    add_epochs,
    add_seed,
    add_seeds,
    add_threads,
    path_arg,
    positive,
    seed_range,
)
from .machine import (
    EVAL_BATCH,
    available_memory,
    check_network_fits,
    check_writable,
    clean_stale,
    network_bytes,
    usable_cpus,
)
from .resources import (
    MAX_IMAGES,
    check_image_count,
    for_each_image,
    image_error_message,
    image_errors,
    load_checkpoint_or_fail,
    mnist_or_fail,
    quiet_lightning,
)
from .running import command, exit_with, run_command

__all__ = [
    "EVAL_BATCH",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FLOAT32_MAX",
    "FLOAT32_NORMAL",
    "INT64_MAX",
    "MAX_EPOCHS",
    "MAX_IMAGES",
    "MAX_MESSAGE",
    "SEED_MAX",
    "TRAIN_SIZE",
    "Failure",
    "Parser",
    "UsageError",
    "add_checkpoint",
    "add_data_dir",
    "add_epochs",
    "add_seed",
    "add_seeds",
    "add_threads",
    "available_memory",
    "check_image_count",
    "check_network_fits",
    "check_writable",
    "clean_stale",
    "command",
    "exit_with",
    "fail",
    "for_each_image",
    "image_error_message",
    "image_errors",
    "load_checkpoint_or_fail",
    "mnist_or_fail",
    "network_bytes",
    "one_line",
    "os_message",
    "path_arg",
    "positive",
    "quiet_lightning",
    "run_command",
    "seed_range",
    "usable_cpus",
]
