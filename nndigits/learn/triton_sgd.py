"""The book's SGD steps (eq. 20-21) as one fused Triton kernel: one program per network, its weights resident.

On a GPU the book's step (m = 10 images, a 784-30-10 network) is a few dozen
tiny operations; launched one by one from Python, launch overhead is the whole
cost.  This kernel takes *all* the steps of a chunk of mini-batches in one
launch.  Each program owns one network: it loads that network's weights and
biases once, keeps them in its registers (spilling to its SM's local memory when
they do not fit) through every step of the chunk, and writes them back at the
end.  Each step is the explicit backpropagation of ``engines.backprop_steps``, line for line:

    a^1 = sigma(x w^1T + b^1),  a^2 = sigma(a^1 w^2T + b^2)                   (eq. 4)
    delta^2 = (a^2 - y) * a^2 (1 - a^2)                                        (quadratic cost)
    delta^1 = (delta^2 w^2) * a^1 (1 - a^1)      with w^2 *before* its update
    w^l -= (eta/m) delta^lT a^(l-1),  b^l -= (eta/m) sum_x delta^l             (eq. 20-21)

so for the same mini-batches it takes the same steps, to fp32 rounding.  The
dots are exact fp32 by default (``input_precision="ieee"``); ``precision="tf32"``
opts into TF32 tensor-core dots (10-bit mantissa inputs: *not* the same numbers,
so never a default).  Networks with exactly one hidden layer only (the book's
[784, 30, 10] and every network of the sweep's hidden-layer groups).

The same kernel serves the book's single run (one program) and the sweep (one
program per stacked network, ``learn/stacked.py``'s ``Stack``): ``TritonSteps``,
made by ``engines.make_engine("triton" or "triton-tf32", ...)``.  For K networks
one launch costs about what one network costs until the GPU's SMs are full (an
H100 has 132): the batched torch steps of ``StackedBackprop`` are ~15 launches
a step however many networks there are, and leave the GPU idle.
Without a GPU it runs under Triton's interpreter: set ``TRITON_INTERPRET=1``
before this module is imported, and pass CPU tensors (``tests/test_triton.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl

if TYPE_CHECKING:
    from .datamodule import Rows
    from .stacked import Stack

PRECISIONS = ("ieee", "tf32")


@triton.jit
def sgd_chunk_kernel(
    x_ptr,  # [K, rows, n_in] (network k's examples, in order; stride_xk = 0 when all share them)
    y_ptr,  # [K, rows, n_out] desired outputs y(x)
    err_ptr,  # [K, rows, n_out] receives a - y of every example just before its step
    w1_ptr,  # [K, h_max, n_in]
    b1_ptr,  # [K, h_max]
    w2_ptr,  # [K, n_out, h_max]
    b2_ptr,  # [K, n_out]
    eta_ptr,  # [K] learning rate of each network
    hidden_ptr,  # [K] int32: real hidden units of each network (<= h_max; the rest is inert padding)
    rows,
    m,
    n_in,
    h_max,
    n_out,
    stride_xk,
    stride_yk,
    stride_ek,
    M_P: tl.constexpr,
    IN_P: tl.constexpr,
    H_P: tl.constexpr,
    OUT_P: tl.constexpr,
    PRECISION: tl.constexpr,
):
    k = tl.program_id(0)
    rm = tl.arange(0, M_P)
    ri = tl.arange(0, IN_P)
    rh = tl.arange(0, H_P)
    ro = tl.arange(0, OUT_P)
    in_ok = ri < n_in
    h_alloc = rh < h_max
    h_real = rh < tl.load(hidden_ptr + k)
    o_ok = ro < n_out

    # the network's weights, loaded once for the whole chunk (zero outside the real shapes)
    w1_at = w1_ptr + k * h_max * n_in + rh[:, None] * n_in + ri[None, :]
    w1_mask = h_alloc[:, None] & in_ok[None, :]
    w1 = tl.load(w1_at, mask=w1_mask, other=0.0)
    b1_at = b1_ptr + k * h_max + rh
    b1 = tl.load(b1_at, mask=h_alloc, other=0.0)
    w2_at = w2_ptr + k * n_out * h_max + ro[:, None] * h_max + rh[None, :]
    w2_mask = o_ok[:, None] & h_alloc[None, :]
    w2 = tl.load(w2_at, mask=w2_mask, other=0.0)
    b2_at = b2_ptr + k * n_out + ro
    b2 = tl.load(b2_at, mask=o_ok, other=0.0)
    eta = tl.load(eta_ptr + k)

    for start in range(0, rows, m):
        r = start + rm
        r_ok = (rm < m) & (r < rows)
        n = tl.minimum(m, rows - start)  # a short last mini-batch divides by its own size, as the CPU engine does
        x = tl.load(
            x_ptr + k * stride_xk + r[:, None] * n_in + ri[None, :], mask=r_ok[:, None] & in_ok[None, :], other=0.0
        )
        out_mask = r_ok[:, None] & o_ok[None, :]
        y = tl.load(y_ptr + k * stride_yk + r[:, None] * n_out + ro[None, :], mask=out_mask, other=0.0)
        # each line below is one of engines.backprop_steps, for a network with one hidden layer
        # forward (eq. 4), backprop_steps' forward_activations; padded hidden units are inert: activation 0
        a1 = 1.0 / (1.0 + tl.exp(-(tl.dot(x, tl.trans(w1), input_precision=PRECISION) + b1[None, :])))  # sigma
        a1 = tl.where(h_real[None, :], a1, 0.0)
        a2 = 1.0 / (1.0 + tl.exp(-(tl.dot(a1, tl.trans(w2), input_precision=PRECISION) + b2[None, :])))
        error = tl.where(out_mask, a2 - y, 0.0)  # dC_x/da = a - y (torch.sub(a, y, out=error)); 0 for padding
        tl.store(err_ptr + k * stride_ek + r[:, None] * n_out + ro[None, :], error, mask=out_mask)
        # backward: delta^2, then delta^1 through w^2 before w^2 moves
        d2 = error * a2 * (1.0 - a2)  # delta = sigmoid_backward(error, a)
        d1 = tl.dot(d2, w2, input_precision=PRECISION) * a1 * (1.0 - a1)  # sigmoid_backward(delta @ w, a^1)
        step = eta / n.to(tl.float32)
        w2 -= step * tl.dot(tl.trans(d2), a1, input_precision=PRECISION)  # eq. 20: w.addmm_(delta.t(), a^1, ...)
        b2 -= step * tl.sum(d2, axis=0)  # eq. 21: biases[l].addmv_(delta.t(), ones, ...)
        w1 -= step * tl.dot(tl.trans(d1), x, input_precision=PRECISION)
        b1 -= step * tl.sum(d1, axis=0)

    tl.store(w1_at, w1, mask=w1_mask)
    tl.store(b1_at, b1, mask=h_alloc)
    tl.store(w2_at, w2, mask=w2_mask)
    tl.store(b2_at, b2, mask=o_ok)


def _block(n: int) -> int:
    """A power of two >= n and >= 16 (tl.dot's smallest tile)."""
    return max(16, triton.next_power_of_2(n))


def launch_chunk(
    x: torch.Tensor,
    y: torch.Tensor,
    errors: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    eta: torch.Tensor,
    hidden: torch.Tensor,
    m: int,
    precision: str = "ieee",
    num_warps: int = 8,
) -> None:
    """All SGD steps of a chunk for K networks at once, in place: ``w*``/``b*`` are [K, ...] and move.

    ``x`` is [K, rows, n_in] or [rows, n_in] (shared by every network), ``y`` and
    ``errors`` likewise with n_out; mini-batch s of network k is rows s*m..s*m+m-1.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    for name, t in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2), ("errors", errors)):
        if not t.is_contiguous():
            raise ValueError(f"{name} must be contiguous: the kernel updates it in place")
    K, h_max, n_in = w1.shape
    n_out = w2.shape[1]
    x, y = x.contiguous(), y.contiguous()
    rows = x.shape[-2]
    sx = 0 if x.dim() == 2 else rows * n_in
    sy = 0 if y.dim() == 2 else rows * n_out
    se = 0 if errors.dim() == 2 else rows * n_out
    if K > 1 and se == 0:
        raise ValueError("errors must be [K, rows, n_out] for K networks")
    sgd_chunk_kernel[(K,)](
        x, y, errors, w1, b1, w2, b2, eta, hidden,
        rows, m, n_in, h_max, n_out, sx, sy, se,
        M_P=_block(m), IN_P=_block(n_in), H_P=_block(h_max), OUT_P=_block(n_out),
        PRECISION=precision, num_warps=num_warps,
    )  # fmt: skip


class TritonSteps:
    """The ``triton`` engines: ``steps(rows)`` takes a chunk of SGD steps of one network, or of K stacked ones,
    in one kernel launch -- the steps of ``engines.backprop_steps`` to fp32 rounding.

    ``parameters()`` gives the weights as (w1 [K, h_max, n_in], b1 [K, h_max], w2 [K, n_out, h_max],
    b2 [K, n_out]) -- for one network, views of its layers with K = 1 -- which the kernel updates in
    place; ``eta`` and ``hidden`` are each network's learning rate and real hidden units.
    """

    def __init__(
        self,
        parameters: Callable[[], tuple[torch.Tensor, ...]],
        eta: Sequence[float],
        hidden: Sequence[int],
        m: int,
        precision: str = "ieee",
        num_warps: int = 8,
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.parameters, self.m, self.precision, self.num_warps = parameters, m, precision, num_warps
        self.eta, self.hidden = [float(e) for e in eta], [int(h) for h in hidden]
        self._consts: dict = {}

    @classmethod
    def for_network(cls, layers, eta: float, m: int, precision: str = "ieee", num_warps: int = 8) -> TritonSteps:
        """One network, ``layers`` an ``nn.ModuleList`` of two ``nn.Linear``, trained in place."""
        if len(layers) != 2:
            raise ValueError(
                f"the triton engine trains networks with exactly one hidden layer, got {len(layers)} layers"
            )
        first, second = layers

        def parameters():
            return tuple(t.unsqueeze(0) for t in (first.weight, first.bias, second.weight, second.bias))

        return cls(parameters, [eta], [first.weight.shape[0]], m, precision, num_warps)

    @classmethod
    def for_stack(cls, nets: Stack, eta: Sequence[float], m: int, precision="ieee", num_warps=8) -> TritonSteps:
        """K stacked networks with one hidden layer (padded hidden sizes included), network k's rows ``index[k]``."""
        if len(nets.w) != 2:
            raise ValueError("the triton sweep engine trains networks with one hidden layer, this group has none")
        mask = nets.hidden_mask  # [K, 1, H]: the real hidden units of each network
        hidden = [nets.w[0].shape[1]] * len(eta) if mask is None else [int(k.sum()) for k in mask]
        return cls(lambda: (nets.w[0], nets.b[0], nets.w[1], nets.b[1]), eta, hidden, m, precision, num_warps)

    def steps(self, rows: Rows) -> torch.Tensor:
        w1, b1, w2, b2 = self.parameters()
        if w1.dtype != torch.float32:
            raise ValueError(f"the triton engine computes in float32, got {w1.dtype}")
        device = w1.device
        if device not in self._consts:
            self._consts[device] = (
                torch.tensor(self.eta, dtype=torch.float32, device=device),
                torch.tensor(self.hidden, dtype=torch.int32, device=device),
            )
        eta, hidden = self._consts[device]
        x, y = rows.gather(torch.float32)  # [rows, .] for one network, [K, rows, .] for a stack
        errors = torch.empty(y.shape, dtype=torch.float32, device=device)
        with torch.no_grad():
            launch_chunk(x, y, errors, w1, b1, w2, b2, eta, hidden, self.m, self.precision, self.num_warps)
        return errors
