"""The Python API: chapter 1 in a handful of calls, for a notebook or a script.

::

    import nndigits
    net, history = nndigits.fit(sizes=[784, 30, 10], eta=3.0, m=10, epochs=30)  # prints the Epoch lines
    training, validation, test = nndigits.mnist()                               # the book's split
    net.evaluate(test)                     # how many of the 10,000 test digits it gets right
    net.predict("my_digit.png")            # a digit from a photo or scan
    net.show_hidden(); net.show_mistakes(test); net.show_confusion(test)       # matplotlib figures
    net = nndigits.load("runs/784-30-10_eta3_m10_seed1/version_0/checkpoints/last.ckpt")

``fit`` trains through ``learn.run.train_run``, the one training path that
``python -m nndigits.train`` uses too: the same Lightning Trainer, the same
``Epoch j: k / 10000`` lines, the same TensorBoard logs and checkpoint (none
with ``logdir=None``).  ``load`` reads those checkpoints as ``python -m
nndigits.predict`` does, and ``predict`` preprocesses image files as that
command does (``use.images``) and picks the most active output neuron
(``use.classify``).  Errors are the library's exceptions, each with a one-line
message: ``RunError``, ``CheckpointError``, ``DataError``, ``ImageError``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import ImageOps

from .chapter import (
    ACCELERATORS,
    DEFAULT_LOGDIR,
    ENGINES,
    EPOCHS,
    ETA,
    INPUTS,
    OUTPUTS,
    SEED,
    SIZES,
    M,
    check_hidden,
    check_run,
    check_sizes,
)
from .core.machine import check_network_fits
from .learn.checkpoints import load_network
from .learn.mnist import SPLITS, book_split, intensities
from .learn.network import SigmoidNetwork
from .studies.one_step import one_step  # one SGD step taken apart (eq. 9, 20-21), for the notebook
from .use import figures
from .use.classify import predict as classify_rows
from .use.image_files import ImageError, gray_levels
from .use.images import load_digit, to_mnist
from .use.ink import ink_map

__all__ = ["fit", "load", "mnist", "Network", "History", "Data", "MNIST", "ImageError", "one_step"]


class Data(NamedTuple):
    """A set of digits: ``images`` float32 (N, 784) in [0, 1], white ink on black, and ``labels`` (N,) digits 0-9."""

    images: torch.Tensor
    labels: torch.Tensor


class MNIST(NamedTuple):
    """The book's split of MNIST: 50,000 training digits, 10,000 for validation, 10,000 for testing."""

    training: Data
    validation: Data
    test: Data


def mnist(data_dir: str | os.PathLike | None = None) -> MNIST:
    """The book's split as tensors: ``training, validation, test = nndigits.mnist()``.

    As in the book's ``mnist_loader``: training is the first 50,000 of MNIST's
    60,000 training images, validation the other 10,000, test MNIST's 10,000
    test images.  The files are fetched once into the cache and verified by
    SHA-256 (``python -m nndigits.data``); labels are digits, not the one-hot
    desired outputs y(x) (``learn.network.one_hot`` makes those).
    """
    split = book_split(data_dir)
    return MNIST(*(Data(intensities(split[name][0]), split[name][1]) for name in SPLITS))


class History(list):
    """One dict per epoch, as printed in the Epoch lines (``history[-1]["test/correct"]``), plus columns by name.

    ``history.test_accuracy`` is the list of ``"test/accuracy"`` over the epochs;
    likewise ``test_correct``, ``val_accuracy``, ``val_cost``, ``train_cost``, ``epoch``.
    """

    def __getattr__(self, name: str) -> list:
        key = name.replace("_", "/", 1) if name != "epoch" else name
        if not self or key not in self[0]:
            known = ", ".join(k.replace("/", "_") for k in (self[0] if self else {}))
            raise AttributeError(f"History has no column {name!r} (it has: {known or 'no epochs yet'})")
        return [row[key] for row in self]

    def plot(self):
        """The learning curve: test and validation accuracy after each epoch (a matplotlib Figure)."""
        return figures.learning_curve(self)


