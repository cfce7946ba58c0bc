"""How the book's SGD steps are computed: one interface, the readable reference step, and the registry of engines.

For a mini-batch of m examples X_1..X_m every weight and bias moves by

    w -> w - (eta/m) sum_j dC_{X_j}/dw        (eq. 20)
    b -> b - (eta/m) sum_j dC_{X_j}/db        (eq. 21)

with C_x = ||y(x) - a(x)||^2 / 2 the quadratic cost of one example.

**The interface.**  ``make_engine(name, net, eta, m)`` makes an engine once, for one network (a
``SigmoidNetwork``) or for K networks stacked for a sweep (``learn/stacked.py``; then ``eta`` holds K
learning rates).  An engine then does one thing::

    errors = engine.steps(rows)

one SGD step per mini-batch of m rows of the chunk ``rows`` (a ``datamodule.Rows``: training rows by
number), in order, the weights updated in place; ``errors`` is each row's output error a - y just
before its own step, from which the caller sums the training cost ||a - y||^2 / 2.  A chunk holds many
mini-batches, so that what a call costs (Python, Lightning, a kernel launch) is paid once per chunk and
not once per step of 10 images.

**The engines** (names: ``chapter.ENGINES``) take the same steps, computed differently:

    backprop     the reference, ``backprop_steps`` below: the gradient by backpropagation, in torch
    autograd     the textbook PyTorch way: quadratic cost -> backward() -> torch.optim.SGD.step()
    native       ``backprop_steps`` in C++, a chunk per call (native.py, csrc/sgd.cpp); the default
    cudagraph    ``backprop_steps`` captured once in a CUDA graph, replayed per chunk (cuda_graph.py)
    triton       ``backprop_steps`` as one fused Triton kernel (triton_sgd.py); triton-tf32: TF32 dots

and for a stack of K networks: backprop (``backprop_steps`` in batched form), native (each network's C++
steps on its slice of the stack) and the two Triton ones (one kernel program per network).  Each faster
one is shown step for step equal to ``backprop_steps`` by a test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, cast

import torch
from torch import nn

from ..chapter import ENGINES
from .cuda_graph import CudaGraphSteps
from .native import NativeSteps
from .network import SigmoidNetwork, forward_activations, quadratic_cost, sigmoid_backward
from .stacked import Stack, StackedBackprop, StackedNative

if TYPE_CHECKING:
    from .datamodule import Rows


class Engine(Protocol):
    """What every engine does: ``steps(rows)`` takes the chunk's SGD steps in order and returns a - y per row."""

    def steps(self, rows: Rows) -> torch.Tensor: ...


# --- the reference step ------------------------------------------------------------------------------------


def backprop_steps(layers: nn.ModuleList, xs, ys, eta: float, errors_out) -> None:
    """SGD steps on the mini-batches ``zip(xs, ys)`` in order, the gradient computed by explicit backpropagation.

    Forward pass, keeping every layer's activations a^l (eq. 4).  Then the error of the
    output layer, delta^L = (a^L - y) * sigma'(z^L), and for each layer from the
    last to the first: dC/dw^l = delta^l (a^{l-1})^T, dC/db^l = delta^l summed
    over the mini-batch, and delta^{l-1} = ((w^l)^T delta^l) * sigma'(z^{l-1}),
    taken *before* w^l is updated.  ``addmm_`` fuses the gradient with the
    update w -= (eta/m) * gradient (eq. 20), ``addmv_`` the bias's (eq. 21).

    The loop over mini-batches lives here, not in the caller, so that the
    per-step Python overhead is the bare minimum: module attribute look-ups and
    the no-grad context are paid once per call, not once per step.

    Mirrored by ``csrc/sgd.cpp`` (native), captured by ``cuda_graph.py``, fused by ``triton_sgd.py``, and
    batched over K networks by ``stacked.StackedBackprop``; each is tested against this function.
    """
    linears = [cast(nn.Linear, layer) for layer in layers]
    weights, biases = [layer.weight for layer in linears], [layer.bias for layer in linears]
    last = len(weights) - 1
    ones = {}  # sum over the mini-batch as a matrix-vector product: b += step * delta^T 1, one operation
    with torch.no_grad():
        for x, y, error in zip(xs, ys, errors_out):
            m = x.shape[0]
            if m not in ones:
                ones[m] = torch.ones(m, dtype=x.dtype, device=x.device)
            activations = forward_activations(x, weights, biases)
            a = activations[-1]
            torch.sub(a, y, out=error)  # dC_x/da = a - y for the quadratic cost
            delta = sigmoid_backward(error, a)
            step = -eta / m
            for l in range(last, -1, -1):
                w = weights[l]
                previous = sigmoid_backward(delta @ w, activations[l]) if l else None
                w.addmm_(delta.t(), activations[l], alpha=step)  # eq. 20
                biases[l].addmv_(delta.t(), ones[m], alpha=step)  # eq. 21
                delta = previous


