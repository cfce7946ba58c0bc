"""What the page shows of the network: its outputs, and the hidden neurons as pictures of their weights.

A hidden neuron of the first layer has 784 incoming weights, one per pixel, so
its weights are a 28x28 picture (red positive, blue negative on the page).  A
reading shows how active each hidden neuron was (its activation a, in (0, 1))
and how much it pushed the winning output neuron: a_j * w_(guess, j), the
neuron's share of the winner's weighted input z (eq. 3-4).  That share is
exact only for the last hidden layer, so pushes are given for a network with
one hidden layer -- the book's -- and the first hidden layer is shown in any case.
"""

from __future__ import annotations

import base64

import numpy as np
import torch


def weight_pictures(net) -> list[str]:
    """Each first-layer neuron's 784 incoming weights, scaled by its largest |w| to int8, base64-encoded."""
    if len(net.sizes) < 3:
        return []
    w = net.layers[0].weight.detach().to(torch.float32).cpu().numpy()
    top = np.abs(w).max(axis=1, keepdims=True)
    scaled = np.round(127 * w / np.where(top > 0, top, 1)).astype(np.int8)
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in scaled]


def look_inside(net, x: np.ndarray) -> dict:
    """The reading of one 784-vector: output activations, guess, and the first hidden layer ordered by push."""
    with torch.no_grad():
        a = torch.as_tensor(x, dtype=torch.float32).reshape(1, -1)
        activations = []
        for layer in net.layers:
            a = torch.sigmoid(layer(a.to(layer.weight.dtype)))  # eq. 3-4, as SigmoidNetwork.forward
            activations.append(a[0].to(torch.float32))
    outputs = activations[-1]
    top = outputs.topk(2)
    guess = int(top.indices[0])
    hidden: list[dict] = []
    if len(activations) > 1:
        first = activations[0]
        if len(activations) == 2:
            push = first * net.layers[1].weight[guess].detach().to(torch.float32)
        else:
            push = first  # deeper networks: no single share per first-layer neuron; order by activation
        order = torch.argsort(push, descending=True)
        hidden = [{"neuron": int(j), "activation": float(first[j]), "push": float(push[j])} for j in order]
    return {
        "guess": guess,
        "confidence": float(top.values[0]),
        "runner_up": int(top.indices[1]),
        "outputs": [float(v) for v in outputs],
        "hidden": hidden,
    }
