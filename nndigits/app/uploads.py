"""Bytes from the browser (a drawing or an uploaded file) in, the 784-vector the network sees out.

The one path from an image to the network's input is ``nndigits.use.images``
(``load_digit``, as ``python -m nndigits.predict`` uses it).  It reads files, so
the bytes are written to a private temporary file and handed to exactly that
function: no second preprocessing, and every check it makes (format, pixel
count before decoding, blank images) applies to uploads too.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..use.image_files import ImageError
from ..use.images import load_digit

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # 10 MiB: a phone photo of a digit is a few MiB


def digit_from_bytes(data: bytes, name: str = "upload") -> np.ndarray:
    """``load_digit`` of these bytes: float32 (784,) in [0, 1]; ``ImageError`` naming ``name`` if unusable."""
    if not data:
        raise ImageError(f"{name}: the file is empty")
    fd, path = tempfile.mkstemp(prefix="nndigits-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return load_digit(path)
    except ImageError as error:
        raise ImageError(str(error).replace(path, name)) from None
    finally:
        os.unlink(path)
