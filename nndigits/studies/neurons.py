"""Perceptrons and sigmoid neurons (chapter 1, eq. 1-4), and perceptrons wired as circuits (the NAND half adder).

A perceptron weighs its inputs and fires when the evidence beats a threshold; a sigmoid neuron is the same
neuron with the step smoothed out.  ``cheese_festival`` weighs up evidence; ``nand`` and ``half_adder`` are
the book's NAND gate and adder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn


def _float_tensor(values, dtype: torch.dtype | None) -> torch.Tensor:
    """``values`` as a float tensor: integer weights like (-2, -2) must not make integer arithmetic."""
    t = torch.as_tensor(values)
    if dtype is None:
        dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
    return t.detach().clone().to(dtype)


class Neuron(nn.Module):
    """What perceptrons and sigmoid neurons share: weights w, a bias b, and z = w.x + b.

    ``weights`` of shape (n,) with a scalar ``bias`` is one neuron: x of shape
    (N, n) gives shape (N,).  Shape (m, n) with ``bias`` of shape (m,) is a
    layer of m neurons, row j for neuron j (the book's ``network.py``
    convention): x of shape (N, n) gives (N, m).
    """

    def __init__(self, weights, bias, dtype: torch.dtype | None = None):
        super().__init__()
        w = _float_tensor(weights, dtype)
        b = _float_tensor(bias, w.dtype)
        if w.dim() not in (1, 2) or b.shape != w.shape[:-1]:
            raise ValueError(
                f"need weights (n,) with a scalar bias, or (m, n) with bias (m,); "
                f"got weights {tuple(w.shape)} and bias {tuple(b.shape)}"
            )
        self._store(w, b)

    def _store(self, w: torch.Tensor, b: torch.Tensor) -> None:
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(b)

    @classmethod
    def from_threshold(cls, weights, threshold, dtype: torch.dtype | None = None):
        """The eq. 1 form: fire when sum_j w_j x_j > threshold.  That is eq. 2 with b = -threshold."""
        return cls(weights, -_float_tensor(threshold, dtype), dtype)

    @property
    def n_inputs(self) -> int:
        return self.weight.shape[-1]

    def weighted_input(self, x: torch.Tensor) -> torch.Tensor:
        """z = w.x + b for each row of x (0/1 or real inputs alike)."""
        x = torch.as_tensor(x).to(self.weight.dtype)
        if x.shape[-1] != self.n_inputs:
            raise ValueError(f"this neuron has {self.n_inputs} inputs, got x of shape {tuple(x.shape)}")
        w = self.weight
        return x @ (w if w.dim() == 1 else w.T) + self.bias

    def extra_repr(self) -> str:
        return f"weight={self.weight.tolist()}, bias={self.bias.tolist()}"


class Perceptron(Neuron):
    """Rosenblatt's perceptron: output 1 if w.x + b > 0, else 0 (eq. 2).

    Weights and bias are buffers, not trainable parameters, on purpose: the
    step is flat everywhere except at 0, so its gradient is zero and a small
    change of weight changes the output either not at all or by a whole flip.
    That is exactly why the chapter moves on to sigmoid neurons.
    """

    def _store(self, w: torch.Tensor, b: torch.Tensor) -> None:
        self.register_buffer("weight", w)
        self.register_buffer("bias", b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # eq. 2: output = 0 if w.x + b <= 0, 1 if w.x + b > 0.
        # (eq. 1 is the same test as sum_j w_j x_j > threshold, with b = -threshold.)
        z = self.weighted_input(x)
        return (z > 0).to(z.dtype)


class SigmoidNeuron(Neuron):
    """The same neuron with the step smoothed out: output sigma(w.x + b) (eq. 3-4).

    Its weights are ``nn.Parameter``s: sigma is smooth, so a small change in
    a weight makes a small, linear change in the output (eq. 5) -- learnable.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # eq. 3-4: sigma(z) = 1 / (1 + exp(-z)), z = sum_j w_j x_j + b.
        # torch.sigmoid computes that without overflowing exp for very negative z.
        return torch.sigmoid(self.weighted_input(x))


# --- Weighing up evidence ---------------------------------------------------------

CHEESE_FACTORS = ("weather is good", "partner comes", "transit is near")


def cheese_festival(threshold: float = 5) -> Perceptron:
    """Go to the cheese festival?  Inputs (weather, partner, transit), weights 6, 2, 2 (eq. 1).

    Threshold 5: go exactly when the weather is good (6 > 5, while 2 + 2 = 4 is
    not enough).  Threshold 3: go when the weather is good, or when transit is
    near *and* the partner comes (4 > 3, but 2 alone is not).
    """
    return Perceptron.from_threshold([6.0, 2.0, 2.0], threshold)


def nand() -> Perceptron:
    """The book's NAND perceptron: weights -2, -2 and bias 3.

    00 -> 3 > 0 -> 1;  01, 10 -> 1 > 0 -> 1;  11 -> -1 <= 0 -> 0.
    """
    return Perceptron([-2.0, -2.0], 3.0)


# --- Networks of perceptrons wired like circuits ------------------------------------


