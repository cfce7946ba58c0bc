"""Write tests/js/fixtures/step.json: steps of the NumPy reference (core/scratch.py) for step.test.mjs.

    python tests/js/step_fixture.py [PATH]      # default: tests/js/fixtures/step.json

The page's Step mode must show what its engine does and what the book's ``update_mini_batch`` does: the Node
test takes each case's weights and mini-batch, steps with step.js (sgd.js's sgdStep) and compares Delta w and
Delta b with the ones written here, to 1e-12.  Float64 arrays travel as base64 of their little-endian bytes
(exact); images as MNIST's own bytes, which both sides turn into float32(b / 255) as the trainer does.  A
[784, 3, 10] network keeps the file small; the arithmetic is the same at any size.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np

from nndigits.core.scratch import Network
from nndigits.learn.mnist import fetch_mnist

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "step.json"
SIZES = [784, 3, 10]
IMAGES = 30  # the first 30 training images: mini-batches are drawn from them


def f64(a) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode()


def mnist_bytes(n: int) -> tuple[np.ndarray, np.ndarray]:
    raw = fetch_mnist(verbose=False)  # the raw folder, verified
    images = np.fromfile(raw / "train-images-idx3-ubyte", dtype=np.uint8, offset=16, count=n * 784).reshape(n, 784)
    labels = np.fromfile(raw / "train-labels-idx1-ubyte", dtype=np.uint8, offset=8, count=n)
    return images, labels


def case(name: str, net: Network, batch: list[int], eta: float, x: np.ndarray, y: np.ndarray) -> dict:
    """One step of ``update_mini_batch`` (the book's loop over examples, eq. 20-21) from ``net``'s weights."""
    stepped = Network(net.sizes, net.weights, net.biases)
    stepped.update_mini_batch(x[batch], y[batch], eta)
    return {
        "name": name,
        "sizes": net.sizes,
        "eta": eta,
        "batch": batch,
        "weights": [f64(w) for w in net.weights],
        "biases": [f64(b) for b in net.biases],
        "deltaW": [f64(a - w) for a, w in zip(stepped.weights, net.weights)],
        "deltaB": [f64(a - b) for a, b in zip(stepped.biases, net.biases)],
        "costBefore": net.cost(x[batch], y[batch]),
        "costAfter": stepped.cost(x[batch], y[batch]),
    }


def build() -> dict:
    images, labels = mnist_bytes(IMAGES)
    x = (images.astype(np.float32) / np.float32(255)).astype(np.float64)  # the trainer's float32(b / 255)
    y = np.eye(10)[labels]
    fresh = Network(SIZES, seed=1)
    trained = Network(SIZES, fresh.weights, fresh.biases)
    for k in range(0, IMAGES, 10):  # a few epochs over the 30 images: weights no longer Gaussian
        for _ in range(5):
            trained.update_mini_batch(x[k : k + 10], y[k : k + 10], 3.0)
    return {
        "images": base64.b64encode(images.tobytes()).decode(),
        "labels": labels.tolist(),
        "cases": [
            case("fresh, m = 10, eta = 3", fresh, list(range(10)), 3.0, x, y),
            case("online, m = 1", fresh, [10], 3.0, x, y),
            case("trained, m = 7, eta = 30", trained, [3, 5, 8, 13, 21, 22, 29], 30.0, x, y),
        ],
    }


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else FIXTURE
    path.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
