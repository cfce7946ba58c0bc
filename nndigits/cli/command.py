"""Running a command: ``command(prog)`` wraps its ``main`` so every way out is one line and an exit code.

It installs the SIGINT handler before the command imports anything heavy (Ctrl-C at any moment: one line,
exit 130), refuses to start with stdout closed (``predict ... >&-`` would lose every answer and exit 0),
exits quietly on a broken pipe (``predict ... | head -1``), and turns ``Failure`` (exit 1), ``UsageError``
(exit 2), ``OSError`` (a full disk, a read-only folder) and ``MemoryError`` into one line.
``NNDIGITS_DEBUG=1`` shows the traceback of an unexpected error instead.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable

from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, Failure, fail, os_message


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
            if sys.stdout is None:  # file descriptor 1 was closed (`>&-`): print() would drop every line silently
                raise Failure("stdout is closed, so the output would be lost (redirect it to a file or /dev/null)")
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
        fail(prog, "out of memory (try smaller sizes or a smaller m, -m)")
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

    Once torch is loaded, a normal exit ends the same way, after the exit handlers (``atexit``: logging,
    TensorBoard, Ray) have run and the streams are flushed, when no other thread is alive: the
    interpreter's own teardown of torch's and Lightning's thousands of modules then adds more than a
    second to every command and does nothing for it (every file is written and closed by then).
    """
    if code == EXIT_INTERRUPTED or ("torch" in sys.modules and threading.active_count() == 1):
        if code != EXIT_INTERRUPTED:
            atexit._run_exitfuncs()
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
