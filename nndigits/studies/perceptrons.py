"""Sections 2-3 of chapter 1: perceptrons, NAND universality, sigmoid neurons.

A perceptron weighs its inputs and fires when the evidence beats a threshold;
a sigmoid neuron is the same neuron with the step smoothed out.  This module
makes the chapter's examples runnable and exact, one idea a module:

* ``neurons``: ``Perceptron`` / ``SigmoidNeuron`` (eq. 1-2 and eq. 3-4, same parameters),
  ``cheese_festival(threshold)`` (weighing up evidence), ``nand()`` and ``half_adder()`` (the NAND gate
  and the book's adder, a ``PerceptronCircuit``);
* ``nand_universality``: ``nand_network(fn, n)``, any Boolean function from NANDs only;
* ``layered``: ``PerceptronNetwork``, layers, for the two exercises on sigmoid neurons simulating
  perceptrons (``.scaled(c)``, ``.as_sigmoid()``).

This module re-exports them all: ``from nndigits.studies.perceptrons import nand_network`` keeps working.

``python -m nndigits.perceptrons`` prints the truth tables and decisions (``nndigits/perceptrons.py``).
"""

from __future__ import annotations

from .layered import PerceptronNetwork
from .nand_universality import nand_network
from .neurons import CHEESE_FACTORS, Perceptron, PerceptronCircuit, SigmoidNeuron, cheese_festival, half_adder, nand

__all__ = [
    "CHEESE_FACTORS",
    "Perceptron",
    "PerceptronCircuit",
    "PerceptronNetwork",
    "SigmoidNeuron",
    "cheese_festival",
    "half_adder",
    "nand",
    "nand_network",
]
