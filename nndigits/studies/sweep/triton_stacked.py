"""The sweep's stacked SGD steps as one Triton launch per chunk: one program per network, K programs side by side.

``StackedNetworks.sgd_steps`` takes each step of all K networks as a few
batched tensor operations, so a chunk of 25 mini-batches is ~25 x 15 launches
however many networks there are -- on a GPU the launches, not the arithmetic,
set the pace and the GPU idles.  ``TritonStacked`` takes the whole chunk for all
K networks in *one* launch of ``learn.triton_sgd.sgd_chunk_kernel``: program k
keeps network k's weights resident and runs its own mini-batches, so K networks
cost about as much as one until the GPU's SMs are full (an H100 has 132).

It is a drop-in for ``nets.sgd_steps`` -- same arguments, same steps to fp32
rounding (``tests/test_triton.py``, under the interpreter) -- for groups with one
hidden layer (padded hidden sizes included).  Exact fp32 dots by default;
``precision="tf32"`` opts into TF32.
"""

from __future__ import annotations

import torch

from ...learn.triton_sgd import PRECISIONS, launch_chunk
from .stacked import StackedNetworks


class TritonStacked:
    """``TritonStacked(nets)(xs, ys, m, errors)`` does what ``nets.sgd_steps(xs, ys, m, errors)`` does, in a launch."""

    def __init__(self, nets: StackedNetworks, precision: str = "ieee", num_warps: int = 8):
        if nets.hidden == 0:
            raise ValueError("the triton sweep engine trains networks with one hidden layer, this group has none")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if nets.w[0].dtype != torch.float32:
            raise ValueError(f"the triton sweep engine computes in float32, got {nets.w[0].dtype}")
        self.nets, self.precision, self.num_warps = nets, precision, num_warps
        device = nets.w[0].device
        self.eta = torch.tensor([c.lr for c in nets.configs], dtype=torch.float32, device=device)
        self.hidden = torch.tensor([c.hidden[0] for c in nets.configs], dtype=torch.int32, device=device)

    @torch.no_grad()
    def __call__(self, xs: torch.Tensor, ys: torch.Tensor, m: int, errors: torch.Tensor) -> None:
        """SGD steps (eq. 20-21) of every network on its own mini-batches: xs[k, s*m:(s+1)*m] is network k's step s."""
        nets = self.nets
        w1, w2 = nets.w
        b1, b2 = nets.b
        launch_chunk(xs, ys, errors, w1, b1, w2, b2, self.eta, self.hidden, m, self.precision, self.num_warps)


SWEEP_ENGINES = ("torch", "triton", "triton-tf32")


def stacked_steps(nets: StackedNetworks, engine: str = "torch"):
    """The step function ``step(xs, ys, m, errors)`` of a sweep engine: ``nets.sgd_steps`` or the Triton kernel.

    How the sweep would use it: in ``loop.train_group``, ``step = stacked_steps(nets, engine)`` once, then
    ``step(xs, ys, m, errors)`` where it now calls ``nets.sgd_steps``; ``torch`` stays the default until the
    kernel has been measured faster on a GPU (experiments/gpu_check.py).
    """
    if engine == "torch":
        return nets.sgd_steps
    if engine in ("triton", "triton-tf32"):
        return TritonStacked(nets, precision="tf32" if engine == "triton-tf32" else "ieee")
    raise ValueError(f"unknown sweep engine {engine!r}; choose one of {', '.join(SWEEP_ENGINES)}")
