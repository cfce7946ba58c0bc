"""K sigmoid networks stacked into batched tensors, so one SGD step trains all K."""

from __future__ import annotations

import torch

from ...learn.network import SigmoidNetwork
from ...learn.sgd import forward_activations, sigmoid_backward
from .grid import Config


class StackedNetworks:
    """K sigmoid networks with one hidden layer (or none), stacked for batched SGD.

    ``w[l]`` has shape [K, out, in] and ``b[l]`` shape [K, out]; ``mask`` (for a
    hidden layer padded to the largest size) is 1 for real hidden units, 0 for
    inert padding.
    """

    def __init__(self, configs: list[Config], device="cpu", dtype=torch.float32):
        depth = {len(c.hidden) for c in configs}
        if depth - {0, 1} or len(depth) != 1:
            raise ValueError("a stacked group holds networks with the same number of hidden layers (0 or 1)")
        self.configs, self.hidden = configs, max((c.hidden[0] for c in configs if c.hidden), default=0)
        K, H = len(configs), self.hidden
        shapes = [(10, 784)] if H == 0 else [(H, 784), (10, H)]
        self.w = [torch.zeros(K, o, i, dtype=dtype) for o, i in shapes]
        self.b = [torch.zeros(K, o, dtype=dtype) for o, _ in shapes]
        self.mask = mask = torch.zeros(K, 1, H, dtype=dtype) if H else None
        self.padded = H > 0 and any(c.hidden[0] != H for c in configs)
        for k, c in enumerate(configs):
            # the same N(0, 1) draw as BookNetwork(sizes, seed=s), i.e. as a single run with that seed
            net = SigmoidNetwork(c.sizes, generator=torch.Generator().manual_seed(c.seed))
            for l, layer in enumerate(net.linear_layers()):
                o, i = layer.weight.shape
                self.w[l][k, :o, :i] = layer.weight.detach()
                self.b[l][k, :o] = layer.bias.detach()
            if mask is not None:
                mask[k, 0, : c.hidden[0]] = 1
        self.step_scale = torch.tensor([c.lr / c.batch_size for c in configs], dtype=dtype).view(K, 1, 1)
        self.to(device)

    def to(self, device):
        self.w = [t.to(device) for t in self.w]
        self.b = [t.to(device) for t in self.b]
        self.step_scale = self.step_scale.to(device)
        self.mask = self.mask.to(device) if self.mask is not None else None
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations of every layer for inputs x of shape [K, n, 784] (or [n, 784], shared by all)."""
        if x.dim() == 2:
            x = x.expand(len(self.configs), *x.shape)
        return forward_activations(x, self.w, [b.unsqueeze(1) for b in self.b], self._hidden_mask())

    def _hidden_mask(self) -> torch.Tensor | None:
        return self.mask if self.padded else None

    @torch.no_grad()
    def sgd_steps(self, xs: torch.Tensor, ys: torch.Tensor, m: int, errors: torch.Tensor) -> None:
        """SGD steps (eq. 20-21) of every network on its own mini-batches: xs[k, s:s+m] is network k's step s.

        ``learn.sgd.backprop_steps`` in batched form, from the same building blocks
        (``forward_activations``, ``sigmoid_backward``): see its docstring for the derivation.

        ``errors[k]`` receives a - y of every example just before its step, for the training cost.
        """
        weights, biases = self.w, [b.unsqueeze(2) for b in self.b]  # biases as [K, out, 1] views, for the updates
        rows, mask = [b.unsqueeze(1) for b in self.b], self._hidden_mask()  # and as [K, 1, out], for the forward
        last = len(weights) - 1
        ones, scales = {}, {}
        for x, y, error in zip(xs.split(m, dim=1), ys.split(m, dim=1), errors.split(m, dim=1)):
            n = x.shape[1]
            if n not in ones:  # sum over the mini-batch as a batched product with a vector of ones
                ones[n] = torch.ones(len(self.configs), n, 1, dtype=x.dtype, device=x.device)
                scales[n] = self.step_scale * (m / n)  # eta_k / n: a short last mini-batch divides by its own size
            activations = forward_activations(x, weights, rows, mask)
            a = activations[-1]
            torch.sub(a, y, out=error)  # dC_x/da for the quadratic cost
            # (eta_k/m) delta^L: scaling network k's output error scales all its gradients, and only its.
            delta = sigmoid_backward(error * scales[n], a)
            for l in range(last, -1, -1):
                previous = sigmoid_backward(torch.bmm(delta, weights[l]), activations[l]) if l else None
                delta_t = delta.transpose(1, 2)
                weights[l].baddbmm_(delta_t, activations[l], alpha=-1)  # w -= (eta/m) sum_x delta a^T
                biases[l].baddbmm_(delta_t, ones[n], alpha=-1)  # b -= (eta/m) sum_x delta
                delta = previous

    @torch.no_grad()
    def correct(self, x: torch.Tensor, labels: torch.Tensor, batch: int = 10_000) -> torch.Tensor:
        """Number of correctly classified inputs, per network."""
        total = torch.zeros(len(self.configs), dtype=torch.long, device=x.device)
        for start in range(0, len(x), batch):
            out = self.forward(x[start : start + batch])[-1]
            total += (out.argmax(dim=2) == labels[start : start + batch]).sum(dim=1)
        return total

    def network(self, k: int):
        """Network k as a ``SigmoidNetwork`` (padding removed), e.g. to compare with a single run."""
        c = self.configs[k]
        net = SigmoidNetwork(c.sizes, dtype=self.w[0].dtype)
        with torch.no_grad():
            for l, layer in enumerate(net.linear_layers()):
                o, i = layer.weight.shape
                layer.weight.copy_(self.w[l][k, :o, :i])
                layer.bias.copy_(self.b[l][k, :o])
        return net
