"""The error line: ``Failure`` (exit 1) and ``UsageError`` (exit 2), and how any error becomes one line on stderr.

Exit codes: 0 done, 1 failure (bad file, no data, full disk), 2 usage (a flag), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import sys

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_MESSAGE = 300  # characters of one error line (a flag's value is quoted, cut to 40)


class Failure(Exception):
    """The command cannot do what was asked (a bad file, no data, a full disk): one line, exit 1."""

    code = EXIT_FAILURE


class UsageError(Failure):
    """The flags ask for something that cannot be done (a network too big for memory): one line, exit 2."""

    code = EXIT_USAGE


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
