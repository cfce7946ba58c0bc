"""Classifying digits with a trained network: the winning output neuron and the runner-up."""

from __future__ import annotations

import torch


def predict(net, x):
    """(digit, confidence, runner-up digit, runner-up activation) for each row of x (m, 784)."""
    with torch.no_grad():
        a = net(torch.as_tensor(x, dtype=torch.float32).reshape(-1, 784))
    top = a.topk(2, dim=1)
    return [(int(i[0]), float(v[0]), int(i[1]), float(v[1])) for v, i in zip(top.values, top.indices)]
