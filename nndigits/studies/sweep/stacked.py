"""K sigmoid networks stacked into batched tensors, each with its own seed's weights, evaluated all at once.

Their SGD steps are taken by an engine made for the stack, as for one network: ``learn.engines.make_engine(name,
nets, [c.lr for c in nets.configs], m)`` (``learn/stacked.py``, ``learn/triton_sgd.py``).
"""

from __future__ import annotations

import torch

from ...chapter import INPUTS, OUTPUTS
from ...core.machine import EVAL_BATCH
from ...learn.network import SigmoidNetwork, forward_activations
from .grid import Config


class StackedNetworks:
    """K sigmoid networks with one hidden layer (or none), stacked for batched SGD: a ``learn.stacked.Stack``.

    ``w[l]`` has shape [K, out, in] and ``b[l]`` shape [K, out]; ``hidden_mask`` (where a network's
    hidden layer is padded to the largest size; else None) is 1 for real hidden units, 0 for inert padding.
    """

    def __init__(self, configs: list[Config], device="cpu", dtype=torch.float32):
        depth = {len(c.hidden) for c in configs}
        if depth - {0, 1} or len(depth) != 1:
            raise ValueError("a stacked group holds networks with the same number of hidden layers (0 or 1)")
        self.configs = configs
        K, H = len(configs), max((c.hidden[0] for c in configs if c.hidden), default=0)
        shapes = [(OUTPUTS, INPUTS)] if H == 0 else [(H, INPUTS), (OUTPUTS, H)]
        self.w = [torch.zeros(K, o, i, dtype=dtype) for o, i in shapes]
        self.b = [torch.zeros(K, o, dtype=dtype) for o, _ in shapes]
        self.padded = H > 0 and any(c.hidden[0] != H for c in configs)
        mask = torch.zeros(K, 1, H, dtype=dtype) if self.padded else None
        for k, c in enumerate(configs):
            # the same N(0, 1) draw as BookNetwork(sizes, seed=s), i.e. as a single run with that seed
            net = SigmoidNetwork(c.sizes, generator=torch.Generator().manual_seed(c.seed))
            for l, layer in enumerate(net.linear_layers()):
                o, i = layer.weight.shape
                self.w[l][k, :o, :i] = layer.weight.detach()
                self.b[l][k, :o] = layer.bias.detach()
            if mask is not None:
                mask[k, 0, : c.hidden[0]] = 1
        self.hidden_mask = mask
        self.to(device)

    def to(self, device):
        self.w = [t.to(device) for t in self.w]
        self.b = [t.to(device) for t in self.b]
        self.hidden_mask = self.hidden_mask.to(device) if self.hidden_mask is not None else None
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations of every layer for inputs x of shape [K, n, 784] (or [n, 784], shared by all)."""
        if x.dim() == 2:
            x = x.expand(len(self.configs), *x.shape)
        return forward_activations(x, self.w, [b.unsqueeze(1) for b in self.b], self.hidden_mask)

    @torch.no_grad()
    def correct(self, x: torch.Tensor, labels: torch.Tensor, batch: int = EVAL_BATCH) -> torch.Tensor:
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
