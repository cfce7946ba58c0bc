"""A checkpoint read without torch: ``torch.save``'s zip archive unpacked with ``zipfile``, ``pickle`` and NumPy.

Why: ``import torch`` alone costs 2.5-3 s on a small CPU, and ``predict`` must answer one image in under 2 s.
What the archive holds (``torch.save``, format version 1): ``<name>/data.pkl``, the pickled object with each
tensor's storage replaced by a persistent id ``('storage', torch.FloatStorage, key, 'cpu', numel)``;
``<name>/data/<key>``, each storage's raw bytes; ``<name>/byteorder``, their byte order.  A tensor is
pickled as a call of ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``.

Safety: the unpickler resolves only the globals a checkpoint of ours holds -- ``collections.OrderedDict``,
``_rebuild_tensor_v2`` (answered by a NumPy function here) and the storage classes of real dtypes (answered
by markers that cannot be called) -- so, as with ``torch.load(weights_only=True)``, loading never runs code
from the file (pickle's BUILD can only set the state of what these make -- an OrderedDict's attributes, an
array's contents -- which runs no code either).  Every other global, and anything else this reader does
not know (another dtype, a parameter, a malformed pickle), is ``Unsupported``: the caller then hands the
file to torch's ``weights_only`` loader, which loads what is valid and refuses what is not with its own
message.  What is certainly damaged -- a storage whose bytes are not the size its id claims, a tensor
reaching past its storage -- is a ``CheckpointError`` here, as torch would refuse it too.
"""

from __future__ import annotations

import collections
import math
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np

DTYPES = {  # torch's storage classes of the dtypes NumPy has
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable, or not one of ours; the message says which."""


class Unsupported(Exception):
    """Something this reader does not handle (not necessarily wrong): torch's loader decides."""


class _StorageType:
    """What ``torch.FloatStorage`` (and the others) unpickle to here: a dtype, not a callable."""

    def __init__(self, name: str):
        self.name = name


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2`` in NumPy: the (size, stride) view at ``offset`` of ``storage``,
    copied -- after checking that every element it reaches lies inside the storage."""
    if not isinstance(storage, np.ndarray) or hooks or metadata:
        raise Unsupported("a tensor with hooks or metadata")
    if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)):
        raise Unsupported("a tensor of unexpected form")
    if len(size) != len(stride) or not all(isinstance(n, int) and n >= 0 for n in (offset, *size, *stride)):
        raise Unsupported("a tensor of unexpected form")
    count = math.prod(size)
    if count == 0:
        return np.empty(size, dtype=storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= len(storage):
        raise CheckpointError(
            f"a tensor of size {list(size)} reaches element {last} of a storage of {len(storage)} elements"
        )
    if count > len(storage):  # an expanded view (stride 0): copying it would allocate more than the file holds
        raise Unsupported("a tensor larger than its storage")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * item for s in stride), writeable=False
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, byteorder: str):
        super().__init__(file)
        self.archive, self.prefix, self.order = archive, prefix, byteorder
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in DTYPES:
            return _StorageType(name)
        raise Unsupported(f"global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise Unsupported(f"persistent id {str(pid)[:60]}")
        kind, key, _, numel = pid[1:]
        if not (isinstance(kind, _StorageType) and isinstance(key, str) and isinstance(numel, int) and numel >= 0):
            raise Unsupported(f"persistent id {str(pid)[:60]}")
        dtype = np.dtype(DTYPES[kind.name]).newbyteorder(self.order)
        if key in self.storages:
            if self.storages[key].dtype != dtype:
                raise Unsupported(f"storage {key} read as two dtypes")
            return self.storages[key]
        name = f"{self.prefix}/data/{key}"
        try:
            data = self.archive.read(name)
        except KeyError:
            raise CheckpointError(f"its storage {name} is missing") from None
        if len(data) != numel * dtype.itemsize:
            raise CheckpointError(
                f"its storage {name} holds {len(data)} bytes where its tensor claims "
                f"{numel} x {dtype.itemsize} = {numel * dtype.itemsize}"
            )
        self.storages[key] = np.frombuffer(data, dtype=dtype)
        return self.storages[key]


def load_archive(path: str | Path):
    """The object ``torch.save`` wrote to ``path``, its tensors as NumPy arrays (native byte order, copies).

    ``Unsupported`` if it holds anything beyond plain containers and tensors of NumPy's dtypes;
    ``CheckpointError`` if it is damaged.  The caller has checked it is a zip archive of a sane size.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            prefix = names[0].split("/")[0] if names else ""
            if f"{prefix}/data.pkl" not in names:
                raise Unsupported("no data.pkl")
            order: str = sys.byteorder
            if f"{prefix}/byteorder" in names:
                order = archive.read(f"{prefix}/byteorder").decode("ascii", "replace")
            if order not in ("little", "big"):
                raise Unsupported(f"byte order {order[:20]!r}")
            with archive.open(f"{prefix}/data.pkl") as file:
                return _Unpickler(file, archive, prefix, "<" if order == "little" else ">").load()
    except (CheckpointError, Unsupported):
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as error:  # e.g. a record whose CRC does not match
        raise CheckpointError(f"damaged archive: {error}") from None
    except Exception as error:  # a malformed pickle, an unexpected call: torch's loader has the last word
        raise Unsupported(f"{type(error).__name__}: {error}") from None
