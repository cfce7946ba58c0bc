"""Sections 2-3 of chapter 1: perceptrons, NAND universality, sigmoid neurons.

A perceptron weighs its inputs and fires when the evidence beats a threshold;
a sigmoid neuron is the same neuron with the step smoothed out.  This module
makes the chapter's examples runnable and exact:

* ``Perceptron`` / ``SigmoidNeuron``       -- eq. 1-2 and eq. 3-4, same parameters;
* ``cheese_festival(threshold)``            -- weighing up evidence;
* ``nand()``, ``half_adder()``              -- the NAND gate and the book's adder;
* ``nand_network(fn, n)``                   -- any Boolean function from NANDs only;
* ``PerceptronNetwork``                     -- layers, for the two exercises on
  sigmoid neurons simulating perceptrons (``.scaled(c)``, ``.as_sigmoid()``).

``python -m nndigits.perceptrons`` prints the truth tables and decisions (``nndigits/perceptrons.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import nn


def _float_tensor(values, dtype: torch.dtype | None) -> torch.Tensor:
    """``values`` as a float tensor: integer weights like (-2, -2) must not make integer arithmetic."""
    t = torch.as_tensor(values)
    if dtype is None:
        dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
    return t.detach().clone().to(dtype)


class _Neuron(nn.Module):
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


class Perceptron(_Neuron):
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


class SigmoidNeuron(_Neuron):
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

    def _name(self, wire: int) -> str:  # 1-based, as in the book: x1, x2, ..., g1, g2, ...
        return f"x{wire + 1}" if wire < self.n_inputs else f"g{wire - self.n_inputs + 1}"

    def describe(self) -> str:
        """The gates and their wiring, one per line, e.g. ``g2 = NAND(x1, g1)``."""
        lines = [f"{type(self).__name__}: {self.n_inputs} inputs, {self.n_gates} gates"]
        for k, (sources, unit) in enumerate(zip(self.sources, self._units())):
            args = [self._name(s) for s in sources]
            if self.is_nand(k) and len(sources) == 2:
                rhs = f"NAND({args[0]}, {args[1]})"
            else:
                terms = " + ".join(f"{w:g}*{a}" for w, a in zip(unit.weight.tolist(), args))
                rhs = f"step({terms} + {unit.bias.item():g})"
            lines.append(f"  {self._name(self.n_inputs + k)} = {rhs}")
        lines += [f"  {name} = {self._name(o)}" for name, o in zip(self.output_names, self.outputs)]
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


# --- Universality: any Boolean function from NAND perceptrons alone -----------------

_ZERO, _ONE = "0", "1"  # constant wires; only ever materialised as gates at an output


class _NandBuilder:
    """Makes NAND gates, folding constants and reusing gates it has already made."""

    def __init__(self, n_inputs: int):
        self.n = n_inputs
        self.gates: list[tuple[int, int]] = []
        self.made: dict[tuple[int, int], int] = {}
        self.negation_of: dict[int, int] = {}  # wire -> the wire it is NOT of

    def gate(self, a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in self.made:
            self.gates.append(key)
            self.made[key] = wire = self.n + len(self.gates) - 1
            if a == b:
                self.negation_of[wire] = a
        return self.made[key]

    def nand(self, a, b):
        if _ZERO in (a, b):
            return _ONE  # NAND(0, y) = 1
        if a == _ONE:
            a, b = b, a
        if b == _ONE:
            if a == _ONE:
                return _ZERO  # NAND(1, 1) = 0
            b = a  # NAND(y, 1) = NOT y = NAND(y, y)
        if a == b and a in self.negation_of:
            return self.negation_of[a]  # NOT NOT y = y
        if self.negation_of.get(a, -1) == b or self.negation_of.get(b, -1) == a:
            return _ONE  # NAND(y, NOT y) = 1
        return self.gate(a, b)

    def not_(self, a):
        return self.nand(a, a)  # NOT y = NAND(y, y)

    def constant(self, wire):
        """A real wire for a constant output: 1 = NAND(x1, NOT x1), 0 = NOT 1."""
        if wire not in (_ZERO, _ONE):
            return wire
        one = self.gate(0, self.not_(0))
        return one if wire == _ONE else self.gate(one, one)


def _prune(n_inputs: int, gates, outputs):
    """Drop gates no output depends on, renumbering the rest (order is kept, so still topological)."""
    live = set(outputs)
    for k in reversed(range(len(gates))):
        if n_inputs + k in live:
            live.update(gates[k])
    keep = [k for k in range(len(gates)) if n_inputs + k in live]
    new = {w: w for w in range(n_inputs)}
    new.update({n_inputs + k: n_inputs + i for i, k in enumerate(keep)})
    return [(new[gates[k][0]], new[gates[k][1]]) for k in keep], [new[o] for o in outputs]


def nand_network(fn: Callable[..., int | Sequence[int]], n_inputs: int) -> PerceptronCircuit:
    """A network of NAND perceptrons only that computes the Boolean function ``fn``.

    ``fn(x1, ..., xn)`` takes n ints 0/1 and returns 0 or 1 (or a tuple of
    bits, for a network with several outputs sharing gates, e.g. a full
    adder's (sum, carry)).  The network is read off the truth table by
    Shannon expansion on x1, then x2, ...:

        f = x1 f1 + (NOT x1) f0 = NAND(NAND(x1, f1), NAND(NOT x1, f0))

    with NOT y = NAND(y, y), one shared NOT gate per input, each distinct
    sub-function built once (a binary decision diagram), NOT g reused when
    the complement of g is already built, and a constant half folded away
    (f0 = 0: x AND f1; f0 = 1: NAND(x, NOT f1); likewise for f1).  Each
    sub-function costs at most 3 gates, so a non-constant function of n
    inputs takes at most 3 (2^(n-1) - 1) + n gates: 5 for n = 2, 12 for
    n = 3, 25 for n = 4 (a constant takes 2 or 3).  NAND takes 1 gate, AND 2,
    OR 3, XOR 5, majority of three 9, parity of three 10, a full adder 14.
    Small and inspectable (``describe()``), not minimal: the book's XOR has 4.
    """
    if not 1 <= n_inputs <= 16:
        raise ValueError(f"n_inputs must be between 1 and 16, got {n_inputs}")
    rows = list(itertools.product((0, 1), repeat=n_inputs))  # x1 is the most significant bit
    values = [tuple(v) if isinstance(v, (tuple, list)) else (v,) for v in (fn(*row) for row in rows)]
    if len({len(v) for v in values}) != 1 or any(bit not in (0, 1) for v in values for bit in v):
        raise ValueError(f"fn must return 0 or 1 (or a fixed-length tuple of them); got {values[:4]}...")

    b = _NandBuilder(n_inputs)
    built: dict[tuple[int, ...], object] = {}

    def complement(table):
        return tuple(1 - t for t in table)

    def build(table: tuple[int, ...]):
        """A wire computing the function with this truth table of the last log2(len) inputs."""
        if not any(table):
            return _ZERO
        if all(table):
            return _ONE
        if table in built:
            return built[table]
        if complement(table) in built:
            built[table] = b.not_(built[complement(table)])
            return built[table]
        half = len(table) // 2
        t0, t1 = table[:half], table[half:]  # f with x = 0, f with x = 1
        x = n_inputs - (len(table).bit_length() - 1)  # the input this level splits on
        if t0 == t1:
            wire = build(t0)  # f does not depend on x
        elif not any(t0):
            wire = b.not_(b.nand(x, build(t1)))  # f = x AND f1
        elif all(t0):
            wire = b.nand(x, build(complement(t1)))  # f = NOT x OR f1
        elif not any(t1):
            wire = b.not_(b.nand(b.not_(x), build(t0)))  # f = NOT x AND f0
        elif all(t1):
            wire = b.nand(b.not_(x), build(complement(t0)))  # f = x OR f0
        else:  # f = x f1 + (NOT x) f0
            wire = b.nand(b.nand(x, build(t1)), b.nand(b.not_(x), build(t0)))
        built[table] = wire
        return wire

    outputs = [b.constant(build(tuple(v[i] for v in values))) for i in range(len(values[0]))]
    gates, outputs = _prune(n_inputs, b.gates, outputs)
    return PerceptronCircuit.of_nands(n_inputs, gates, outputs)


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
        self, weights: Sequence, biases: Sequence, neuron: type[_Neuron] = Perceptron, dtype: torch.dtype | None = None
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

    def _neurons(self) -> list[_Neuron]:  # the ModuleList's items, typed (a type checker sees plain Modules)
        return [cast(_Neuron, layer) for layer in self.layers]

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

    def _rebuild(self, c: float = 1.0, neuron: type[_Neuron] | None = None) -> PerceptronNetwork:
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
