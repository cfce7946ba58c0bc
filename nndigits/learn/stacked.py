"""K networks' SGD steps at once, for a sweep: the reference step in batched form, and the native engine per network.

A sweep trains many networks of one mini-batch size side by side (``studies.sweep``).  Their weights
are stacked into tensors with a leading dimension K -- ``w[l]`` [K, out, in], ``b[l]`` [K, out] -- and
network k trains on its own rows: in a chunk ``Rows(x, y, index)`` the row numbers ``index`` are
[K, chunk], row ``index[k]`` for network k.  Two engines take such a chunk (made by
``engines.make_engine(name, stack, etas, m)``; the Triton kernel is the third, ``triton_sgd.py``):

``StackedBackprop``  ``engines.backprop_steps`` in batched form -- the same forward pass and the same
                     sigma' -- so one step of a few batched operations trains all K;
``StackedNative``    the native engine's C++ loops, one network after another, each on its slice of the
                     stack and its own rows read by number: each network is bit for bit the network a
                     single ``native`` run trains.  Where the C++ loops cannot take them (a GPU, hidden
                     layers padded to one size, no extension) it takes ``StackedBackprop``'s steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import torch

from .native import steps_or_reason
from .network import forward_activations, sigmoid_backward

if TYPE_CHECKING:
    from .datamodule import Rows


class Stack(Protocol):
    """K networks of one depth: ``w[l]`` [K, out, in], ``b[l]`` [K, out], trained in place.

    ``hidden_mask`` [K, 1, H] is 1 for the real units of a first hidden layer padded to the largest
    of the K and 0 for the inert padding (None when no network is padded).
    """

    w: list[torch.Tensor]
    b: list[torch.Tensor]

    @property
    def hidden_mask(self) -> torch.Tensor | None: ...


class StackedBackprop:
    """The ``backprop`` engine for a stack: each step of all K networks in a few batched tensor operations."""

    def __init__(self, nets: Stack, eta: Sequence[float], m: int):
        w = nets.w[0]
        self.nets, self.m = nets, m
        self.step_scale = torch.tensor([e / m for e in eta], dtype=w.dtype).view(len(eta), 1, 1).to(w.device)

    @torch.no_grad()
    def steps(self, rows: Rows) -> torch.Tensor:
        """SGD steps (eq. 20-21) of every network on its own mini-batches: network k's step s is on rows
        ``index[k, s*m:(s+1)*m]``; returns a - y of every row, [K, chunk, out].

        ``engines.backprop_steps`` for K networks, from the same building blocks (``forward_activations``,
        ``sigmoid_backward``): see its docstring for the derivation.
        """
        nets, m = self.nets, self.m
        weights, biases = nets.w, [b.unsqueeze(2) for b in nets.b]  # biases as [K, out, 1] views, for the updates
        as_rows, mask = [b.unsqueeze(1) for b in nets.b], nets.hidden_mask  # and as [K, 1, out], for the forward
        xs, ys = rows.gather(weights[0].dtype)  # [K, chunk, .]: each network's own examples
        errors = torch.empty_like(ys)
        last = len(weights) - 1
        ones, scales = {}, {}
        for x, y, error in zip(xs.split(m, dim=1), ys.split(m, dim=1), errors.split(m, dim=1)):
            n = x.shape[1]
            if n not in ones:  # sum over the mini-batch as a batched product with a vector of ones
                ones[n] = torch.ones(len(xs), n, 1, dtype=x.dtype, device=x.device)
                scales[n] = self.step_scale * (m / n)  # eta_k / n: a short last mini-batch divides by its own size
            activations = forward_activations(x, weights, as_rows, mask)
            a = activations[-1]
            torch.sub(a, y, out=error)  # dC_x/da for the quadratic cost
            # (eta_k/m) delta^L: scaling network k's output error scales all its gradients, and only its.
            delta = sigmoid_backward(error * scales[n], a)
            for l in range(last, -1, -1):
                previous = sigmoid_backward(torch.bmm(delta, weights[l]), activations[l]) if l else None
                delta_t = delta.transpose(1, 2)
                weights[l].baddbmm_(delta_t, activations[l], alpha=-1)  # w -= (eta/m) sum_x delta a^T   (eq. 20)
                biases[l].baddbmm_(delta_t, ones[n], alpha=-1)  # b -= (eta/m) sum_x delta   (eq. 21)
                delta = previous
        return errors


class StackedNative:
    """The ``native`` engine for a stack: network k's steps by the C++ loops on its slice of the stack, k = 0, 1, ..."""

    def __init__(self, nets: Stack, eta: Sequence[float], m: int):
        self.nets, self.eta, self.m = nets, list(eta), m
        self.fallback = StackedBackprop(nets, eta, m)
        self.one_by_one = nets.w[0].device.type == "cpu" and nets.hidden_mask is None  # else: StackedBackprop

    def steps(self, rows: Rows) -> torch.Tensor:
        if self.one_by_one:  # unless the extension cannot take them: then StackedBackprop from here on
            index = rows.index
            assert index is not None, "a stack's chunk names each network's rows by number"
            errors = rows.room_for_errors(self.nets.w[0])
            self.one_by_one = self._each(rows.x, rows.y, index, errors)
            if self.one_by_one:
                return errors
        return self.fallback.steps(rows)

    def _each(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor, errors: torch.Tensor) -> bool:
        """Network k's SGD steps on rows ``index[k]``, k = 0, 1, ...; False (nothing done) if C++ cannot take them."""
        for k, eta in enumerate(self.eta):
            weights, biases = [w[k] for w in self.nets.w], [b[k] for b in self.nets.b]  # views: trained in place
            if steps_or_reason(weights, biases, x, y, self.m, eta, errors[k], index=index[k]) is not None:
                assert k == 0, "the networks of a stack share dtype and device"
                return False
        return True
