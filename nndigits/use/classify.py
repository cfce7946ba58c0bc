"""Classifying digits with a trained network: the winning output neuron and the runner-up.

The network is either the book's NumPy ``Network`` (``studies/scratch.py``: what ``predict`` and ``read`` load,
so that they never import torch) or the torch ``SigmoidNetwork`` (the web app and the Python API): both compute
a' = sigma(w a + b) layer by layer, and here both give float64 activations.
"""

from __future__ import annotations

import numpy as np

from ..studies.scratch import Network


def activations(net, x) -> np.ndarray:
    """The output activations (m, out) as float64, for the rows of x (m, 784), of either kind of network."""
    if isinstance(net, Network):
        return net.feedforward(np.asarray(x, dtype=np.float64).reshape(-1, 784))
    import torch

    with torch.no_grad():
        return net(torch.as_tensor(x, dtype=torch.float32).reshape(-1, 784)).double().numpy()


def predict(net, x):
    """(digit, confidence, runner-up digit, runner-up activation) for each row of x (m, 784)."""
    a = activations(net, x)
    top = np.argsort(-a, axis=1, kind="stable")[:, :2]  # the most active neuron first; a tie goes to the lower digit
    return [(int(i), float(row[i]), int(j), float(row[j])) for row, (i, j) in zip(a, top)]