def _as_rows(images) -> tuple[torch.Tensor, bool]:
    """``images`` as float32 (N, 784) MNIST-style rows, and whether a single image was given."""
    if isinstance(images, (str, os.PathLike)):
        return torch.from_numpy(load_digit(images)).reshape(1, 784), True
    if hasattr(images, "mode") and hasattr(images, "convert"):  # a PIL image: a photo or scan, prepared like a file
        gray = gray_levels(ImageOps.exif_transpose(images))
        return torch.from_numpy(to_mnist(ink_map(gray, "image"), "image")).reshape(1, 784), True
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("predict got an empty list of images")
        return torch.cat([_as_rows(image)[0] for image in images]), False
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    x = x.detach().cpu().to(torch.float32)
    if x.shape in ((784,), (28, 28)):
        return x.reshape(1, 784), True
    if (x.ndim == 3 and x.shape[1:] == (28, 28)) or (x.ndim == 2 and x.shape[1] == 784):
        return x.reshape(-1, 784), False
    raise ValueError(
        f"images of shape {tuple(x.shape)} are not MNIST digits: give 784 or 28x28 values per image "
        "(white on black in [0, 1]), image files, or PIL images"
    )


class Network:
    """A trained network of sigmoid neurons, ready to use: feedforward, predict, evaluate, and look inside.

    ``module`` is the ``SigmoidNetwork`` (a torch ``nn.Module``); ``history``
    the epochs it was trained for (empty when loaded from a checkpoint) and
    ``checkpoint`` where it was saved, if it was.
    """

    def __init__(self, module: SigmoidNetwork, history: Sequence[dict] = (), checkpoint: Path | None = None):
        self.module = module.eval()
        self.history = History(history)
        self.checkpoint = checkpoint

    @property
    def sizes(self) -> list[int]:
        """Neurons per layer, e.g. [784, 30, 10]."""
        return list(self.module.sizes)

    def __repr__(self) -> str:
        return f"nndigits.Network(sizes={self.sizes}, epochs trained={len(self.history)}, checkpoint={self.checkpoint})"

    def feedforward(self, images) -> torch.Tensor:
        """The output activations a, shape (N, 10): a' = sigma(w a + b) layer by layer (eq. 3-4, 22)."""
        with torch.no_grad():
            return self.module(_as_rows(images)[0])

    def classify(self, images) -> list[tuple[int, float, int, float]]:
        """(digit, confidence, runner-up, its activation) per image, as ``python -m nndigits.predict`` prints them.

        The confidence is the winning output neuron's activation sigma(z) in (0, 1);
        the ten outputs are separate sigmoid neurons and need not add up to 1.
        """
        return classify_rows(self.module, _as_rows(images)[0])

    def predict(self, images):
        """The network's digit -- its most active output neuron -- for each image.

        ``images``: an image file's path or a PIL image (a photo or scan, preprocessed
        like MNIST: cropped, scaled to 20x20, centred by mass in 28x28), or MNIST-style
        values (numpy or torch, 784 or 28x28 per image, white on black in [0, 1]), or a
        list of any of these.  One image gives an ``int``; several a tensor of digits.
        """
        x, single = _as_rows(images)
        digits = torch.tensor([row[0] for row in classify_rows(self.module, x)], dtype=torch.long)
        return int(digits[0]) if single else digits

    def evaluate(self, data: Data | tuple) -> int:
        """How many of ``data = (images, labels)`` the network classifies right, as the book's ``evaluate``."""
        images, labels = data
        return int((self.predict(images).reshape(-1) == torch.as_tensor(labels)).sum())

    def show_hidden(self, layer: int = 0):
        """What the hidden neurons look at: each one's 784 incoming weights as a 28x28 picture (a Figure)."""
        return figures.hidden_weights(self.module, layer)

    def show_mistakes(self, data: Data | tuple, limit: int = 24):
        """The first ``limit`` digits of ``data`` the network gets wrong, captioned "7 as 2" (a Figure)."""
        images, labels = data
        return figures.mistakes(images, labels, self.predict(images), limit)

    def show_confusion(self, data: Data | tuple):
        """The confusion matrix on ``data``: how often each digit was taken for each other digit (a Figure)."""
        images, labels = data
        return figures.confusion(labels, self.predict(images))


