"""The NumPy reference (nndigits.core.scratch) against itself and against calculus.

It is the yardstick for the torch code, so it is checked independently: the
per-example and vectorised updates agree, backprop's gradient matches finite
differences of the quadratic cost, and a few steps of SGD learn.
"""

import subprocess
import sys

import numpy as np
import pytest

from nndigits.core.scratch import Network, sigmoid


def _data(rng, n, sizes):
    x = rng.random((n, sizes[0]))
    labels = rng.integers(0, sizes[-1], n)
    return x, np.eye(sizes[-1])[labels], labels


def test_does_not_import_torch():
    code = "import sys, nndigits.core.scratch; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_init_shapes_and_seed():
    net = Network([5, 4, 3], seed=1)
    assert [w.shape for w in net.weights] == [(4, 5), (3, 4)]
    assert [b.shape for b in net.biases] == [(4,), (3,)]
    again = Network([5, 4, 3], seed=1)
    for a, b in zip(net.weights + net.biases, again.weights + again.biases):
        np.testing.assert_array_equal(a, b)
    assert all(p.dtype == np.float64 for p in net.weights + net.biases)


def test_given_weights_are_copied_and_checked():
    w = [np.ones((2, 3), dtype=np.float32)]
    b = [np.zeros(2, dtype=np.float32)]
    net = Network([3, 2], weights=w, biases=b)
    net.update_mini_batch_vectorised(np.ones((1, 3)), np.zeros((1, 2)), 1.0)
    np.testing.assert_array_equal(w[0], 1.0)  # the caller's array is untouched
    assert net.weights[0].dtype == np.float64
    with pytest.raises(ValueError):
        Network([3, 2], weights=[np.ones((3, 2))], biases=b)


def test_feedforward_shape_and_values():
    net = Network([5, 4, 3], seed=0)
    x = np.random.default_rng(0).random((7, 5))
    a = net.feedforward(x)
    assert a.shape == (7, 3)
    expected = sigmoid(sigmoid(x @ net.weights[0].T + net.biases[0]) @ net.weights[1].T + net.biases[1])
    np.testing.assert_allclose(a, expected, rtol=0, atol=1e-15)
    assert np.all((a > 0) & (a < 1))


def test_sigmoid_saturates_without_nan():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    s = sigmoid(z)
    assert np.all(np.isfinite(s)) and s[0] == 0.0 and s[2] == 0.5 and s[-1] == 1.0


def test_evaluate_counts_argmax():
    net = Network([2, 3], weights=[np.zeros((3, 2))], biases=[np.array([0.0, 1.0, -1.0])])
    # every input gives output argmax 1
    x = np.zeros((4, 2))
    assert net.evaluate(x, np.array([1, 1, 0, 2])) == 2
    assert net.evaluate(x, np.array([1, 1, 1, 1])) == 4


@pytest.mark.parametrize("sizes", [[5, 4, 3], [6, 3], [4, 5, 3, 2]])
def test_per_example_and_vectorised_agree(sizes):
    rng = np.random.default_rng(42)
    a = Network(sizes, seed=3)
    b = Network(sizes, weights=a.weights, biases=a.biases)
    for step in range(20):
        x, y, _ = _data(rng, 10 if step % 4 else 7, sizes)  # also a short last mini-batch
        a.update_mini_batch(x, y, eta=3.0)
        b.update_mini_batch_vectorised(x, y, eta=3.0)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-12)
    assert max(np.abs(p - q).max() for p, q in zip(a.weights + a.biases, b.weights + b.biases)) < 1e-12


def test_backprop_matches_finite_differences():
    """dC_x/dw and dC_x/db from backprop equal central differences of C_x = ||y - a||^2 / 2."""
    rng = np.random.default_rng(7)
    net = Network([5, 4, 3], seed=11)
    x_all, y_all, _ = _data(rng, 4, net.sizes)
    h = 1e-6
    for x, y in zip(x_all, y_all):
        nabla_b, nabla_w = net.backprop(x, y)
        analytic = np.concatenate([g.ravel() for g in nabla_w + nabla_b])
        numeric = []
        for p in net.weights + net.biases:
            for i in np.ndindex(p.shape):
                old = p[i]
                p[i] = old + h
                plus = net.cost(x[None], y[None])  # m = 1: C = C_x
                p[i] = old - h
                minus = net.cost(x[None], y[None])
                p[i] = old
                numeric.append((plus - minus) / (2 * h))
        numeric = np.array(numeric)
        rel = np.linalg.norm(analytic - numeric) / max(np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-300)
        assert rel < 1e-6, rel
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_update_is_minus_eta_times_mean_gradient():
    """Eq. 20-21: the step is -(eta/m) times the SUM of per-example gradients."""
    rng = np.random.default_rng(5)
    net = Network([5, 4, 3], seed=2)
    x, y, _ = _data(rng, 6, net.sizes)
    grads = [net.backprop(xi, yi) for xi, yi in zip(x, y)]
    before_w = [w.copy() for w in net.weights]
    net.update_mini_batch_vectorised(x, y, eta=0.5)
    for l, w0 in enumerate(before_w):
        mean = sum(g[1][l] for g in grads) / len(x)
        np.testing.assert_allclose(net.weights[l], w0 - 0.5 * mean, rtol=0, atol=1e-14)


@pytest.mark.parametrize("vectorised", [True, False])
def test_sgd_learns_a_synthetic_task(vectorised):
    """Two well-separated Gaussian blobs per class: a few epochs lower the cost and classify them."""
    rng = np.random.default_rng(0)
    centres = rng.random((3, 8)) * 4 - 2
    labels = rng.integers(0, 3, 300)
    x = centres[labels] + 0.3 * rng.standard_normal((300, 8))
    y = np.eye(3)[labels]
    net = Network([8, 6, 3], seed=1)
    before = net.cost(x, y)
    seen = []
    results = net.SGD(
        x[:240],
        y[:240],
        epochs=10,
        m=10,
        eta=3.0,
        test=(x[240:], labels[240:]),
        vectorised=vectorised,
        callback=lambda e, c: seen.append((e, c)),
    )
    assert len(results) == 10 and seen == list(enumerate(results))
    assert net.cost(x, y) < before / 2
    assert results[-1] >= 55  # of 60


def test_sgd_uses_the_given_order():
    """With order(epoch) given, the run is exactly the sequence of update_mini_batch calls on those rows."""
    rng = np.random.default_rng(1)
    x, y, labels = _data(rng, 35, [5, 4, 3])
    orders = [rng.permutation(35) for _ in range(2)]
    a = Network([5, 4, 3], seed=0)
    b = Network([5, 4, 3], weights=a.weights, biases=a.biases)
    a.SGD(x, y, epochs=2, m=10, eta=1.0, order=lambda e: orders[e])
    for e in range(2):
        for k in range(0, 35, 10):  # 10, 10, 10, 5
            rows = orders[e][k : k + 10]
            b.update_mini_batch_vectorised(x[rows], y[rows], 1.0)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(p, q)
