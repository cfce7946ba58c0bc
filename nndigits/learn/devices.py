"""Where a run trains: ``auto`` means the CPU unless a *measured* rule says a GPU is faster for the run's size.

Lightning's own ``accelerator="auto"`` takes a GPU whenever one is present.  For
the book's run that is most likely the slower choice: each SGD step of m = 10
images is a few dozen tiny operations, and eagerly launched on a GPU they were
measured 6x slower than this project's 2-core CPU (issue 17).  A GPU wins only
with an engine that removes the launch overhead (``cudagraph``, ``triton``), and
only where that has been measured.  So ``auto`` resolves to ``"gpu"`` only when
one of ``MEASURED_GPU_FASTER`` covers the run -- and that list is empty until a
benchmark on a real GPU (``experiments/gpu_check.py``) fills it in.

A GPU engine asked for by name (``--engine cudagraph``/``triton``) is a request
for the GPU: ``auto`` then means ``gpu``, and it is an error without one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..chapter import ACCELERATORS, GPU_ENGINES, parameters
from .engines import check_engine
from .errors import RunError


@dataclass(frozen=True)
class GpuFaster:
    """A measured finding: with ``engine``, networks of at most ``max_params`` weights and biases at mini-batch sizes
    ``m_min..m_max`` train faster on the GPU ``device`` than on the CPU (``source`` names the results file)."""

    engine: str
    max_params: int
    m_min: int
    m_max: int
    device: str
    source: str

    def covers(self, sizes: Sequence[int], m: int, engine: str) -> bool:
        return engine == self.engine and parameters(sizes) <= self.max_params and self.m_min <= m <= self.m_max


# Nothing has been measured on a GPU yet, so auto never picks one.  A rule goes here only with the
# experiments/results file that measured it (written by experiments/gpu_check.py).
MEASURED_GPU_FASTER: tuple[GpuFaster, ...] = ()


def interpreting() -> bool:
    """Whether Triton kernels run under Triton's CPU interpreter (``TRITON_INTERPRET=1``): a correctness check only."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def choose_accelerator(
    requested: str,
    sizes: Sequence[int],
    m: int,
    engine: str = "backprop",
    cuda_available: bool | None = None,
    rules: Sequence[GpuFaster] | None = None,
) -> str:
    """``"cpu"`` or ``"gpu"`` for a run of ``SigmoidNetwork(sizes)`` at mini-batch size ``m`` with ``engine``.

    ``requested`` is the user's ``--accelerator``: ``cpu`` and ``gpu`` (alias
    ``cuda``) are obeyed (``gpu`` without a GPU is a ``RunError``); ``auto`` is
    ``gpu`` only when a GPU is present and one of ``rules`` (default:
    ``MEASURED_GPU_FASTER``) covers the run, else ``cpu``.  ``cuda_available``
    overrides ``torch.cuda.is_available()`` (for tests).
    """
    if requested not in ACCELERATORS:
        raise RunError(f"unknown accelerator {requested!r}; choose one of {', '.join(ACCELERATORS)}")
    requested = "gpu" if requested == "cuda" else requested
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if engine in GPU_ENGINES:
        try:
            check_engine(engine, sizes)
        except ValueError as error:
            raise RunError(str(error)) from None
        if engine.startswith("triton") and requested == "cpu" and interpreting():
            return "cpu"  # the kernels under Triton's interpreter, on CPU tensors: slow, for checking only
        if requested == "cpu":
            raise RunError(f"engine {engine} runs on a CUDA GPU only; use --accelerator gpu or a CPU engine")
        if not cuda_available:
            raise RunError(f"engine {engine} needs a CUDA GPU, but torch sees none (use engine backprop)")
        return "gpu"
    if requested == "gpu":
        if not cuda_available:
            raise RunError("accelerator gpu was asked for, but torch sees no CUDA GPU (use cpu or auto)")
        return "gpu"
    if requested == "cpu":
        return "cpu"
    rules = MEASURED_GPU_FASTER if rules is None else rules
    if cuda_available and any(rule.covers(sizes, m, engine) for rule in rules):
        return "gpu"
    return "cpu"
