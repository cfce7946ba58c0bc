"""The ``native`` engine: the book's SGD steps (eq. 20-21) for a whole chunk of mini-batches in compiled C++.

Why: at m = 10 one step of the book's network is about half a million
multiply-adds, and the ``backprop`` engine's ~15 eager torch operations a step
cost more in dispatch than in arithmetic.  ``csrc/sgd.cpp`` runs every
mini-batch of a chunk in one call, doing exactly what the reference step
``engines.backprop_steps`` does, operation for operation (only the order of additions inside a matrix
product is its own -- rounding: in float64 the engines agree to ~1e-14 after
hundreds of steps; over whole epochs SGD at eta = 3 amplifies any rounding
difference, and native drifts from backprop exactly as fast as autograd does).

The extension is built on first use with ``torch.utils.cpp_extension.load``
into torch's extension cache (``TORCH_EXTENSIONS_DIR``, default
``~/.cache/torch_extensions``); torch's file lock makes concurrent first builds
safe, and later processes just load the cached library.  It is compiled for the
CPU it runs on (``-march=native``), so the cache folder's name carries a
fingerprint of the CPU (and a hash of the source, so an edited source is a new
build).  Where there is no compiler, or the build fails, or the
tensors are not float32/float64 on the CPU, the steps are taken by the
``backprop`` engine instead (``NativeSteps``' fallback), after a one-line notice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

import torch
from torch import nn

if TYPE_CHECKING:
    from .datamodule import Rows

SOURCE = Path(__file__).with_name("csrc") / "sgd.cpp"
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-std=c++17"]

_module: ModuleType | None = None
_unavailable: str | None = None  # why the extension cannot be used in this process (then: backprop)
_noticed = False
build_seconds: float | None = None  # how long this process spent building (or loading) the extension


def _cpu_fingerprint() -> str:
    """A short hash of the CPU model and its instruction-set flags: a -march=native build is only for such CPUs."""
    text = platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            lines = [line for line in info if line.startswith(("model name", "flags", "Features"))]
        text += "".join(sorted(set(lines)))
    except OSError:
        pass
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def _source_hash() -> str:
    """A short hash of the C++ source: a changed source is a new extension, never a stale library from the cache."""
    return hashlib.sha1(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:8]


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")


def load_extension() -> ModuleType | None:
    """The compiled extension (built into torch's cache on first use), or None with the reason in ``unavailable()``."""
    global _module, _unavailable, build_seconds
    if _module is not None or _unavailable is not None:
        return _module
    if _compiler() is None:
        _unavailable = "no C++ compiler found (set CXX or install g++)"
        return None
    # Importing cpp_extension logs a warning about CUDA on machines without it; it does not concern a CPU build.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils import cpp_extension

    name = f"nndigits_sgd_{_cpu_fingerprint()}_{_source_hash()}"
    try:  # say why the first run pauses: compiling takes seconds (torch's cache folder, as load() computes it)
        cached = (Path(cpp_extension._get_build_directory(name, False)) / f"{name}.so").exists()
    except Exception:
        cached = True
    if not cached:
        print("nndigits: building the native engine for this CPU (first use only)...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        _module = cpp_extension.load(
            name=name,
            sources=[str(SOURCE)],
            extra_cflags=FLAGS,
            verbose=bool(os.environ.get("NNDIGITS_NATIVE_VERBOSE")),
        )
    except Exception as error:  # a failed build or load of any kind: the backprop engine still works
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        _unavailable = f"building the C++ extension failed ({first[:200]})"
        return None
    build_seconds = time.perf_counter() - start
    return _module


def unavailable() -> str | None:
    """Why the native engine falls back to backprop in this process (None when it is available)."""
    load_extension()
    return _unavailable


def available() -> bool:
    return load_extension() is not None


def _notice(reason: str) -> None:
    global _noticed
    if not _noticed:
        _noticed = True
        print(f"nndigits: native engine unavailable: {reason}; using the backprop engine", file=sys.stderr)


def _usable(weights: list[torch.Tensor], data: list[torch.Tensor], errors: torch.Tensor) -> str | None:
    """Why these tensors cannot go to the C++ loops as they are (None when they can)."""
    dtype = weights[0].dtype
    if dtype not in (torch.float32, torch.float64):
        return f"it computes in float32 or float64, not {dtype}"
    if any(t.device.type != "cpu" for t in (*weights, *data, errors)):
        return "it runs on the CPU only"
    if any(t.dtype != dtype for t in (*weights, errors)):
        return "the weights differ in dtype"
    if any(t.dtype not in (torch.float32, torch.float64) or t.dtype != data[0].dtype for t in data):
        return "the data are not float32 or float64 throughout"
    return None


class NativeSteps:
    """The ``native`` engine (made by ``engines.make_engine``): ``steps(rows)`` as ``engines.Engine`` says.

    The C++ loops read each mini-batch's m rows by number (``rows.index``): the chunk is never
    gathered into a copy of its own, and data in another float dtype than the weights are
    converted row by row, as ``.to(dtype)`` would.  The same steps as ``engines.backprop_steps``
    -- which ``fallback`` (the ``backprop`` engine's ``steps``, handed in by the registry) takes
    when the extension or these tensors cannot be used.
    """

    def __init__(self, layers: nn.ModuleList, eta: float, m: int, fallback: Callable[[Rows], torch.Tensor]):
        self.layers, self.eta, self.m, self.fallback = layers, eta, m, fallback

    def steps(self, rows: Rows) -> torch.Tensor:
        weights: list[torch.Tensor] = [cast(torch.Tensor, layer.weight) for layer in self.layers]
        biases: list[torch.Tensor] = [cast(torch.Tensor, layer.bias) for layer in self.layers]
        errors = rows.room_for_errors(weights[0])
        reason = steps_or_reason(weights, biases, rows.x, rows.y, self.m, self.eta, errors, rows.index)
        if reason is None:
            return errors
        _notice(reason)
        return self.fallback(rows)


def steps_or_reason(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    m: int,
    eta: float,
    errors: torch.Tensor,
    index: torch.Tensor | None = None,
) -> str | None:
    """SGD steps on the rows ``x[index]``, ``y[index]`` (all of x and y without an index), m at a time, in C++.

    On the weight and bias tensors themselves (a network's own, or one network's slice of a sweep's
    stack), writing a - y of each row into ``errors``.  Returns None once the steps are taken, or --
    having done nothing -- why the C++ loops cannot take them (no extension, a dtype or device they do
    not handle).  Shapes that do not fit are an error.
    """
    if m < 1:
        raise ValueError(f"mini-batch size must be at least 1, got {m}")
    module = load_extension()
    if module is None:
        return _unavailable or "not built"
    reason = _usable([*weights, *biases], [x, y], errors)
    if reason is not None:
        return reason
    n = len(x) if index is None else len(index)
    sizes = [x.shape[1] if x.dim() == 2 else -1] + [w.shape[0] for w in weights]
    if (
        x.dim() != 2
        or y.shape != (x.shape[0], sizes[-1])
        or errors.shape != (n, sizes[-1])
        or any(w.shape != (n_out, n_in) for w, n_in, n_out in zip(weights, sizes, sizes[1:]))
        or any(b.shape != (n_out,) for b, n_out in zip(biases, sizes[1:]))
    ):
        raise ValueError(f"native engine: shapes do not fit the network {sizes}")
    if index is not None and (index.dtype != torch.int64 or index.dim() != 1 or index.device.type != "cpu"):
        raise ValueError("native engine: the row index must be a 1-D int64 tensor on the CPU")
    x, y = x.contiguous(), y.contiguous()
    rows = None if index is None else index.contiguous()
    out = errors if errors.is_contiguous() else torch.empty_like(errors, memory_format=torch.contiguous_format)
    for p in (*weights, *biases):
        if not p.is_contiguous():
            raise ValueError("native engine: parameters must be contiguous")
    with torch.no_grad():
        module.sgd_steps(
            sizes,
            [w.data_ptr() for w in weights],
            [b.data_ptr() for b in biases],
            x.data_ptr(),
            y.data_ptr(),
            len(x),
            0 if rows is None else rows.data_ptr(),
            out.data_ptr(),
            n,
            m,
            float(eta),
            weights[0].dtype == torch.float64,
            x.dtype == torch.float64,
        )
        if out is not errors:
            errors.copy_(out)
    return None
