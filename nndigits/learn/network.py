"""The chapter's network: layers of sigmoid neurons, and the quadratic cost.

Plain torch, no Lightning: this is the model the book's ``network.py`` builds,
written so that autograd, the explicit backpropagation engine and the NumPy
reference can all be checked against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from ..chapter import SIZES as BOOK_SIZES
from ..chapter import check_sizes


class SigmoidNetwork(nn.Module):
    """A feedforward network of sigmoid neurons, e.g. ``SigmoidNetwork([784, 30, 10])``.

    ``sizes[0]`` is the number of inputs (784 pixels), ``sizes[-1]`` the number of
    output neurons (one per digit), and everything between are hidden layers.
    Layer ``l`` is an ``nn.Linear`` in ``self.layers[l]``: its ``weight[j, k]`` is the
    weight from neuron k of the layer before to neuron j of this one, its ``bias[j]``
    the bias of neuron j -- the same convention as the book's ``network.py``.
    """

    def __init__(
        self,
        sizes: Sequence[int] = BOOK_SIZES,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.sizes = check_sizes(sizes)
        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out, dtype=dtype) for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])
        )
        # The book starts every weight and bias from a standard Gaussian, N(0, 1),
        # rather than torch's default uniform(-1/sqrt(n), 1/sqrt(n)).  The large
        # weights are part of the chapter's behaviour (saturated neurons, the odd
        # run that gets stuck), so we keep them.
        with torch.no_grad():
            for layer in self.linear_layers():
                layer.weight.normal_(0.0, 1.0, generator=generator)
                layer.bias.normal_(0.0, 1.0, generator=generator)

    def linear_layers(self) -> list[nn.Linear]:
        """``self.layers`` typed as what they are (a type checker sees a ``ModuleList``'s items as plain Modules)."""
        return [cast(nn.Linear, layer) for layer in self.layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output activations a for inputs x of shape (m, sizes[0])."""
        a = x
        for layer in self.layers:
            a = torch.sigmoid(layer(a))  # a' = sigma(w a + b), eq. 3-4
        return a

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The network's digit for each input: the index of the most active output neuron."""
        return self.forward(x).argmax(dim=1)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}"


def quadratic_cost(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The book's quadratic cost over a mini-batch: C = 1/(2m) sum_x ||y(x) - a(x)||^2.

    Eq. 6 with the m examples of the mini-batch in place of all n.  Not
    ``nn.MSELoss()``: that divides by m*10 instead of 2m, which silently turns
    eta = 3 into eta = 0.6.
    """
    return (y - a).pow(2).sum() / (2 * a.shape[0])


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
    (``learn/stacked.py``): ``x`` [K, m, in], ``w^l`` [K, out, in], ``b^l`` [K, 1, out]; then
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


def one_hot(labels: torch.Tensor, classes: int = 10, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The desired output y(x): a 10-vector with 1 at the digit, 0 elsewhere."""
    return nn.functional.one_hot(labels.long(), classes).to(dtype)
