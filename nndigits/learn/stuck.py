"""Say, in one plain line, when a run is stuck -- and why, in the chapter's terms.

With the book's N(0, 1) initial weights a run sometimes starts with an output
neuron saturated: its sigmoid sits near 0 for almost every input, sigma'(z) is
then almost 0, and by eq. (22) (the change in cost follows the gradient) its
weights barely move -- the learning slowdown of saturated sigmoid neurons.
That digit then never wins the argmax and the run stays near 87-90% however
long it trains (``--hidden 100`` does this for every seed we tried: see
experiments/README.md, section 1).  A wider hidden layer makes it likelier: the
weighted inputs z of the output layer are sums of more N(0, 1) terms.  Chapter 3
of the book fixes it with the cross-entropy cost and 1/sqrt(n) initial weights.

``StuckWatch`` is a Lightning callback that looks at the validation outputs
Lightning already computes (a forward hook; nothing is run again) and reports,
once per run:

* a *dead output neuron*: after ``after`` epochs, a digit whose output neuron is
  below ``low`` for at least ``share`` of the validation images and which the
  network picks for almost none of its own images (recall under ``recall``);
* or a *flat run*: after ``flat_epochs`` epochs, the best validation accuracy is
  below ``flat_below`` and has not risen by ``flat_gain`` over the last 5 epochs.

The thresholds are far from what a healthy run shows (the book's [784, 30, 10]
after 2 epochs: every digit's neuron is below 0.01 for at most ~86% of the
images, every recall above 0.8; a stuck --hidden 100 run: 99.9% and 0.0).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .outputs import KeepsOutputs

READ_MORE = (
    "read experiments/README.md, section 1; chapter 3 of the book fixes this (cross-entropy, better initial weights)"
)


def dead_digits(
    outputs: torch.Tensor, labels: torch.Tensor, low: float = 0.01, share: float = 0.99, recall: float = 0.02
) -> list[tuple[int, float, float]]:
    """Output neurons saturated near 0 that (almost) never win: ``(digit, share below low, recall)`` each."""
    predicted = outputs.argmax(dim=1)
    below = (outputs < low).float().mean(dim=0)
    dead = []
    for digit in range(outputs.shape[1]):
        own = labels == digit
        if not own.any():
            continue
        hit = float((predicted[own] == digit).float().mean())
        if float(below[digit]) >= share and hit < recall:
            dead.append((digit, float(below[digit]), hit))
    return dead


def dead_message(dead: list[tuple[int, float, float]], epoch: int) -> str:
    digits = ", ".join(str(d) for d, _, _ in dead)
    worst = max(s for _, s, _ in dead)
    one = len(dead) == 1
    return (
        f"Stuck (epoch {epoch}): the output neuron{'' if one else 's'} for digit{'' if one else 's'} {digits} "
        f"{'is' if one else 'are'} below 0.01 for {worst:.1%} of the validation images and "
        f"almost never {'wins' if one else 'win'}: a saturated sigmoid learns very slowly (sigma'(z) is almost 0), "
        f"so {'this digit' if one else 'these digits'} may go unrecognised for many epochs or for good "
        f"(the run stays below ~{100 - 10 * len(dead)}% meanwhile). A bad start from the N(0, 1) weights, likelier "
        f"with many hidden neurons: try another --seed; {READ_MORE}."
    )


def flat_message(best: float, epochs: int, window: int) -> str:
    return (
        f"Stuck (epoch {epochs - 1}): validation accuracy has stayed near {best:.1%} for the last {window} epochs, "
        "far below the book's ~95%. Saturated sigmoid neurons learn very slowly (sigma'(z) is almost 0), "
        f"after a bad start from the N(0, 1) weights or with eta too large or too small; {READ_MORE}."
    )


class StuckWatch(KeepsOutputs):
    """Watch the validation outputs and ``say`` one line the first time the run is clearly stuck."""

    def __init__(
        self,
        say: Callable[[str], None] = print,
        after: int = 2,
        flat_epochs: int = 10,
        flat_below: float = 0.9,
        flat_gain: float = 0.005,
        window: int = 5,
    ):
        self.say, self.after = say, after
        self.flat_epochs, self.flat_below, self.flat_gain, self.window = flat_epochs, flat_below, flat_gain, window
        self.message: str | None = None  # what was said, once
        self._batches: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._accuracies: list[float] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        self.watch(pl_module)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._batches = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        output = self.take_output()
        if dataloader_idx == 0 and output is not None and not trainer.sanity_checking:
            self._batches.append((output, batch[1]))

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # after validation, so after the Epoch line
        if trainer.sanity_checking or not self._batches or self.message is not None:
            return
        outputs = torch.cat([a for a, _ in self._batches])
        labels = torch.cat([y for _, y in self._batches])
        self._batches = []
        epoch = trainer.current_epoch
        self._accuracies.append(float((outputs.argmax(dim=1) == labels).float().mean()))
        if epoch + 1 >= self.after and outputs.shape[1] > 1:
            dead = dead_digits(outputs, labels)
            if dead:
                self._say(dead_message(dead, epoch))
                return
        seen = self._accuracies
        if len(seen) >= self.flat_epochs:
            best = max(seen)
            gain = best - max(seen[: -self.window])
            if best < self.flat_below and gain < self.flat_gain:
                self._say(flat_message(best, len(seen), self.window))

    def _say(self, line: str) -> None:
        self.message = line
        self.say(line)
