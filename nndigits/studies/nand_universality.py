"""NAND universality: any Boolean function as a network of NAND perceptrons alone (``nand_network``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from .neurons import PerceptronCircuit

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