class Backprop:
    """The ``backprop`` engine: ``backprop_steps`` on each chunk, its rows gathered in the network's dtype."""

    def __init__(self, net: SigmoidNetwork, eta: float, m: int):
        self.net, self.layers, self.eta, self.m = net, net.layers, eta, m

    def steps(self, rows: Rows) -> torch.Tensor:
        weight = self.net.linear_layers()[0].weight
        x, y = rows.gather(weight.dtype)
        errors = rows.room_for_errors(weight)
        backprop_steps(self.layers, x.split(self.m), y.split(self.m), self.eta, errors.split(self.m))
        return errors


class Autograd:
    """The ``autograd`` engine, one step per mini-batch the textbook way: cost, autograd, ``optimizer.step()``.

    ``optimizer`` must be plain ``torch.optim.SGD(net.parameters(), lr=eta)`` (made here when not
    given); since ``quadratic_cost`` already averages over the mini-batch, its gradient is
    (1/m) sum_x grad C_x and SGD's ``p -= lr * p.grad`` is eq. 20-21 exactly.  A LightningModule passes
    its own optimizer and ``manual_backward``, so that Lightning counts the steps.
    """

    def __init__(self, net: SigmoidNetwork, eta: float, m: int, optimizer=None, backward=None):
        self.net, self.m = net, m
        self.optimizer = optimizer if optimizer is not None else torch.optim.SGD(net.parameters(), lr=eta)
        self.backward = backward or torch.Tensor.backward

    def steps(self, rows: Rows) -> torch.Tensor:
        weight = self.net.linear_layers()[0].weight
        x, y = rows.gather(weight.dtype)
        errors = rows.room_for_errors(weight)
        for start in range(0, len(x), self.m):
            batch, desired = x[start : start + self.m], y[start : start + self.m]
            self.optimizer.zero_grad(set_to_none=True)
            a = self.net(batch)
            self.backward(quadratic_cost(a, desired))
            self.optimizer.step()
            torch.sub(a.detach(), desired, out=errors[start : start + self.m])
        return errors


# --- the registry --------------------------------------------------------------------------------------------


def _native(net: SigmoidNetwork, eta: float, m: int) -> Engine:
    return NativeSteps(net.layers, eta, m, fallback=Backprop(net, eta, m).steps)  # where C++ cannot take them


def _cudagraph(net: SigmoidNetwork, eta: float, m: int) -> Engine:
    return CudaGraphSteps(net.layers, eta, m, backprop_steps)


def _triton(precision: str) -> tuple[Callable[..., Engine], Callable[..., Engine]]:
    """The Triton engine of ``precision`` for one network and for a stack (triton is imported only when asked for)."""

    def one(net: SigmoidNetwork, eta: float, m: int, **options) -> Engine:
        from .triton_sgd import TritonSteps

        return TritonSteps.for_network(net.layers, eta, m, precision, **options)

    def stack(nets: Stack, eta: Sequence[float], m: int, **options) -> Engine:
        from .triton_sgd import TritonSteps

        return TritonSteps.for_stack(nets, eta, m, precision, **options)

    return one, stack


#: name -> (the engine for one network, the engine for a stack of K networks or None)
REGISTRY: dict[str, tuple[Callable[..., Engine], Callable[..., Engine] | None]] = {
    "native": (_native, StackedNative),
    "backprop": (Backprop, StackedBackprop),
    "autograd": (Autograd, None),
    "cudagraph": (_cudagraph, None),
    "triton": _triton("ieee"),
    "triton-tf32": _triton("tf32"),
}
assert tuple(REGISTRY) == ENGINES, "every engine named in chapter.py, and only those, is in the registry"
STACK_ENGINES = tuple(name for name, (_, stack) in REGISTRY.items() if stack is not None)
ONE_HIDDEN_LAYER = ("triton", "triton-tf32")  # the Triton kernel trains [n_in, hidden, n_out] networks only


def check_engine(engine: str, sizes: Sequence[int]) -> None:
    """``ValueError`` unless ``engine`` is a known engine that can train a network of ``sizes``."""
    if engine not in REGISTRY:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(REGISTRY)}")
    if engine in ONE_HIDDEN_LAYER and len(sizes) != 3:
        raise ValueError(f"engine {engine} trains networks with exactly one hidden layer, got sizes {list(sizes)}")


def make_engine(name: str, net: SigmoidNetwork | Stack, eta: float | Sequence[float], m: int, **options) -> Engine:
    """The engine ``name`` for ``net`` -- one ``SigmoidNetwork`` (``eta`` a number) or a ``Stack`` of K networks
    (``eta`` their K learning rates) -- at mini-batch size ``m``; ``options`` go to its constructor."""
    if name not in REGISTRY:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(REGISTRY)}")
    one, stack = REGISTRY[name]
    if isinstance(net, nn.Module):
        return one(net, eta, m, **options)
    if stack is None:
        raise ValueError(f"engine {name} trains one network; for a stack choose one of {', '.join(STACK_ENGINES)}")
    return stack(net, eta, m, **options)
