"""The images a command reads (``predict``, ``read``): one that cannot be read is one error line, not the end.

NumPy and Pillow are imported only inside the functions (``use/images.py``), so importing this module is instant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import UsageError, fail

MAX_IMAGES = 100_000  # per call of predict / read; more is a runaway glob


def check_image_count(images: Sequence[str]) -> None:
    if len(images) > MAX_IMAGES:
        raise UsageError(f"{len(images)} images in one call; at most {MAX_IMAGES} (split the list)")


def image_errors() -> tuple[type[BaseException], ...]:
    """What reading one image may raise that concerns that image alone (the other images are still read)."""
    from ..use.image_files import ImageError

    return (ImageError, OSError, ValueError, MemoryError)


def image_error_message(path, error: BaseException) -> str:
    if isinstance(error, OSError):
        return f"cannot read {path}: {error.strerror or error}"
    if isinstance(error, MemoryError):
        return f"{path} is too large to preprocess in the memory available"
    return str(error)


def for_each_image(prog: str, paths: Sequence[str], load: Callable, use: Callable) -> int:
    """``use(path, load(path))`` for every image in turn; one that cannot be read is one error line and the others
    go on.  The exit code: 1 if any image could not be read, else 0 (``use`` raises ``Failure`` to stop)."""
    bad = image_errors()
    failed = 0
    for path in paths:
        try:
            loaded = load(path)
        except bad as error:
            fail(prog, image_error_message(path, error))
            failed += 1
            continue
        use(path, loaded)
    return 1 if failed else 0
