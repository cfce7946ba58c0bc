"""The book's SGD steps on CUDA, captured once in a CUDA graph and replayed for every chunk.

On a GPU an eager step of ``engines.backprop_steps`` is ~15 kernel launches of a few
microseconds of work each, so Python and launch overhead set the pace (the
issue that asked for this measured an eager loop 6x slower than the 2-core CPU).
A CUDA graph records the launches of a whole chunk of steps once; replaying it
issues them all with one call.  The captured work *is* ``backprop_steps`` on
the network's own parameters -- the same operations on the same tensors, so
the same steps as the CPU engine to fp32 rounding -- reading each chunk from
static input buffers that every call copies the chunk into.

Capture needs fixed addresses: the parameters are updated in place (never
reassigned) and a chunk of another length (the epoch's last, shorter one) gets
its own graph.  The side-stream warm-up that capture needs (cuBLAS handles,
workspaces) runs on *copies* of the parameters, so no SGD step is taken twice.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .datamodule import Rows


class CudaGraphSteps:
    """The ``cudagraph`` engine (made by ``engines.make_engine``): ``steps(rows)`` replays the reference steps.

    ``reference`` is ``engines.backprop_steps`` (passed in, so that this module needs nothing from
    the registry that imports it); ``layers`` must live on a CUDA device.
    """

    def __init__(self, layers, eta: float, m: int, reference: Callable[..., None]):
        self.layers, self.eta, self.m, self.reference = layers, float(eta), m, reference
        self._graphs: dict[tuple, tuple] = {}  # (rows, device) -> (graph, x, y, errors)

    def _capture(self, x: torch.Tensor, y: torch.Tensor):
        if x.device.type != "cuda":
            raise RuntimeError(f"the cudagraph engine needs the network on a CUDA GPU, not {x.device}")
        static_x, static_y = x.clone(), y.clone()
        static_errors = torch.empty_like(y)
        m, eta, reference = self.m, self.eta, self.reference

        def steps(layers):
            reference(layers, static_x.split(m), static_y.split(m), eta, static_errors.split(m))

        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            spare = copy.deepcopy(self.layers)  # warm-up steps land on a copy, never on the real network
            for _ in range(2):
                steps(spare)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):  # records the launches; the real parameters do not move yet
            steps(self.layers)
        return graph, static_x, static_y, static_errors

    def steps(self, rows: Rows) -> torch.Tensor:
        x, y = rows.gather(self.layers[0].weight.dtype)
        key = (x.shape[0], x.device)
        if key not in self._graphs:
            self._graphs[key] = self._capture(x, y)
        graph, static_x, static_y, static_errors = self._graphs[key]
        static_x.copy_(x)
        static_y.copy_(y)
        graph.replay()
        return static_errors.clone()
