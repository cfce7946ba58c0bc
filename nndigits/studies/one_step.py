"""One step of mini-batch SGD on the real network, taken apart (eq. 6, 9, 18-21).

The chapter's heart is one update: take the next m training inputs, estimate the gradient of the
quadratic cost from them (eq. 18-19), and move every weight and bias by

    Delta w = -(eta/m) sum_j dC_{X_j}/dw,   Delta b = -(eta/m) sum_j dC_{X_j}/db     (eq. 20-21)

trusting eq. 9, Delta C ~ grad C . Delta v = -eta ||grad C||^2, that this lowers the cost when eta is
small enough.  ``one_step`` takes that update on a network -- fresh from a seed, or trained -- and
returns everything about it a learner may want to look at: the mini-batch with each example's outputs
and cost C_x, the mini-batch's cost before and after, Delta w and Delta b of every layer, the accuracy
on 1,000 fixed test digits after the step, and the eq. 9 curve: the cost along the step's direction
beside eq. 9's straight line.

Everything is float64.  The gradient comes from autograd on ``quadratic_cost`` through the network's
own forward pass -- not from a training engine -- so that ``tests/test_one_step.py`` comparing Delta w
with one step of the backprop engine checks two independent computations of eq. 20-21.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call

from ..chapter import ETA, ETA_BOUND, M_BOUND, SEED, SEED_BOUND, SIZES, TRAIN_SIZE, M
from ..learn.mnist import book_split, intensities
from ..learn.network import SigmoidNetwork, one_hot, quadratic_cost

T = np.linspace(0.0, 2.0, 41)  # where the eq. 9 curve is measured: t = 1 is the step itself
TEST_DIGITS = 1000  # the first 1,000 of MNIST's test set: the accuracy after the step
SAMPLE = 1000  # the first 1,000 training images: the cost the mini-batch stands in for (eq. 18)


@dataclass(frozen=True)
class Curve:
    """Eq. 9 along the step: costs at w + t Delta w = w - t eta grad C for each ``t``.

    ``batch`` and ``sample`` are the costs of the mini-batch and of the 1,000 training images;
    ``predicted`` is eq. 9's straight line for the mini-batch, Delta C = grad C . (t Delta v) =
    -t eta ||grad C||^2, and ``sample_predicted`` the same line for the sample, t grad C_sample . Delta w
    (the mini-batch's step seen by the cost it estimates).  t = 1 is the step taken; t = 10 would be
    the same mini-batch's step at ten times the eta.
    """

    t: np.ndarray
    batch: np.ndarray
    sample: np.ndarray
    predicted: np.ndarray
    sample_predicted: np.ndarray


@dataclass(frozen=True)
class Step:
    """One step of SGD and what it did.  Arrays are NumPy float64; layer l's weights are (out, in) as in torch.

    ``images`` (m, 784) and ``labels`` (m,) are the mini-batch (``indices`` into the 50,000 training
    images); ``outputs`` (m, 10) the network's output activations a(x) before the step, ``desired``
    the y(x) they are compared with and ``costs`` C_x = ||y(x) - a(x)||^2 / 2 (eq. 6 for one input).
    ``delta_w[l]``, ``delta_b[l]`` are the changes eq. 20-21 made to layer l; ``after`` is the network
    after the step (a float64 ``SigmoidNetwork``: pass it to ``one_step`` again for the next step).
    """

    eta: float
    indices: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    outputs: np.ndarray
    desired: np.ndarray
    costs: np.ndarray
    cost_before: float
    cost_after: float
    gradient_norm2: float  # ||grad C||^2 over every weight and bias, C the mini-batch's cost
    delta_w: list[np.ndarray]
    delta_b: list[np.ndarray]
    accuracy_before: float
    accuracy_after: float
    curve: Curve
    after: SigmoidNetwork

    @property
    def m(self) -> int:
        return len(self.labels)

    @property
    def hidden_pictures(self) -> np.ndarray:
        """Each first-layer neuron's Delta w as a 28x28 picture: which pixels it now cares about more, or less."""
        return self.delta_w[0].reshape(-1, 28, 28)


@functools.cache
def _mnist(data_dir: str | None) -> dict:
    """MNIST as the book splits it (``learn.mnist.book_split``: uint8 pixels), read once per process."""
    return book_split(data_dir)


def _inputs(pixels: torch.Tensor) -> torch.Tensor:
    """The network's float64 inputs: the trainer's float32 intensities in [0, 1], exactly, as float64."""
    return intensities(pixels).to(torch.float64)


def minibatch(m: int = M, epoch: int = 0, batch: int = 0, seed: int = SEED) -> np.ndarray:
    """The indices of mini-batch ``batch`` of ``epoch`` in a training run's order (the trainer's ``EpochOrder``)."""
    from ..learn.datamodule import EpochOrder  # imports Lightning: only when asked (``nndigits.api`` imports us)

    order = EpochOrder(TRAIN_SIZE, m, 1, seed).order(epoch)
    if not 0 <= batch * m < TRAIN_SIZE:
        raise ValueError(f"an epoch has {-(-TRAIN_SIZE // m)} mini-batches of m = {m}; there is no batch {batch}")
    return order[batch * m : (batch + 1) * m].numpy()


def _network(net, sizes: Sequence[int]) -> SigmoidNetwork:
    """A float64 copy of ``net``: a seed (fresh weights, as the trainer draws them), a network, or a checkpoint."""
    if isinstance(net, (str, os.PathLike)):
        from ..learn.checkpoints import load_network

        net = load_network(net)
    elif isinstance(net, int) and not isinstance(net, bool):
        net = SigmoidNetwork(sizes, generator=torch.Generator().manual_seed(SEED_BOUND.check(net)))
    net = getattr(net, "module", net)  # the API's Network holds its SigmoidNetwork as .module
    if not isinstance(net, SigmoidNetwork):
        raise TypeError(f"one_step needs a seed, a network or a checkpoint, got {type(net).__name__}")
    return copy.deepcopy(net).to(torch.float64).eval()


def one_step(
    net=SEED,
    *,
    eta: float = ETA,
    m: int = M,
    epoch: int = 0,
    batch: int = 0,
    seed: int | None = None,
    indices: Sequence[int] | None = None,
    sizes: Sequence[int] = SIZES,
    t: Sequence[float] = tuple(T),
    data_dir: str | os.PathLike | None = None,
) -> Step:
    """One SGD step (eq. 20-21) on ``net`` and everything it did; ``net`` itself is not changed.

    ``net``: a seed (fresh weights of ``sizes``, as ``python -m nndigits.train --seed`` draws them),
    a ``SigmoidNetwork``, an ``nndigits.Network`` or a checkpoint's path.  The mini-batch is the given
    ``indices`` into the 50,000 training images, else mini-batch ``batch`` of ``epoch`` in the order a
    training run with ``seed`` visits them (``seed`` defaults to ``net`` when that is a seed, else the
    book's) -- ``batch=0`` is the next m images of a fresh epoch.  ``m = 1`` is online learning.
    """
    eta = ETA_BOUND.check(eta)
    net64 = _network(net, sizes)
    split = _mnist(None if data_dir is None else os.fspath(data_dir))
    (x_train, labels_train), (x_test, labels_test) = split["train"], split["test"]
    if indices is None:
        order_seed = seed if seed is not None else net if isinstance(net, int) and not isinstance(net, bool) else SEED
        index = minibatch(M_BOUND.check(m), epoch, batch, SEED_BOUND.check(order_seed))
    else:
        index = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(index) == 0 or index.min() < 0 or index.max() >= TRAIN_SIZE:
            raise ValueError(
                f"indices must name 1 or more of the {TRAIN_SIZE:,} training images (0 to {TRAIN_SIZE - 1})"
            )
    x = _inputs(x_train[torch.from_numpy(index)])
    y = one_hot(labels_train[torch.from_numpy(index)], net64.sizes[-1], torch.float64)
    x_sample = _inputs(x_train[:SAMPLE])
    y_sample = one_hot(labels_train[:SAMPLE], net64.sizes[-1], torch.float64)
    x_digits, digits = _inputs(x_test[:TEST_DIGITS]), labels_test[:TEST_DIGITS]

    w = {name: p.detach() for name, p in net64.named_parameters()}

    def cost(params, x, y) -> torch.Tensor:
        """C = 1/(2m) sum_x ||y(x) - a(x)||^2 over the rows of x (eq. 6), the network's forward pass at ``params``."""
        return quadratic_cost(functional_call(net64, params, (x,)), y)

    def gradient(x, y) -> dict[str, torch.Tensor]:
        """grad C = (1/m) sum_x grad C_x (eq. 18-19: the average over the rows given), by autograd."""
        params = {name: p.clone().requires_grad_(True) for name, p in w.items()}
        return dict(zip(params, torch.autograd.grad(cost(params, x, y), list(params.values()))))

    grad = gradient(x, y)
    delta = {name: -eta * g for name, g in grad.items()}  # eq. 20-21: Delta v = -eta grad C (eq. 10)
    norm2 = float(sum((g * g).sum() for g in grad.values()))
    sample_slope = float(sum((g * delta[name]).sum() for name, g in gradient(x_sample, y_sample).items()))

    def moved(s: float) -> dict[str, torch.Tensor]:
        return {name: p + s * delta[name] for name, p in w.items()}

    with torch.no_grad():
        a = net64(x)
        ts = np.asarray(t, dtype=np.float64)
        curve = Curve(
            t=ts,
            batch=np.array([float(cost(moved(s), x, y)) for s in ts]),
            sample=np.array([float(cost(moved(s), x_sample, y_sample)) for s in ts]),
            predicted=-ts * eta * norm2,  # eq. 9: Delta C ~ grad C . Delta v with Delta v = -t eta grad C
            sample_predicted=ts * sample_slope,
        )
        before = (net64.classify(x_digits) == digits).double().mean()
        after = copy.deepcopy(net64)
        for name, p in after.named_parameters():
            p.add_(delta[name])  # w -> w' = w + Delta w (eq. 20), b -> b' = b + Delta b (eq. 21)
        accuracy = (after.classify(x_digits) == digits).double().mean()
        cost_after = float(quadratic_cost(after(x), y))

    layers = range(len(net64.layers))
    return Step(
        eta=eta,
        indices=index,
        images=x.numpy(),
        labels=labels_train[torch.from_numpy(index)].numpy(),
        outputs=a.numpy(),
        desired=y.numpy(),
        costs=((y - a) ** 2).sum(1).numpy() / 2,  # C_x = ||y(x) - a(x)||^2 / 2
        cost_before=float(quadratic_cost(a, y)),
        cost_after=cost_after,
        gradient_norm2=norm2,
        delta_w=[delta[f"layers.{l}.weight"].numpy() for l in layers],
        delta_b=[delta[f"layers.{l}.bias"].numpy() for l in layers],
        accuracy_before=float(before),
        accuracy_after=float(accuracy),
        curve=curve,
        after=after,
    )
