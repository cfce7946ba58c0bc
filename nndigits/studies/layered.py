"""Layered networks of perceptrons or sigmoid neurons, for the exercises on sigmoid neurons simulating perceptrons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from .neurons import Neuron, Perceptron, SigmoidNeuron

# --- Layered networks, for the exercises on sigmoid neurons simulating perceptrons ---


class PerceptronNetwork(nn.Module):
    """Layers of neurons, layer l given by a weight matrix (m_l, m_{l-1}) and biases (m_l,).

    ``neuron`` is ``Perceptron`` (the step, eq. 2) or ``SigmoidNeuron`` (eq. 3-4).

    * ``scaled(c)``: every weight and bias times c.  Part I of the exercise:
      for c > 0 a perceptron network's outputs do not change, because
      c (w.x + b) has the sign of w.x + b.  (Exactly so in real arithmetic.
      In floating point c w.x + c b can round to the other side of 0 when
      w.x + b is 0 or within rounding of it -- e.g. weights (1, 2), bias -3,
      c = 0.1 -- but not when c is a power of 2, nor for integer data and c.)
    * ``as_sigmoid()``: the same weights with every perceptron replaced by a
      sigmoid neuron.  Part II: as c -> infinity, sigma(c z) -> 1 for z > 0
      and -> 0 for z < 0, so ``as_sigmoid().scaled(c)`` approaches the
      perceptron network whenever no neuron has z = w.x + b = 0.  A neuron
      with z = 0 outputs sigma(0) = 1/2 for every c, and the limit differs.
    """

    def __init__(
        self, weights: Sequence, biases: Sequence, neuron: type[Neuron] = Perceptron, dtype: torch.dtype | None = None
    ):
        super().__init__()
        if len(weights) != len(biases) or not weights:
            raise ValueError("need one bias vector per weight matrix, and at least one layer")
        self.neuron = neuron
        self.layers = nn.ModuleList(neuron(w, b, dtype) for w, b in zip(weights, biases))
        for prev, layer in zip(self._neurons(), self._neurons()[1:]):
            if layer.weight.dim() != 2 or layer.n_inputs != prev.weight.shape[0]:
                raise ValueError(
                    "layer sizes do not chain: each matrix needs as many columns as the layer before has neurons"
                )

    def _neurons(self) -> list[Neuron]:  # the ModuleList's items, typed (a type checker sees plain Modules)
        return [cast(Neuron, layer) for layer in self.layers]

    @classmethod
    def random(
        cls, sizes: Sequence[int], generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64
    ) -> PerceptronNetwork:
        """Weights and biases drawn from N(0, 1), as the book starts its networks."""
        shapes = list(zip(sizes[1:], sizes[:-1]))
        return cls(
            [torch.randn(m, n, generator=generator, dtype=dtype) for m, n in shapes],
            [torch.randn(m, generator=generator, dtype=dtype) for m, _ in shapes],
        )

    def _rebuild(self, c: float = 1.0, neuron: type[Neuron] | None = None) -> PerceptronNetwork:
        return PerceptronNetwork(
            [c * layer.weight.detach() for layer in self._neurons()],
            [c * layer.bias.detach() for layer in self._neurons()],
            neuron or self.neuron,
        )

    def scaled(self, c: float) -> PerceptronNetwork:
        """The same network with every weight and bias multiplied by c."""
        return self._rebuild(c=c)

    def as_sigmoid(self) -> PerceptronNetwork:
        """The same weights and biases, every neuron a sigmoid neuron."""
        return self._rebuild(neuron=SigmoidNeuron)

    def weighted_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """z = w.x + b at every layer, each layer fed by this network's own outputs."""
        zs = []
        for layer in self._neurons():
            zs.append(layer.weighted_input(x))
            x = layer(x)
        return zs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self._neurons():
            x = layer(x)
        return x
