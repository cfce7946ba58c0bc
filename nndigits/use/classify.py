"""Classifying digits with a trained network: the winning output neuron and the runner-up.

The network is either the book's NumPy ``Network`` (``core/scratch.py``: what ``predict`` and ``read`` load,
so that they never import torch) or the torch ``SigmoidNetwork`` (the web app and the Python API): both compute
a' = sigma(w a + b) layer by layer (eq. 3-4), and here both give float64 activations.  This module imports no
torch either: a torch network is handed its input made from its own weights (``new_tensor``).
"""

from __future__ import annotations

import numpy as np

from ..chapter import INPUTS
from ..core.scratch import Network


def activations(net, x) -> np.ndarray:
    """The output activations (m, out) as float64, for the rows of x (m, 784), of either kind of network."""
    x = np.asarray(x).reshape(-1, INPUTS)
    if isinstance(net, Network):
        return net.feedforward(x.astype(np.float64))
    weight = next(net.parameters())  # a torch module: its input as a tensor of its own dtype and device
    return net(weight.new_tensor(x)).detach().double().cpu().numpy()


def predict(net, x):
    """(digit, confidence, runner-up digit, runner-up activation) for each row of x (m, 784)."""
    a = activations(net, x)
    top = np.argsort(-a, axis=1, kind="stable")[:, :2]  # the most active neuron first; a tie goes to the lower digit
    return [(int(i), float(row[i]), int(j), float(row[j])) for row, (i, j) in zip(a, top)]
