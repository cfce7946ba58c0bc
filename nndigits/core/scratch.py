"""The chapter's network and mini-batch SGD from scratch, in NumPy (float64).

This is the reference the torch code is checked against, so it stays as close
to the book's ``network.py`` as it can: a list of weight matrices and bias
vectors, ``feedforward``, ``backprop`` for one example, and ``update_mini_batch``
summing the per-example gradients.  It imports NumPy only -- no torch, not even
through ``nndigits.network`` -- so a bug in torch, autograd or Lightning cannot
hide in both sides of a comparison.  Needing no torch also makes it the network ``predict``
and ``read`` answer with (``learn/checkpoints.load_numpy_network``): importing torch would
cost them seconds.

Two conventions differ from the book, to make comparing with torch easy:

* ``weights[l]`` has shape (out, in) and ``biases[l]`` shape (out,), like
  ``nn.Linear.weight`` / ``.bias`` (the book's biases are (out, 1) columns);
* inputs are batches of rows, x of shape (N, in), like torch.

Everything is float64, so that differences from torch (also run in float64)
measure disagreements in the algorithm, not rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def sigmoid(z):
    """sigma(z) = 1 / (1 + e^-z)  (eq. 3).  For z < -709, e^-z overflows to inf and sigma is exactly 0, as it should."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """sigma'(z) = sigma(z) (1 - sigma(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