class PerceptronCircuit(nn.Module):
    """Perceptrons wired as a circuit, evaluated in order (each unit reads only earlier wires).

    Wires are numbered: 0..n_inputs-1 are the inputs, n_inputs + k is unit k's
    output.  ``units`` is a list of ``(sources, weights, bias)``: unit k is the
    ``Perceptron(weights, bias)`` reading the wires ``sources``.  A wire may be
    read twice by one unit -- the book's doubled -2 connection.  The input
    "perceptrons" of the book are not units here: as the book says, they are
    just the values x_1, x_2, ...

    ``forward(x)``, x of shape (N, n_inputs), returns the output wires: one
    tensor of shape (N,) if there is one output, else a tuple of them.
    """

    def __init__(self, n_inputs: int, units, outputs: Sequence[int], output_names: Sequence[str] | None = None):
        super().__init__()
        self.n_inputs = n_inputs
        self.sources = [tuple(int(s) for s in sources) for sources, _, _ in units]
        for k, sources in enumerate(self.sources):
            if not all(0 <= s < n_inputs + k for s in sources):
                raise ValueError(f"unit {k} reads {sources}; it may read only wires 0..{n_inputs + k - 1}")
        self.units = nn.ModuleList(Perceptron(w, b) for _, w, b in units)
        self.outputs = [int(o) for o in outputs]
        if not all(0 <= o < n_inputs + len(self.units) for o in self.outputs):
            raise ValueError(f"outputs {self.outputs} name wires that do not exist")
        self.output_names = list(
            output_names or (["out"] if len(self.outputs) == 1 else [f"out{i + 1}" for i in range(len(self.outputs))])
        )

    @classmethod
    def of_nands(cls, n_inputs: int, gates: Sequence[tuple[int, int]], outputs, output_names=None):
        """A circuit whose every unit is the NAND perceptron (-2, -2; bias 3) reading two wires."""
        return cls(n_inputs, [(pair, [-2.0, -2.0], 3.0) for pair in gates], outputs, output_names)

    def __len__(self) -> int:
        return len(self.units)

    def _units(self) -> list[Perceptron]:  # the ModuleList's items, typed (a type checker sees plain Modules)
        return [cast(Perceptron, unit) for unit in self.units]

    @property
    def n_gates(self) -> int:
        return len(self.units)

    def is_nand(self, k: int) -> bool:
        unit = self._units()[k]
        return unit.weight.tolist() == [-2.0, -2.0] and unit.bias.item() == 3.0

    def forward(self, x: torch.Tensor):
        wires = list(torch.as_tensor(x).to(torch.get_default_dtype()).unbind(-1))
        if len(wires) != self.n_inputs:
            raise ValueError(f"this circuit has {self.n_inputs} inputs, got x of shape {tuple(x.shape)}")
        for sources, unit in zip(self.sources, self._units()):
            wires.append(unit(torch.stack([wires[s] for s in sources], dim=-1)))
        out = [wires[o] for o in self.outputs]
        return out[0] if len(out) == 1 else tuple(out)

    def wire_name(self, wire: int) -> str:
        """Wire ``wire``'s name, 1-based as in the book: x1, x2, ... for the inputs, g1, g2, ... for the gates."""
        return f"x{wire + 1}" if wire < self.n_inputs else f"g{wire - self.n_inputs + 1}"

    def describe(self) -> str:
        """The gates and their wiring, one per line, e.g. ``g2 = NAND(x1, g1)``."""
        lines = [f"{type(self).__name__}: {self.n_inputs} inputs, {self.n_gates} gates"]
        for k, (sources, unit) in enumerate(zip(self.sources, self._units())):
            args = [self.wire_name(s) for s in sources]
            if self.is_nand(k) and len(sources) == 2:
                rhs = f"NAND({args[0]}, {args[1]})"
            else:
                terms = " + ".join(f"{w:g}*{a}" for w, a in zip(unit.weight.tolist(), args))
                rhs = f"step({terms} + {unit.bias.item():g})"
            lines.append(f"  {self.wire_name(self.n_inputs + k)} = {rhs}")
        lines += [f"  {name} = {self.wire_name(o)}" for name, o in zip(self.output_names, self.outputs)]
        return "\n".join(lines)

    __repr__ = describe


def half_adder(merged: bool = False) -> PerceptronCircuit:
    """The book's adder of two bits from five NAND perceptrons: returns (x1 XOR x2, x1 AND x2).

    g1 = NAND(x1, x2) feeds the two middle gates and, twice, the bottom gate:
    carry = NAND(g1, g1) = NOT g1 = x1 x2.  With ``merged=True`` those two -2
    connections are one connection of weight -4: -2*g1 - 2*g1 + 3 = -4*g1 + 3,
    the same weighted input, so the same output on every input.
    """
    carry = ((2,), [-4.0], 3.0) if merged else ((2, 2), [-2.0, -2.0], 3.0)
    units = [
        ((0, 1), [-2.0, -2.0], 3.0),  # g1 = NAND(x1, x2)
        ((0, 2), [-2.0, -2.0], 3.0),  # g2 = NAND(x1, g1)
        ((2, 1), [-2.0, -2.0], 3.0),  # g3 = NAND(g1, x2)
        ((3, 4), [-2.0, -2.0], 3.0),  # g4 = NAND(g2, g3) = x1 XOR x2: the sum bit
        carry,  # g5 = NAND(g1, g1) = x1 AND x2: the carry bit
    ]
    return PerceptronCircuit(2, units, outputs=[5, 6], output_names=["sum", "carry"])
