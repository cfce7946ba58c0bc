"""Figures of a trained network for a learner to look at: hidden neurons, mistakes, confusion, learning curve.

Matplotlib ``Figure`` objects made without ``pyplot``: nothing global is
touched, a notebook shows a returned figure once (inline), and a script can
``fig.savefig(...)``.  The TensorBoard dashboards (``learn.dashboards``) draw
the same pictures with PIL, cheaply, every few epochs during training; these
are the large, labelled versions for reading at leisure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..learn.network import SigmoidNetwork

COLUMNS = 10


def _grid(n: int, columns: int = COLUMNS, cell: float = 1.0, title_room: float = 0.35) -> tuple[Figure, list]:
    """A figure with ``n`` small image panels in rows of ``columns``, axes hidden."""
    rows, columns = max(1, -(-n // columns)), max(1, min(n, columns))
    fig = Figure(figsize=(columns * cell, rows * (cell + title_room) + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, list(axes[:n])


def hidden_weights(net: SigmoidNetwork, layer: int = 0, columns: int = COLUMNS) -> Figure:
    """Each neuron's incoming weights w_jk as a 28x28 picture: red pulls z = w.x + b up, blue down.

    Only neurons reading the 784 pixels can be drawn as pictures: the first
    layer of ``SigmoidNetwork`` (its hidden neurons, in [784, 30, 10]).  Each
    picture has its own colour scale, symmetric about 0, so white means weight 0.
    """
    weight = net.linear_layers()[layer].weight.detach().cpu().float()
    if weight.shape[1] != 784:
        raise ValueError(f"layer {layer} reads {weight.shape[1]} inputs, not the 784 pixels; only layer 0 does")
    fig, axes = _grid(len(weight), columns)
    for j, (ax, w) in enumerate(zip(axes, weight)):
        limit = float(w.abs().max()) or 1.0
        ax.imshow(w.reshape(28, 28).numpy(), cmap="bwr", vmin=-limit, vmax=limit)
        ax.set_title(f"neuron {j}", fontsize=8)
    fig.suptitle(f"Incoming weights of the {len(weight)} neurons of layer {layer + 1} (red +, blue -)", fontsize=10)
    return fig


def mistakes(
    images: torch.Tensor, labels: torch.Tensor, predicted: torch.Tensor, limit: int = 24, columns: int = 8
) -> Figure:
    """The first ``limit`` misclassified digits as MNIST draws them, each captioned "true as predicted"."""
    labels, predicted = torch.as_tensor(labels).reshape(-1), torch.as_tensor(predicted).reshape(-1)
    wrong = torch.nonzero(labels != predicted).reshape(-1)
    shown = wrong[:limit]
    fig, axes = _grid(len(shown), columns)
    for ax, i in zip(axes, shown.tolist()):
        ax.imshow(torch.as_tensor(images[i]).reshape(28, 28).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{int(labels[i])} as {int(predicted[i])}", fontsize=9)
    fig.suptitle(f"{len(shown)} of the {len(wrong)} digits it gets wrong (of {len(labels)})", fontsize=10)
    return fig


def confusion_counts(labels: torch.Tensor, predicted: torch.Tensor, classes: int = 10) -> np.ndarray:
    """``counts[i, j]``: how many digits ``i`` the network called ``j`` (rows: truth, columns: prediction)."""
    flat = torch.as_tensor(labels).long().reshape(-1) * classes + torch.as_tensor(predicted).long().reshape(-1)
    return torch.bincount(flat, minlength=classes * classes).reshape(classes, classes).numpy()


def confusion(labels: torch.Tensor, predicted: torch.Tensor) -> Figure:
    """The confusion matrix, every count written in; colour shows only the mistakes, so they stand out."""
    counts = confusion_counts(labels, predicted)
    errors = counts.astype(float)
    np.fill_diagonal(errors, np.nan)
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(errors, cmap="Reds")
    for i, j in np.ndindex(counts.shape):
        ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8, weight="bold" if i == j else None)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("the network's digit")
    ax.set_ylabel("true digit")
    right = int(np.trace(counts))
    ax.set_title(f"Confusion matrix: {right} / {int(counts.sum())} right", fontsize=10)
    return fig


def learning_curve(history: Sequence[dict]) -> Figure:
    """Accuracy on the test and validation sets, and the quadratic cost, after each epoch."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    accuracy, cost = fig.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for split, name in (("test", "test"), ("val", "validation")):
        if history and f"{split}/accuracy" in history[0]:
            accuracy.plot(epochs, [100 * row[f"{split}/accuracy"] for row in history], marker="o", label=name)
    # the training cost is the mean over the epoch, each C_x taken just before its own mini-batch's step
    for split, name in (("train", "training (during the epoch)"), ("val", "validation (after it)")):
        if history and f"{split}/cost" in history[0]:
            cost.plot(epochs, [row[f"{split}/cost"] for row in history], marker="o", label=name)
    accuracy.set(xlabel="epoch", ylabel="accuracy (%)", title="Classified right")
    cost.set(xlabel="epoch", ylabel="C = (1/2n) sum ||y - a||^2", title="Quadratic cost (eq. 6)")
    for ax in (accuracy, cost):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend()
    return fig
