"""The network's outputs on Lightning's own evaluation pass, kept for a callback without a second forward pass.

The dashboards (pictures of the mistakes, the confusion matrix) and the stuck-run watch both need what the
network answered on the validation images.  Running the network again would double the cost of every
evaluation; instead a forward hook keeps the output of each evaluation batch that Lightning computes anyway.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class KeepsOutputs(pl.Callback):
    """A callback base: ``watch(pl_module)`` once, then ``take_output()`` after each evaluation batch."""

    _hook: torch.utils.hooks.RemovableHandle | None = None
    _last: torch.Tensor | None = None

    def watch(self, pl_module: pl.LightningModule) -> None:
        """Keep the output of the module's network (``pl_module.net`` if it has one) on every evaluation batch."""
        self._hook = getattr(pl_module, "net", pl_module).register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        if not torch.is_grad_enabled():  # evaluation, not a training step of the autograd engine
            self._last = output

    def watching(self) -> bool:
        return self._hook is not None

    def take_output(self) -> torch.Tensor | None:
        """The output of the last evaluation batch (detached), once; ``None`` if there was none."""
        last, self._last = self._last, None
        return None if last is None else last.detach()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
