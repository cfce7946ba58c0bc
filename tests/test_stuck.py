"""A run that is stuck says so in one line (nndigits.learn.stuck), and a healthy one says nothing.

The real runs are the two of the README: ``--hidden 100`` (seed 1), which saturates an
output neuron in its first epochs and stays near 87%, and the book's [784, 30, 10]
(seed 1), which learns every digit.
"""

from types import SimpleNamespace

import pytest
import torch

from nndigits.learn.run import train_run
from nndigits.learn.stuck import StuckWatch, dead_digits


def _stuck_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("Stuck")]


def test_dead_digits_finds_a_saturated_neuron_that_never_wins():
    labels = torch.arange(10).repeat(100)
    outputs = torch.full((1000, 10), 0.001)
    outputs[torch.arange(1000), labels] = 0.9  # every digit right ...
    outputs[labels == 3, 3] = 0.004  # ... except 3, whose neuron stays saturated near 0
    outputs[labels == 3, 5] = 0.3
    assert [d for d, _, _ in dead_digits(outputs, labels)] == [3]
    (digit, below, recall) = dead_digits(outputs, labels)[0]
    assert below == 1.0 and recall == 0.0
    outputs[labels == 3, 3] = 0.02  # not saturated: it loses, but it is not stuck at 0
    assert dead_digits(outputs, labels) == []


def _drive(watch: StuckWatch, epochs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Feed the callback one validation pass per epoch, as Lightning would."""
    for epoch, (outputs, labels) in enumerate(epochs):
        trainer = SimpleNamespace(sanity_checking=False, current_epoch=epoch)
        watch.on_validation_epoch_start(trainer, None)
        watch._last = outputs
        watch.on_validation_batch_end(trainer, None, None, (None, labels), 0, 0)
        watch.on_train_epoch_end(trainer, None)


def test_flat_accuracy_far_below_the_book_is_reported_once():
    labels = torch.arange(10).repeat(10)
    outputs = torch.rand(100, 10, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.2  # no neuron saturated
    said: list[str] = []
    watch = StuckWatch(said.append)
    _drive(watch, [(outputs, labels)] * 9)
    assert said == []  # too early to tell
    _drive(watch, [(outputs, labels)] * 3)
    assert len(said) == 1 and "stayed near" in said[0] and "experiments/README.md" in said[0]


@pytest.mark.slow
def test_hidden_100_seed_1_says_it_is_stuck_early():
    said: list[str] = []
    result = train_run([784, 100, 10], epochs=2, seed=1, logdir=None, say=said.append)
    (line,) = _stuck_lines(said)
    assert "\n" not in line and "saturated" in line and "N(0, 1)" in line
    assert "experiments/README.md" in line and "chapter 3" in line
    assert said.index(line) == len(said) - 1  # after the Epoch 1 line, the first time it is clear
    digit = int(line.split("for digit ")[1].split()[0])
    # the digit it names really is never picked, on the test set too
    from nndigits.learn.mnist import load_split

    x, labels = load_split(train=False)
    with torch.no_grad():
        predicted = result.model(x).argmax(dim=1)
    assert (predicted[labels == digit] == digit).float().mean() < 0.02
    assert result.history[-1]["test/accuracy"] < 0.9


def test_the_books_run_is_not_called_stuck(book_run):
    """The session's shared run of the book's [784, 30, 10], seed 1, 2 epochs (the rule is checked after epoch 1)."""
    lines = book_run.printed.splitlines()
    assert _stuck_lines(lines) == [] and len([s for s in lines if s.startswith("Epoch")]) == 2
    assert book_run.history[-1]["test/accuracy"] > 0.9


def test_it_is_said_once_not_every_epoch():
    said: list[str] = []
    watch = StuckWatch(said.append, after=1)
    labels = torch.arange(10).repeat(10)
    outputs = torch.full((100, 10), 0.001)
    outputs[torch.arange(100), labels] = 0.9
    outputs[labels == 7, 7], outputs[labels == 7, 1] = 0.001, 0.5  # 7 is always called a 1
    _drive(watch, [(outputs, labels)] * 3)
    assert len(said) == 1 and "digit 7 " in said[0] and "epoch 0" in said[0]