def check_fit(sizes, eta, m, epochs, seed, options: dict) -> tuple[list[int], float, int, int, int]:
    """What ``fit`` was given, checked once, here where it enters, against the bounds the flags of
    ``python -m nndigits.train`` use (``chapter.py``) and the memory the network needs: ``ValueError`` naming
    the first problem (``core.machine.NetworkTooLarge``, a ``ValueError``, for a network larger than memory)."""
    sizes = check_sizes(sizes)
    if sizes[0] != INPUTS or sizes[-1] != OUTPUTS:
        raise ValueError(f"sizes must start with {INPUTS} inputs and end with {OUTPUTS} outputs, got {sizes}")
    sizes = [INPUTS, *check_hidden(sizes[1:-1]), OUTPUTS]
    eta, m, epochs, seed = check_run(eta, m, epochs, seed)
    for name, allowed in (("engine", ENGINES), ("accelerator", ACCELERATORS)):
        if name in options and options[name] not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {options[name]!r}")
    check_network_fits(sizes, m)
    return sizes, eta, m, epochs, seed


def fit(
    sizes: Sequence[int] = SIZES,
    eta: float = ETA,
    m: int = M,
    epochs: int = EPOCHS,
    seed: int = SEED,
    *,
    logdir: str | os.PathLike | None = DEFAULT_LOGDIR,
    progress: bool = False,
    verbose: bool = True,
    say: Callable[[str], None] | None = None,
    **options: Any,
) -> tuple[Network, History]:
    """Train ``sizes`` by mini-batch stochastic gradient descent; return ``(net, history)``.

    The book's run by default: [784, 30, 10] sigmoid neurons, quadratic cost,
    learning rate ``eta`` = 3.0, mini-batches of ``m`` = 10, 30 epochs (eq. 20-21).
    Each epoch prints the book's ``Epoch j: k / 10000`` line (``verbose=False``
    keeps quiet; ``say`` receives the lines instead of ``print``).  It goes
    through ``learn.run.train_run`` -- the Trainer ``python -m nndigits.train``
    uses -- so ``logdir`` gets the same TensorBoard logs and checkpoint
    (``net.checkpoint``); ``logdir=None`` writes nothing.  ``progress`` shows
    Lightning's progress bar.  Interrupting (Ctrl-C, or the notebook's stop
    button) ends training after the current chunk and returns what was learned.
    Other keywords go to ``train_run`` as they are (``engine``, ``accelerator``,
    ``threads``, ``data_dir``, ``images``, ``callbacks``), so their defaults are the
    train command's: one place decides them.  Settings out of bounds (``epochs=0``, ``m`` larger than the
    training set, a network larger than memory) are a ``ValueError`` before any work (``check_fit``).
    """
    from .learn.run import train_run

    sizes, eta, m, epochs, seed = check_fit(sizes, eta, m, epochs, seed, options)
    result = train_run(
        sizes,
        eta=eta,
        m=m,
        epochs=epochs,
        seed=seed,
        logdir=logdir,
        progress=progress,
        say=(say or print) if verbose else None,
        **options,
    )
    if result.interrupted and verbose:
        done = len(result.history)
        (say or print)(f"interrupted after {done} epoch{'' if done == 1 else 's'}; returning the network as it is")
    net = Network(result.model.net.cpu(), result.history, result.checkpoint)  # type: ignore[attr-defined]
    return net, net.history


def load(checkpoint: str | os.PathLike) -> Network:
    """The network in a checkpoint written by ``fit`` or ``python -m nndigits.train``; ``CheckpointError`` if none."""
    return Network(load_network(checkpoint), checkpoint=Path(checkpoint))
