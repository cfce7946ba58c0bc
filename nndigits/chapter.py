"""The chapter's facts, in one place: the book's run, MNIST's split, the engines, and the bounds of every number.

Standard library only, so that ``--help``, ``predict`` and the page's settings can use it without torch.
Every entry point checks what a user typed here, once, where it enters -- the flags of the commands,
``nndigits.fit``, the app's training settings and the sweep's grid -- with the same bounds; the code
inside trusts what it is given.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

# --- the book's run (chapter 1: ``net = Network([784, 30, 10]); net.SGD(training_data, 30, 10, 3.0, ...)``)
INPUTS = 784  # one input neuron per pixel of a 28x28 image
OUTPUTS = 10  # one output neuron per digit
HIDDEN = (30,)
SIZES = (INPUTS, *HIDDEN, OUTPUTS)
EPOCHS = 30
M = 10  # the mini-batch size m
ETA = 3.0  # the learning rate eta
SEED = 1  # a seed whose run is typical of the book's (some seeds get stuck: see experiments/)

# --- MNIST as the book splits it: the first 50,000 training images train, the last 10,000 validate
MNIST_TRAIN = 60_000
TRAIN_SIZE = 50_000
VALIDATION_SIZE = MNIST_TRAIN - TRAIN_SIZE
TEST_SIZE = 10_000

# --- how a step is computed (``learn/engines.py`` builds them) and where
CPU_ENGINES = ("native", "backprop", "autograd")
GPU_ENGINES = ("cudagraph", "triton", "triton-tf32")
ENGINES = CPU_ENGINES + GPU_ENGINES
ENGINE = "native"
ACCELERATORS = ("auto", "cpu", "gpu", "cuda")

DEFAULT_LOGDIR = "runs"

# --- the bounds of every number a user can type
INT64_MAX = 2**63 - 1
FLOAT32_MAX = struct.unpack("f", struct.pack("I", 0x7F7FFFFF))[0]  # 3.4028e38; above it float32 is inf
FLOAT32_NORMAL = struct.unpack("f", struct.pack("I", 0x00800000))[0]  # 1.18e-38; below it eta is 0 in float32
SEED_MAX = 2**32 - 1  # seeds go into torch.Generator.manual_seed(seed * 1_000_003 + epoch): keep them in int64
MAX_EPOCHS = 10_000  # about an hour of the book's run per thousand epochs here: more is a typo, not a plan
MAX_LAYERS = 100  # hidden layers


@dataclass(frozen=True)
class Bound:
    """A number a user types: ``kind`` (int or float) in [low, high], or in (low, high] when ``open_low``."""

    name: str
    kind: type
    low: float
    high: float
    open_low: bool = False
    why: str = ""  # said after the upper bound when it is exceeded

    def describe(self) -> str:
        low = f"greater than {_number(self.low)}" if self.open_low else f"at least {_number(self.low)}"
        return f"{low} and at most {_number(self.high)}"

    def check(self, value, name: str | None = None):
        """``value`` as ``kind`` if it is within bounds; ``ValueError`` saying which bound it breaks otherwise.

        The message names ``name`` (this bound's name if None; nothing if "", as argparse names the flag)
        and quotes ``value`` as it was given.
        """
        who = f"{self.name if name is None else name} ".lstrip()
        what = "a whole number" if self.kind is int else "a number"
        given = _quote(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = self.kind(value)
            except (TypeError, ValueError, OverflowError):
                raise ValueError(f"{who}must be {what}, got {given}") from None
        if self.kind is int and isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{who}must be {what}, got {given}")
            value = int(value)
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"{who}must be a number, got {given}")
        if isinstance(value, float) and math.isinf(value):
            raise ValueError(f"{who}must be finite, got {given}")
        if value < self.low or (self.open_low and value <= self.low):
            bound = f"greater than {_number(self.low)}" if self.open_low else f"at least {_number(self.low)}"
            raise ValueError(f"{who}must be {bound}, got {given}")
        if value > self.high:
            why = f" ({self.why})" if self.why else ""
            raise ValueError(f"{who}must be at most {_number(self.high)}{why}, got {given}")
        if self.kind is float and self.open_low and self.low == 0 and value < FLOAT32_NORMAL:
            raise ValueError(f"{who}must be at least {FLOAT32_NORMAL:.4g} (smaller is 0 in float32), got {given}")
        return self.kind(value)


def _number(v) -> str:
    return f"{v:,}".replace(",", "_") if isinstance(v, int) and abs(v) >= 10**6 else f"{v:g}"


def _quote(value) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


ETA_BOUND = Bound("eta", float, 0.0, FLOAT32_MAX, open_low=True, why="the largest float32")
M_BOUND = Bound("m", int, 1, TRAIN_SIZE, why="the training set")
EPOCHS_BOUND = Bound("epochs", int, 1, MAX_EPOCHS)
SEED_BOUND = Bound("seed", int, 0, SEED_MAX)
NEURONS_BOUND = Bound("a layer size", int, 1, INT64_MAX, why="the largest int64")


def parameters(sizes: Sequence[int]) -> int:
    """The weights and biases of a network of ``sizes``: sum over layers of n_out * (n_in + 1)."""
    return sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def check_sizes(sizes: Sequence[int]) -> list[int]:
    """Return ``sizes`` as a list of ints, or raise ``ValueError`` saying what is wrong."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"a network needs at least an input and an output layer, got sizes {sizes}")
    if any(s < 1 for s in sizes):
        raise ValueError(f"every layer needs at least one neuron, got sizes {sizes}")
    return sizes


def check_hidden(hidden: Sequence[int]) -> list[int]:
    """The hidden layers of a [784, *hidden, 10] network, each checked; ``ValueError`` naming the first bad one."""
    hidden = list(hidden)
    if len(hidden) > MAX_LAYERS:
        raise ValueError(f"at most {MAX_LAYERS} hidden layers, got {len(hidden)}")
    return [NEURONS_BOUND.check(n) for n in hidden]


def check_run(eta, m, epochs, seed) -> tuple[float, int, int, int]:
    """(eta, m, epochs, seed) checked against the bounds every entry point shares."""
    return ETA_BOUND.check(eta), M_BOUND.check(m), EPOCHS_BOUND.check(epochs), SEED_BOUND.check(seed)
