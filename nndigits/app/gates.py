"""The perceptron circuits of the chapter's first sections, evaluated for the page.

Every number comes from ``nndigits.studies.neurons``: the NAND perceptron
(weights -2, -2, bias 3), the half adder of five NAND perceptrons, and the
sigmoid neuron sigma(c z) next to the perceptron's step (eq. 1-4).  The page
gets whole truth tables, so clicking an input shows every gate at once.
"""

from __future__ import annotations

import itertools

import torch

from ..studies.neurons import Perceptron, SigmoidNeuron, half_adder, nand

INPUTS = [list(bits) for bits in itertools.product((0, 1), repeat=2)]


def nand_table() -> dict:
    """For each input pair: z = w.x + b and the perceptron's output (eq. 2)."""
    p = nand()
    x = torch.tensor(INPUTS, dtype=torch.float32)
    return {
        "weights": p.weight.tolist(),
        "bias": float(p.bias),
        "rows": [
            {"x": xs, "z": float(z), "out": int(o)} for xs, z, o in zip(INPUTS, p.weighted_input(x), p(x).tolist())
        ],
    }


def half_adder_table() -> dict:
    """The circuit's gates (name, input wires, weights, bias) and, for each input pair, every wire's value."""
    circuit = half_adder()
    names = [circuit.wire_name(w) for w in range(circuit.n_inputs + circuit.n_gates)]
    units: list[Perceptron] = list(circuit.units)  # type: ignore[arg-type]
    gates = [
        {"name": names[circuit.n_inputs + k], "reads": [names[s] for s in sources], "weights": unit.weight.tolist()}
        | {"bias": float(unit.bias)}
        for k, (sources, unit) in enumerate(zip(circuit.sources, units))
    ]
    rows = []
    for xs in INPUTS:
        wires = [torch.tensor([float(v)]) for v in xs]
        for sources, unit in zip(circuit.sources, circuit.units):  # the circuit's own order, gate by gate
            wires.append(unit(torch.stack([wires[s] for s in sources], dim=-1)))
        outputs = circuit(torch.tensor([xs], dtype=torch.float32))
        rows.append(
            {"x": xs, "wires": {n: int(w) for n, w in zip(names, wires)}}
            | {"outputs": {n: int(o) for n, o in zip(circuit.output_names, outputs)}}
        )
    outputs = {n: names[o] for n, o in zip(circuit.output_names, circuit.outputs)}
    return {"gates": gates, "outputs": outputs, "rows": rows}


def sigmoid_curve(c: float, points: int = 161, span: float = 4.0) -> dict:
    """sigma(c z) and step(z) for z in [-span, span]: as c grows the sigmoid neuron becomes a perceptron."""
    z = torch.linspace(-span, span, points).reshape(-1, 1)
    with torch.no_grad():
        sigmoid = SigmoidNeuron([c], 0.0)(z)
    return {
        "c": c,
        "z": [round(float(v), 4) for v in z[:, 0]],
        "sigmoid": [round(float(v), 5) for v in sigmoid],
        "step": [int(v) for v in Perceptron([1.0], 0.0)(z)],
    }
