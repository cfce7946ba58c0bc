"""Write notebooks/chapter1.ipynb (the chapter, in its order, on the nndigits API) and execute it in place.

    .venv/bin/python notebooks/make_chapter1.py            # write and execute (outputs of a real run)
    .venv/bin/python notebooks/make_chapter1.py --no-run   # write only, no outputs

The notebook is generated so that it can be regenerated: edit the cells here,
not in Jupyter.  Execution uses nbclient with the real ipykernel, the kernel
started in notebooks/ with this checkout on PYTHONPATH (as the test does).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "chapter1.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        r"""# Chapter 1: Using neural nets to recognize handwritten digits

A companion to chapter 1 of Michael Nielsen's *Neural Networks and Deep Learning*, run on **nndigits**:
the chapter's perceptrons, sigmoid neurons, the [784, 30, 10] network, the quadratic cost and mini-batch
stochastic gradient descent on MNIST, in PyTorch Lightning.  The sections follow the chapter's order, and
the equation numbers are the chapter's.

Run all cells: on a laptop CPU it takes a minute or two, since the network trains for `EPOCHS = 3` epochs;
raise it to 30 for the book's full run (about 30 s more per 10 epochs).""",
    ),
    (
        "code",
        """%matplotlib inline
from itertools import product

import matplotlib.pyplot as plt
import torch

import nndigits
from nndigits.core import scratch
from nndigits.studies import descent, layered, nand_universality, neurons

EPOCHS = 3  # the book trains for 30; raise this to see the rest of the run""",
    ),
    (
        "md",
        r"""## Perceptrons

A perceptron weighs up evidence: it outputs 1 when the weighted sum of its binary inputs beats a threshold,

$$\text{output} = \begin{cases}
0 & \text{if } \sum_j w_j x_j \le \text{threshold} \\
1 & \text{if } \sum_j w_j x_j > \text{threshold}
\end{cases} \qquad (1)$$

**The cheese festival.**  The inputs are: is the weather good ($x_1$), does your partner come ($x_2$), is
the festival near public transit ($x_3$); the weights are $w_1 = 6$, $w_2 = w_3 = 2$.  With threshold 5
you go exactly when the weather is good; lowering the threshold to 3 makes you more willing to go.""",
    ),
    (
        "code",
        """weather_partner_transit = torch.tensor(list(product([0, 1], repeat=3)), dtype=torch.float32)
for threshold in (5, 3):
    go = neurons.cheese_festival(threshold)(weather_partner_transit)
    days = [tuple(x.int().tolist()) for x, g in zip(weather_partner_transit, go) if g]
    print(f"threshold {threshold}: go on", days)""",
    ),
    (
        "md",
        r"""With the bias $b \equiv -\text{threshold}$ the rule becomes: output 1 if $w \cdot x + b > 0$,
else 0 (eq. 2).

**NAND and the adder.**  A perceptron with weights $-2, -2$ and bias 3 is a NAND gate: $00 \to 3 > 0$, so 1,
but $11 \to -1$, so 0.  NAND is universal for computation, so networks of perceptrons can compute anything;
the chapter's example adds two bits with five NAND perceptrons (the carry bit reads the first gate twice).""",
    ),
    (
        "code",
        """bits = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
print("NAND:", neurons.nand()(bits).int().tolist())
adder = neurons.half_adder()
print(adder.describe())
total, carry = adder(bits)
for (x1, x2), s, c in zip(bits.int().tolist(), total.int().tolist(), carry.int().tolist()):
    print(f"{x1} + {x2} = {c}{s} (binary)")""",
    ),
    (
        "md",
        r"""Any Boolean function, built from NAND perceptrons only -- here the parity of three bits:""",
    ),
    (
        "code",
        """parity = nand_universality.nand_network(lambda a, b, c: a ^ b ^ c, 3)
x3 = torch.tensor(list(product([0, 1], repeat=3)), dtype=torch.float32)
print(parity.n_gates, "NAND gates; outputs", parity(x3).int().tolist())""",
    ),
    (
        "md",
        r"""## Sigmoid neurons

A small change in a perceptron's weights can flip its output completely, so there is no gradual way to learn.
A sigmoid neuron has the same weights and bias but outputs $\sigma(w \cdot x + b)$ with

$$\sigma(z) \equiv \frac{1}{1 + e^{-z}} \qquad (3)$$

so that small changes in the weights and bias make small, nearly linear changes in the output (eq. 5).
Scaling every weight and bias by $c > 0$ changes no perceptron, but sharpens every sigmoid neuron:
$\sigma(c z) \to$ the step function as $c \to \infty$ (the exercise after eq. 5).""",
    ),
    (
        "code",
        """z = torch.linspace(-6, 6, 601)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(z, (z > 0).float(), "k", lw=1, label="step (perceptron)")
for c in (1, 3, 10):
    ax.plot(z, torch.sigmoid(c * z), label=f"σ({c}·z)")
ax.set(xlabel="z = w·x + b", ylabel="output")
ax.legend();""",
    ),
    (
        "md",
        r"""The exercise in numbers: a random network of perceptrons, the same weights in sigmoid neurons,
all scaled by $c$.
The gap shrinks to 0 as $c$ grows (as long as no neuron has $w \cdot x + b = 0$ exactly).""",
    ),
    (
        "code",
        """perceptron_net = layered.PerceptronNetwork.random([3, 4, 2], generator=torch.Generator().manual_seed(2))
inputs = torch.tensor(list(product([0, 1], repeat=3)), dtype=torch.float64)
for c in (1, 10, 100, 1000):
    gap = (perceptron_net.as_sigmoid().scaled(c)(inputs) - perceptron_net(inputs)).abs().max().item()
    print(f"c = {c:4}: largest difference from the perceptrons {gap:.1e}")""",
    ),
    (
        "md",
        r"""## The architecture of neural networks

Our network has three layers of neurons: 784 input neurons (one per pixel of a 28x28 image, 0 white ... 1 black
in the book; here, as MNIST stores them, 0 for the paper and 1 for the ink), a hidden layer of 30 sigmoid
neurons and 10 output neurons, one per digit.  It is a *feedforward* network: each layer's outputs are the
next layer's inputs, $a' = \sigma(w a + b)$ (eq. 22).  The network's answer is the most active output neuron.
Every weight and bias starts as a draw from a standard Gaussian, as in the book.""",
    ),
    (
        "code",
        """from nndigits.learn.network import SigmoidNetwork

untrained = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(1))
print(untrained)
print(sum(p.numel() for p in untrained.parameters()), "weights and biases")""",
    ),
    (
        "md",
        r"""## A simple network to classify handwritten digits: MNIST and the book's split

MNIST has 60,000 training images and 10,000 test images.  The book keeps the first 50,000 training images for
training and sets the other 10,000 aside as a *validation set*; the test set is MNIST's 10,000 test images.
`nndigits.mnist()` returns that split as tensors (fetched once, checked by SHA-256).""",
    ),
    (
        "code",
        """training, validation, test = nndigits.mnist()
for name, part in zip(("training", "validation", "test"), (training, validation, test)):
    print(f"{name:10}: images {tuple(part.images.shape)}, labels {tuple(part.labels.shape)}")""",
    ),
    (
        "code",
        """fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for ax, image, label in zip(axes, training.images, training.labels):
    ax.imshow(image.reshape(28, 28), cmap="gray")
    ax.set_title(int(label))
    ax.set_axis_off()""",
    ),
    (
        "md",
        r"""## Learning with gradient descent

### The quadratic cost

The desired output $y(x)$ for a digit is a 10-vector with a 1 at that digit.  The network learns by making
the *quadratic cost* (mean squared error) small:

$$C(w, b) \equiv \frac{1}{2n} \sum_x \lVert y(x) - a \rVert^2 \qquad (6)$$

PyTorch's `nn.MSELoss()` is not this cost: it averages over all $10n$ numbers,
$\frac{1}{10n}\sum_x \lVert y(x) - a\rVert^2$, which is $C$ times $2/10$.  Its gradient is 5 times smaller,
so with it the book's $\eta = 3$ would silently be $\eta = 0.6$.  nndigits uses the book's cost (`quadratic_cost`).""",
    ),
    (
        "code",
        """from nndigits.learn.network import one_hot, quadratic_cost

x, y = training.images[:1000], one_hot(training.labels[:1000])
a = untrained(x)
book, mse = quadratic_cost(a, y), torch.nn.MSELoss()(a, y)
print(f"C (eq. 6) = {book:.4f}, MSELoss = {mse:.4f}, ratio {mse / book:.2f}")""",
    ),
    (
        "md",
        r"""### Gradient descent: the ball rolling down the valley

For a small move $\Delta v$ the cost changes by $\Delta C \approx \nabla C \cdot \Delta v$ (eq. 9).  Choosing
$\Delta v = -\eta \nabla C$ (eq. 10) makes $\Delta C \approx -\eta \lVert\nabla C\rVert^2 \le 0$, so the ball moves by
$v \to v' = v - \eta \nabla C$ (eq. 11) -- exactly one step of `torch.optim.SGD(lr=eta)`.  First, eq. 9 itself:
its error falls like $\lVert\Delta v\rVert^2$, a quarter each time the step halves.""",
    ),
    (
        "code",
        """v = torch.tensor([1.5, 1.0])
for row in descent.first_order_check(descent.bowl, v, torch.tensor([-0.6, -0.8]), [0.4, 0.2, 0.1, 0.05]):
    print(f"|Δv| = {row['norm_dv']:.2f}: ΔC = {row['actual']:+.5f}, ∇C·Δv = {row['predicted']:+.5f}, "
          f"error {row['error']:.5f}")""",
    ),
    (
        "md",
        r"""The learning rate $\eta$ must be small enough for eq. 9 to hold.  On the bowl $C = v_1^2 + 2 v_2^2$ the
ball converges for $\eta < 0.5$ and, beyond that, overshoots further at every step.""",
    ),
    (
        "code",
        """g1, g2 = torch.meshgrid(torch.linspace(-2, 2, 101), torch.linspace(-1.5, 1.5, 101), indexing="xy")
fig, ax = plt.subplots(figsize=(6, 4))
ax.contour(g1, g2, descent.bowl(torch.stack([g1, g2], -1)), levels=15, cmap="Greys")
for eta in (0.05, 0.2, 0.45, 0.52):
    path = descent.descend(descent.bowl, [1.8, 1.2], eta, steps=12)
    ax.plot(path[:, 0], path[:, 1], "o-", ms=3, label=f"η = {eta}")
ax.set(xlim=(-2, 2), ylim=(-1.5, 1.5), xlabel="$v_1$", ylabel="$v_2$")
ax.legend(loc="lower left");""",
    ),
    (
        "md",
        r"""### Stochastic gradient descent and mini-batches

$\nabla C = \frac{1}{n}\sum_x \nabla C_x$ needs every training input for one step.  Stochastic gradient descent
estimates it from a mini-batch of $m$ random inputs, $\nabla C \approx \frac{1}{m}\sum_{j=1}^m \nabla C_{X_j}$
(eq. 18-19), and updates $w_k \to w_k - \frac{\eta}{m}\sum_j \partial C_{X_j}/\partial w_k$,
$b_l \to b_l - \frac{\eta}{m}\sum_j \partial C_{X_j}/\partial b_l$ (eq. 20-21).
How good is the estimate?  Its direction (the cosine with the full gradient) for the untrained network:""",
    ),
    (
        "code",
        """x, y = training.images[:10_000], one_hot(training.labels[:10_000])
full = descent.flat_gradient(untrained, x, y)
for m in (1, 10, 100, 1000):
    stats = descent.minibatch_gradient_stats(untrained, x, y, m, 20, torch.Generator().manual_seed(m), full)
    print(f"m = {m:4}: cosine with the full gradient {stats['cosine']:.2f}, "
          f"relative error {stats['rel_error']:.2f}")""",
    ),
    (
        "md",
        r"""### One step on the real network

`nndigits.api.one_step` takes one step of eq. 20-21 on the untrained network -- the first mini-batch of
$m = 10$ that a run with seed 1 visits, $\eta = 3$ -- and returns everything it did: each example's ten
outputs beside $y(x)$ and $C_x = \frac{1}{2}\lVert y(x) - a\rVert^2$, the mini-batch's cost before and after,
every $\Delta w$ and $\Delta b$, and the accuracy on 1,000 test digits.  It also walks along the step's
direction, $w - t\,\eta\nabla C$ for $t \in [0, 2]$, beside eq. 9's straight line
$\Delta C \approx -t\,\eta\lVert\nabla C\rVert^2$: $t = 1$ is the step taken.  The hidden neurons' $\Delta w$
as 28x28 pictures show the mini-batch's digits: only pixels with ink move a weight
($\partial C / \partial w = \delta\, x$).  With $\eta = 30$ the same step goes ten times as far: eq. 9
promises a cost below zero, which the quadratic cost cannot reach, and the mini-batch's gain is the test
digits' loss.""",
    ),
    (
        "code",
        """from nndigits.api import one_step

step = one_step(untrained, eta=3.0, m=10, seed=1)
print("labels:", step.labels.tolist(), " C_x:", step.costs.round(2).tolist())
print(f"mini-batch cost {step.cost_before:.4f} -> {step.cost_after:.4f}; "
      f"accuracy on 1,000 test digits {step.accuracy_before:.1%} -> {step.accuracy_after:.1%}")
for eta in (30.0, 300.0):
    big = one_step(untrained, eta=eta, m=10, seed=1)
    print(f"eta = {eta:g}: mini-batch cost {big.cost_before:.4f} -> {big.cost_after:.4f} "
          f"(eq. 9 predicted {big.cost_before - eta * big.gradient_norm2:.4f}), "
          f"accuracy {big.accuracy_after:.1%}")

c = step.curve
fig = plt.figure(figsize=(10, 3.6))
fig.subplots_adjust(bottom=0.15)
ax = fig.add_subplot(1, 2, 1)
ax.plot(c.t, c.batch - c.batch[0], label=r"mini-batch: $C(w - t\\eta\\nabla C) - C(w)$")
ax.plot(c.t, c.predicted, "--", label=r"eq. 9: $-t\\eta\\|\\nabla C\\|^2$")
ax.plot(c.t, c.sample - c.sample[0], label="1,000 training images")
ax.axvline(1.0, color="grey", lw=0.8)
ax.set(xlabel="t (t = 1: the step with η = 3)", ylabel="change in cost", title="Eq. 9 along the step")
ax.legend(fontsize=8)
limit = abs(step.hidden_pictures).max()
for k in range(8):
    pic = fig.add_subplot(2, 8, 5 + (k // 4) * 8 + k % 4)
    pic.imshow(step.hidden_pictures[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
    pic.set_title(f"Δb {step.delta_b[0][k]:+.3f}", fontsize=7)
    pic.set_axis_off()""",
    ),
    (
        "md",
        r"""## Implementing our network to classify digits

The book's run: [784, 30, 10], mini-batches of $m = 10$, learning rate $\eta = 3.0$.  `nndigits.fit` trains it
through the same Lightning Trainer as `python -m nndigits.train` and prints the book's line after every epoch,
`Epoch j: k / 10000` -- test images classified right -- with the validation accuracy and the costs.
`logdir=None` writes nothing; `logdir="runs"` keeps TensorBoard logs and a checkpoint (`nndigits.load`).""",
    ),
    (
        "code",
        """net, history = nndigits.fit(sizes=[784, 30, 10], eta=3.0, m=10, epochs=EPOCHS, seed=1, logdir=None)""",
    ),
    (
        "code",
        """history.plot()""",
    ),
    (
        "md",
        r"""The book's run reaches "about 95 percent -- 95.42 percent at its peak" after 30 epochs; a few epochs already
get most of the way.  `net.predict` takes MNIST tensors, arrays, image files or PIL images; `net.classify` also says
how active the winning output neuron is.""",
    ),
    (
        "code",
        """print("predicted:", net.predict(test.images[:12]).tolist())
print("labels:   ", test.labels[:12].tolist())
print("right on the test set:", net.evaluate(test), "/", len(test.labels))""",
    ),
    (
        "md",
        r"""## What it gets wrong, and what the hidden neurons look at

Some mistakes are digits a person would hesitate over; others are plain errors.""",
    ),
    ("code", """net.show_mistakes(test, limit=16)"""),
    ("md", r"""Which digits are taken for which: rows are the true digit, columns the network's answer."""),
    ("code", """net.show_confusion(test)"""),
    (
        "md",
        r"""Each hidden neuron weighs the 784 pixels; its weights as a 28x28 picture show what it responds to
(red pixels push its weighted input $z = w \cdot x + b$ up, blue down).  The chapter imagines hidden neurons
that detect parts of digits.  What we see is less tidy: stroke-like blobs in the middle, noise around them.
The noise is the Gaussian starting weights of pixels near the border, which are 0 in (almost) every MNIST
image: their gradient $\partial C / \partial w = \delta \, x$ is then 0, so SGD never moves those weights.""",
    ),
    ("code", """net.show_hidden()"""),
    (
        "md",
        r"""## From scratch: the same steps in NumPy

`nndigits.core.scratch` is the book's `network.py` in NumPy, one example at a time in `backprop`.  Start it
from the same weights as a torch network and take the same 20 mini-batch steps (eq. 20-21) with both: in
float64 they agree to rounding, so the PyTorch code is the book's algorithm.""",
    ),
    (
        "code",
        """from nndigits.learn.datamodule import Rows
from nndigits.learn.engines import make_engine

torch_net = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(7)).double()
numpy_net = scratch.Network(
    [784, 30, 10],
    weights=[layer.weight.detach().numpy() for layer in torch_net.layers],
    biases=[layer.bias.detach().numpy() for layer in torch_net.layers],
)
x, y = training.images[:200].double(), one_hot(training.labels[:200], 10, torch.float64)
backprop = make_engine("backprop", torch_net, eta=3.0, m=10)  # the reference step, eq. 20-21 written out
for k in range(0, 200, 10):
    backprop.steps(Rows(x[k : k + 10], y[k : k + 10]))
    numpy_net.update_mini_batch(x[k : k + 10].numpy(), y[k : k + 10].numpy(), 3.0)
gap = max(abs(layer.weight.detach().numpy() - w).max() for layer, w in zip(torch_net.layers, numpy_net.weights))
print(f"after 20 mini-batches: largest difference in a weight {gap:.1e}")""",
    ),
    (
        "md",
        r"""## Next

* Raise `EPOCHS` to 30 (top of the notebook) and run all cells again: the book's full run.
* From a shell: `python -m nndigits.train` (the same run, with TensorBoard logs and a checkpoint),
  `python -m nndigits.predict my_digit.png`, and `tensorboard --logdir runs`.
* In Python: `nndigits.fit(..., logdir="runs")`, then `nndigits.load(net.checkpoint).predict("my_digit.png")`.""",
    ),
]


def build() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in CELLS]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 600) -> nbformat.NotebookNode:
    """Run every cell in a fresh ipykernel started in notebooks/, this checkout first on the path."""
    from nbclient import NotebookClient

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}})
    client.execute(env=env)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="write the notebook without executing it")
    args = parser.parse_args(argv)
    nb = build()
    if not args.no_run:
        wall = time.perf_counter()
        execute(nb)
        print(f"executed in {time.perf_counter() - wall:.1f} s wall-clock")
    nbformat.write(nb, NOTEBOOK)
    print(f"wrote {NOTEBOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