class Network:
    """``Network([784, 30, 10])``: layers of sigmoid neurons, as in the book's ``network.py``.

    ``weights[l][j, k]`` is the weight from neuron k of layer l to neuron j of
    layer l+1; ``biases[l][j]`` the bias of that neuron j.  Unless given, every
    weight and bias is drawn from N(0, 1) with ``np.random.default_rng(seed)``;
    the same generator then shuffles the training data in ``SGD``.
    """

    def __init__(self, sizes: Sequence[int], weights=None, biases=None, seed: int | None = None):
        self.sizes = [int(s) for s in sizes]
        self.num_layers = len(self.sizes)
        self.rng = np.random.default_rng(seed)
        shapes = list(zip(self.sizes[1:], self.sizes[:-1]))  # (out, in) per layer
        if weights is None:
            weights = [self.rng.standard_normal((n_out, n_in)) for n_out, n_in in shapes]
        if biases is None:
            biases = [self.rng.standard_normal(n_out) for n_out, _ in shapes]
        # Copies, so training never writes into the caller's arrays (e.g. numpy views of torch tensors).
        self.weights = [np.array(w, dtype=np.float64) for w in weights]
        self.biases = [np.array(b, dtype=np.float64) for b in biases]
        if [w.shape for w in self.weights] != shapes or [b.shape for b in self.biases] != [(o,) for o, _ in shapes]:
            raise ValueError(
                f"weights/biases do not fit sizes {self.sizes}: got "
                f"{[w.shape for w in self.weights]} and {[b.shape for b in self.biases]}"
            )

    def feedforward(self, x):
        """Output activations for inputs x (N, in) -> (N, out): a' = sigma(w a + b), layer by layer (eq. 3-4)."""
        a = np.asarray(x, dtype=np.float64)
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(a @ w.T + b)
        return a

    def backprop(self, x, y):
        """The gradient of C_x = ||y - a||^2 / 2 for ONE example x (in,), y (out,): returns (nabla_b, nabla_w).

        As in the book: a forward pass keeping every z and activation, the output
        error delta = (a - y) * sigma'(z), then back through the layers,
        dC/db = delta, dC/dw = delta a_prev^T, delta_prev = (w^T delta) * sigma'(z_prev).
        """
        activation = np.asarray(x, dtype=np.float64)
        activations, zs = [activation], []
        for w, b in zip(self.weights, self.biases):
            z = w @ activation + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        nabla_b = [np.empty(0)] * len(self.biases)  # each layer's entry is set below
        nabla_w = [np.empty(0)] * len(self.weights)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.outer(delta, activations[-2])
        for l in range(2, self.num_layers):  # l = 2: the second-last layer, and so on (the book's indexing)
            delta = (self.weights[-l + 1].T @ delta) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta
            nabla_w[-l] = np.outer(delta, activations[-l - 1])
        return nabla_b, nabla_w

    @staticmethod
    def cost_derivative(output_activations, y):
        """dC_x/da = a - y for the quadratic cost."""
        return output_activations - y

    def update_mini_batch(self, x, y, eta: float) -> None:
        """One SGD step on the mini-batch (x, y), the book's way: loop over the m examples.

        w -> w - (eta/m) sum_x dC_x/dw,  b -> b - (eta/m) sum_x dC_x/db  (eq. 20-21):
        the average of the per-example gradients estimates the full gradient of C.
        """
        nabla_b = [np.zeros_like(b) for b in self.biases]
        nabla_w = [np.zeros_like(w) for w in self.weights]
        for xi, yi in zip(x, y):
            delta_nabla_b, delta_nabla_w = self.backprop(xi, yi)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        m = len(x)
        self.weights = [w - (eta / m) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / m) * nb for b, nb in zip(self.biases, nabla_b)]

    def update_mini_batch_vectorised(self, x, y, eta: float) -> None:
        """The same step as ``update_mini_batch``, with all m examples at once.

        Each example is a row, so delta is (m, out) and the sums over the
        mini-batch become matrix products: sum_x delta_x a_x^T = delta^T A and
        sum_x delta_x = delta summed over rows.  Same numbers up to rounding,
        many times faster (the "fully matrix-based approach" the book suggests in chapter 2).
        """
        x = np.asarray(x, dtype=np.float64)
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(activations[-1] @ w.T + b)
            activations.append(sigmoid(zs[-1]))
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b: list[np.ndarray] = [np.empty(0)] * len(self.biases)  # each layer's entry is set below
        nabla_w: list[np.ndarray] = [np.empty(0)] * len(self.weights)
        for l in range(1, self.num_layers):
            nabla_b[-l] = delta.sum(axis=0)
            nabla_w[-l] = delta.T @ activations[-l - 1]
            if l + 1 < self.num_layers:
                delta = (delta @ self.weights[-l]) * sigmoid_prime(zs[-l - 1])  # before w is updated
        m = len(x)
        self.weights = [w - (eta / m) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / m) * nb for b, nb in zip(self.biases, nabla_b)]

    def cost(self, x, y) -> float:
        """The quadratic cost C = 1/(2m) sum_x ||y(x) - a(x)||^2 over the m examples given (eq. 6)."""
        a = self.feedforward(x)
        return float(np.sum((np.asarray(y, dtype=np.float64) - a) ** 2) / (2 * len(a)))

    def evaluate(self, x, labels) -> int:
        """How many inputs the network classifies right; its answer is the most active output neuron."""
        return int(np.sum(np.argmax(self.feedforward(x), axis=1) == np.asarray(labels)))

    def SGD(
        self,
        x_train,
        y_train,
        epochs: int,
        m: int,
        eta: float,
        test=None,
        order: Callable[[int], np.ndarray] | None = None,
        vectorised: bool = True,
        callback: Callable[[int, int | None], None] | None = None,
    ) -> list:
        """Train by mini-batch stochastic gradient descent; return the test-set correct count after each epoch.

        Each epoch visits the training set in a new random order, cut into
        mini-batches of m (the last may be smaller), one update per mini-batch
        (eq. 20-21).  The order is ``order(epoch)`` (an index array) if given --
        so that the torch runs' exact order can be replayed -- else a permutation
        from this network's generator.  ``test = (x, labels)`` is evaluated after
        every epoch (None if not given); ``callback(epoch, correct)`` is called
        after each.  ``y_train`` holds one-hot desired outputs.
        """
        x_train = np.asarray(x_train, dtype=np.float64)
        y_train = np.asarray(y_train, dtype=np.float64)
        n = len(x_train)
        step = self.update_mini_batch_vectorised if vectorised else self.update_mini_batch
        results = []
        for epoch in range(epochs):
            index = np.asarray(order(epoch)) if order is not None else self.rng.permutation(n)
            for k in range(0, len(index), m):
                batch = index[k : k + m]
                step(x_train[batch], y_train[batch], eta)
            correct = self.evaluate(*test) if test is not None else None
            results.append(correct)
            if callback is not None:
                callback(epoch, correct)
        return results
