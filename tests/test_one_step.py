"""``studies.one_step``: what the step view shows is what the training engine does (eq. 9, 20-21).

Delta w and Delta b of ``one_step`` (autograd on the quadratic cost) must equal one step of the
backprop engine from the same weights on the same mini-batch, in float64, to 1e-12; the eq. 9 curve's
slope at t = 0 must be -eta ||grad C||^2; online learning (m = 1) and trained networks work too.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nndigits.chapter import TRAIN_SIZE
from nndigits.learn.datamodule import EpochOrder
from nndigits.learn.engines import backprop_steps as engine_steps  # the training engine's reference step
from nndigits.learn.network import SigmoidNetwork, one_hot
from nndigits.studies.one_step import SAMPLE, TEST_DIGITS, minibatch, one_step

JS = Path(__file__).resolve().parent / "js"


@pytest.fixture(scope="module")
def training(mnist_train):
    x, labels = mnist_train
    return x[:TRAIN_SIZE].double(), labels[:TRAIN_SIZE]


def engine_step(net: SigmoidNetwork, x: torch.Tensor, labels: torch.Tensor, eta: float) -> list[torch.Tensor]:
    """One step of the training engine on a float64 copy of ``net``: the change of every weight and bias."""
    net64 = copy.deepcopy(net).double()
    before = [p.detach().clone() for p in net64.parameters()]
    y = one_hot(labels, 10, torch.float64)
    engine_steps(net64.layers, [x], [y], eta, [torch.empty_like(y)])
    return [p.detach() - b for p, b in zip(net64.parameters(), before)]


def assert_same_step(step, net, training, eta):
    x, labels = training
    index = torch.from_numpy(step.indices)
    expected = engine_step(net, x[index], labels[index], eta)
    got = [d for pair in zip(step.delta_w, step.delta_b) for d in pair]  # parameters() order: w0, b0, w1, b1
    assert [g.shape for g in got] == [tuple(e.shape) for e in expected]
    for g, e in zip(got, expected):
        assert e.abs().max() > 0  # the step moved something
        np.testing.assert_allclose(g, e.numpy(), rtol=0, atol=1e-12)
    after = list(step.after.parameters())  # and the network it hands on is the engine's after the step
    for p, e, b in zip(after, expected, copy.deepcopy(net).double().parameters()):
        np.testing.assert_allclose(p.detach().numpy(), (b.detach() + e).numpy(), rtol=0, atol=1e-12)


def fresh(seed: int = 1) -> SigmoidNetwork:
    return SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(seed))


def test_fresh_step_is_the_engines_step(training):
    step = one_step(1, eta=3.0, m=10)
    assert_same_step(step, fresh(1), training, 3.0)
    # the mini-batch is the trainer's first of epoch 0 for seed 1
    order = EpochOrder(TRAIN_SIZE, 10, 1, 1).order(0)
    assert step.indices.tolist() == order[:10].tolist()
    assert step.labels.tolist() == training[1][order[:10]].tolist()
    assert step.images.shape == (10, 784) and step.outputs.shape == (10, 10)
    assert step.hidden_pictures.shape == (30, 28, 28)
    assert np.array_equal(step.hidden_pictures[3].reshape(-1), step.delta_w[0][3])


def test_costs_are_eq6(training):
    step = one_step(2, eta=3.0, m=10, batch=5)
    assert step.indices.tolist() == minibatch(10, 0, 5, 2).tolist()
    a, y = step.outputs, step.desired
    assert (y.argmax(1) == step.labels).all() and (y.sum(1) == 1).all()
    np.testing.assert_allclose(step.costs, 0.5 * ((y - a) ** 2).sum(1), rtol=1e-14)
    assert step.cost_before == pytest.approx(step.costs.mean(), rel=1e-14)  # C = (1/m) sum C_x (eq. 6)
    with torch.no_grad():
        a_after = step.after(torch.from_numpy(step.images)).numpy()
    assert step.cost_after == pytest.approx(0.5 * ((y - a_after) ** 2).sum(1).mean(), rel=1e-14)
    assert step.curve.batch[0] == pytest.approx(step.cost_before, rel=1e-14)
    t1 = int(np.argmin(abs(step.curve.t - 1.0)))
    assert step.curve.t[t1] == 1.0 and step.curve.batch[t1] == pytest.approx(step.cost_after, rel=1e-12)


def test_accuracy_after_the_step_is_on_the_fixed_test_digits(mnist_test):
    step = one_step(1, eta=3.0, m=10)
    x, labels = mnist_test
    with torch.no_grad():
        right = (step.after(x[:TEST_DIGITS].double()).argmax(1) == labels[:TEST_DIGITS]).sum()
    assert step.accuracy_after == int(right) / TEST_DIGITS


@pytest.mark.parametrize("eta", [3.0, 30.0])
def test_eq9_slope_at_zero(eta):
    """The curve's slope at t = 0, by central differences (error O(h^2)), is eq. 9's -eta ||grad C||^2."""
    h = 1e-4
    step = one_step(1, eta=eta, m=10, t=[-h, 0.0, h])
    batch = step.curve.batch
    slope = (batch[2] - batch[0]) / (2 * h)
    expected = -eta * step.gradient_norm2
    assert step.curve.predicted.tolist() == pytest.approx([h * eta * step.gradient_norm2, 0, expected * h])
    assert slope == pytest.approx(expected, rel=1e-6)
    sample = step.curve.sample
    assert (sample[2] - sample[0]) / (2 * h) == pytest.approx(step.curve.sample_predicted[2] / h, rel=1e-6)


def test_eq9_curve_eta3_against_eta30():
    """The default curve t in [0, 2]: at eta = 3 the first-order line is close near t = 0; stepping 10x as far
    along the same direction (eta = 30, t = 1) no longer follows it."""
    step = one_step(1, eta=3.0, m=10)
    c = step.curve
    assert c.t[0] == 0 and c.t[-1] == 2 and len(c.t) == len(c.batch) == len(c.sample) == len(c.predicted)
    change = c.batch - c.batch[0]
    assert change[1] == pytest.approx(c.predicted[1], rel=0.1)  # small t: eq. 9 holds
    far = one_step(1, eta=30.0, m=10, t=[0.0, 1.0])
    assert abs((far.curve.batch[1] - far.curve.batch[0]) - far.curve.predicted[1]) > 10 * abs(
        change[1] - c.predicted[1]
    )
    assert len(step.curve.sample) == len(c.t) and SAMPLE == 1000


def test_online_learning_m1(training):
    step = one_step(3, eta=3.0, m=1)
    assert step.m == 1 and step.images.shape == (1, 784)
    assert_same_step(step, fresh(3), training, 3.0)
    assert step.cost_after < step.cost_before


def test_given_indices_and_a_trained_network(training):
    """A network trained for 300 mini-batches by the engine itself, then stepped on chosen images."""
    net = fresh(4).double()
    x, labels = training
    order = EpochOrder(TRAIN_SIZE, 10, 1, 4).order(0)[:3000]
    xs = [x[order[k : k + 10]] for k in range(0, 3000, 10)]
    ys = [one_hot(labels[order[k : k + 10]], 10, torch.float64) for k in range(0, 3000, 10)]
    engine_steps(net.layers, xs, ys, 3.0, [torch.empty_like(y) for y in ys])
    step = one_step(net, eta=3.0, indices=[7, 70, 700, 7000, 49_999])
    assert step.indices.tolist() == [7, 70, 700, 7000, 49_999]
    assert step.accuracy_before > 0.5  # it has learnt something
    assert_same_step(step, net, training, 3.0)
    assert next(net.parameters()).dtype == torch.float64 and not torch.equal(
        step.after.layers[0].weight, net.layers[0].weight
    )  # net itself is untouched


def test_api_network_and_checkpoint(book_run, training):
    """Trained by the real training run: from its checkpoint's path and as the API's Network."""
    import nndigits.api as api

    net = api.load(book_run.checkpoint)
    step = api.one_step(book_run.checkpoint, m=10, batch=3)
    assert step.accuracy_before > 0.85
    assert_same_step(step, net.module, training, 3.0)
    again = api.one_step(net, m=10, batch=3)
    assert [np.array_equal(a, b) for a, b in zip(again.delta_w, step.delta_w)] == [True, True]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eta": 0}, "eta must be greater than 0"),
        ({"m": 0}, "m must be at least 1"),
        ({"batch": 5000}, "there is no batch 5000"),
        ({"indices": [50_000]}, "indices must name"),
        ({"indices": []}, "indices must name"),
    ],
)
def test_bad_input_is_a_one_line_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        one_step(1, **kwargs)


def test_not_a_network():
    with pytest.raises(TypeError, match="a seed, a network or a checkpoint"):
        one_step(object())


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="no node (apt-get install nodejs)")
def test_page_step_is_the_numpy_reference_step(tmp_path):
    """The fixture of tests/js/step.test.mjs is what step_fixture.py writes now (NumPy's scratch.py steps), and the
    page's step.js makes the same Delta w and Delta b from it (node --test, to 1e-12)."""
    fixture = tmp_path / "step.json"
    here = dict(os.environ, PYTHONPATH=str(JS.parent.parent))  # this checkout's nndigits
    run = subprocess.run(
        [sys.executable, str(JS / "step_fixture.py"), str(fixture)], capture_output=True, text=True, env=here
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(fixture.read_text()) == json.loads((JS / "fixtures" / "step.json").read_text()), (
        "tests/js/fixtures/step.json is out of date: run tests/js/step_fixture.py"
    )
    env = dict(os.environ, STEP_FIXTURE=str(fixture))
    node = subprocess.run([NODE, "--test", str(JS / "step.test.mjs")], capture_output=True, text=True, env=env)
    assert node.returncode == 0, node.stdout[-3000:]
    assert re.search(r"^# pass 7$", node.stdout, re.M) and "# fail 0" in node.stdout
