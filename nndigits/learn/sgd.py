"""One step of mini-batch stochastic gradient descent, two ways (eq. 20-21).

For a mini-batch of m examples X_1..X_m every weight and bias moves by

    w -> w - (eta/m) sum_j dC_{X_j}/dw        (eq. 20)
    b -> b - (eta/m) sum_j dC_{X_j}/db        (eq. 21)

with C_x = ||y(x) - a(x)||^2 / 2 the quadratic cost of one example.

``autograd``  the textbook PyTorch way: ``quadratic_cost`` -> ``backward()`` ->
              ``torch.optim.SGD.step()``.  Clear, general, and slow at m = 10,
              where each step is a few dozen tiny tensor operations and the
              per-operation overhead of autograd and the optimizer dominates.
``backprop``  the same update with the gradient written out by hand
              (backpropagation for sigmoid neurons and the quadratic cost), fused
              into the update with in-place ``addmm_``: about 15 tensor
              operations a step and no autograd graph.  Same numbers to rounding.

Both write each example's output error a - y into ``error_out`` so the caller can
report the training cost without any extra work per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from .network import SigmoidNetwork, quadratic_cost

ENGINES = ("backprop", "autograd", "native")  # native: the backprop step in C++, see native.py

# The building blocks of explicit backpropagation, shared in the open with the stacked engine of the
# sweep (``studies.sweep.stacked.StackedNetworks.sgd_steps``, K networks' steps at once), which is
# ``backprop_steps`` in batched form: the same forward pass and the same sigmoid_backward.

#: ``sigmoid_backward(g, a) = g * a * (1 - a) = g * sigma'(z)`` in one operation, since sigma'(z) = a(1 - a) (eq. 3).
sigmoid_backward = torch.ops.aten.sigmoid_backward


def forward_activations(
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    hidden_mask: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Every layer's activations [a^0 = x, a^1, ..., a^L], a^l = sigma(w^l a^{l-1} + b^l) (eq. 4), kept for backprop.

    One network: ``x`` [m, in], ``w^l`` [out, in], ``b^l`` [out].  K stacked networks
    (``StackedNetworks``): ``x`` [K, m, in], ``w^l`` [K, out, in], ``b^l`` [K, 1, out]; then
    ``hidden_mask`` [K, 1, H] zeroes the padded units of the first hidden layer.
    Each layer is one fused multiply-add and an in-place sigmoid.
    """
    activations = [x]
    for w, b in zip(weights, biases):
        if w.dim() == 2:
            a = torch.addmm(b, activations[-1], w.t()).sigmoid_()
        else:
            a = torch.baddbmm(b, activations[-1], w.transpose(1, 2)).sigmoid_()
            if hidden_mask is not None and len(activations) == 1:
                a.mul_(hidden_mask)  # padded hidden units are inert: activation 0
        activations.append(a)
    return activations


def autograd_step(
    net: SigmoidNetwork,
    optimizer: torch.optim.SGD,
    x: torch.Tensor,
    y: torch.Tensor,
    error_out: torch.Tensor,
    backward=None,
) -> None:
    """One SGD step the textbook way: cost, autograd, ``optimizer.step()``.

    ``optimizer`` must be plain ``torch.optim.SGD(net.parameters(), lr=eta)``;
    since ``quadratic_cost`` already averages over the mini-batch, its gradient is
    (1/m) sum_x grad C_x and SGD's ``p -= lr * p.grad`` is eq. 20-21 exactly.
    ``backward`` lets a LightningModule pass its ``manual_backward``.
    """
    optimizer.zero_grad(set_to_none=True)
    a = net(x)
    cost = quadratic_cost(a, y)
    (backward or torch.Tensor.backward)(cost)
    optimizer.step()
    torch.sub(a.detach(), y, out=error_out)


def backprop_step(layers: nn.ModuleList, x: torch.Tensor, y: torch.Tensor, eta: float, error_out: torch.Tensor) -> None:
    """One SGD step on the mini-batch (x, y) with the gradient computed by explicit backpropagation."""
    backprop_steps(layers, [x], [y], eta, [error_out])


def backprop_steps(layers: nn.ModuleList, xs, ys, eta: float, errors_out) -> None:
    """SGD steps on the mini-batches ``zip(xs, ys)`` in order, the gradient computed by explicit backpropagation.

    Forward pass, keeping every layer's activations a^l.  Then the error of the
    output layer, delta^L = (a^L - y) * sigma'(z^L), and for each layer from the
    last to the first: dC/dw^l = delta^l (a^{l-1})^T, dC/db^l = delta^l summed
    over the mini-batch, and delta^{l-1} = ((w^l)^T delta^l) * sigma'(z^{l-1}),
    taken *before* w^l is updated.  ``addmm_`` fuses the gradient with the
    update w -= (eta/m) * gradient (eq. 20).

    The loop over mini-batches lives here, not in the caller, so that the
    per-step Python overhead is the bare minimum: module attribute look-ups and
    the no-grad context are paid once per call, not once per step.

    ``studies.sweep.stacked.StackedNetworks.sgd_steps`` is this function for K
    networks at once, built from the same ``forward_activations`` and
    ``sigmoid_backward``; ``tests/test_sweep.py`` checks the two step for step.
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
