"""Gradient descent's claims (eq. 9-21), checked on nndigits.descent."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nndigits.learn.network import SigmoidNetwork, one_hot
from nndigits.studies import descent


def bowl_gradient(v):
    return torch.stack([2 * v[0], 4 * v[1]])


def valley_gradient(v):
    a, b = v[0], v[1]
    return torch.stack([-2 * (1 - a) - 40 * a * (b - a * a), 20 * (b - a * a)])


@pytest.mark.parametrize("cost, grad", [(descent.bowl, bowl_gradient), (descent.valley, valley_gradient)])
@pytest.mark.parametrize("eta", [0.001, 0.01, 0.3])
def test_descend_is_one_sgd_step_and_the_explicit_rule(cost, grad, eta):
    v0 = torch.tensor([-1.3, 0.7], dtype=torch.float64)
    path = descent.descend(cost, v0, eta, steps=5)
    assert path.shape == (6, 2) and path.dtype == torch.float64
    assert torch.equal(path[0], v0)
    # eq. 11, written out by hand with the analytic gradient
    v = v0.clone()
    for k in range(1, 6):
        v = v - eta * grad(v)
        torch.testing.assert_close(path[k], v, rtol=1e-12, atol=1e-12)
    # and one step of an independent torch.optim.SGD
    p = nn.Parameter(v0.clone())
    opt = torch.optim.SGD([p], lr=eta)
    cost(p).backward()
    opt.step()
    torch.testing.assert_close(path[1], p.detach(), rtol=0, atol=0)


def test_bowl_converges_below_two_over_lambda_max_and_diverges_above():
    lam = descent.hessian_eigenvalues(descent.bowl, torch.zeros(2))
    torch.testing.assert_close(lam, torch.tensor([2.0, 4.0], dtype=torch.float64))
    critical = 2 / lam.max().item()
    assert critical == pytest.approx(0.5)
    v0 = [-2.0, 1.5]
    for eta in (0.05, 0.2, 0.9 * critical):
        path = descent.descend(descent.bowl, v0, eta, steps=300)
        assert descent.bowl(path[-1]).item() < 1e-8, eta
    for eta in (1.05 * critical, 1.5 * critical):
        path = descent.descend(descent.bowl, v0, eta, steps=100)
        c = descent.bowl(path)
        assert c[-1] > 1e3 * c[0], eta
        assert (torch.diff(c[10:]) > 0).all()  # overshoots further every step
    # exactly at the edge v2 flips sign forever without shrinking
    path = descent.descend(descent.bowl, [0.0, 1.0], critical, steps=10)
    torch.testing.assert_close(path[:, 1].abs(), torch.ones(11, dtype=torch.float64))


def book_net_cost(rows=100):
    from nndigits.learn.mnist import load_split

    x, labels = load_split(train=True)
    net = SigmoidNetwork(generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return descent.network_cost_fn(net, x[:rows].double(), one_hot(labels[:rows], dtype=torch.float64))


@pytest.fixture(scope="module")
def network_cost():
    return book_net_cost()


def _error_ratios(cost, v, seed):
    direction = torch.randn(v.numel(), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    direction /= direction.norm()
    rows = descent.first_order_check(cost, v, direction, [1e-2 * 2.0**-k for k in range(6)])
    return [a["error"] / b["error"] for a, b in zip(rows, rows[1:])], rows


@pytest.mark.parametrize("name", ["bowl", "valley", "network"])
def test_eq9_error_is_second_order(name, network_cost):
    cost, v = {
        "bowl": (descent.bowl, torch.tensor([-2.0, 1.5], dtype=torch.float64)),
        "valley": (descent.valley, torch.tensor([-1.5, 2.0], dtype=torch.float64)),
        "network": network_cost[::-1],
    }[name]
    ratios, rows = _error_ratios(cost, v, seed=3)
    for r in rows:  # eq. 9 is a good approximation at these sizes...
        assert abs(r["actual"] - r["predicted"]) <= 0.1 * abs(r["predicted"]) + 1e-12
    for ratio in ratios:  # ...whose error falls ~4x when Delta v halves
        assert 3.6 < ratio < 4.4, ratios


@pytest.mark.parametrize("name", ["bowl", "valley", "network"])
def test_steepest_descent_beats_random_directions(name, network_cost):
    cost, v = {
        "bowl": (descent.bowl, torch.tensor([-2.0, 1.5], dtype=torch.float64)),
        "valley": (descent.valley, torch.tensor([-1.5, 2.0], dtype=torch.float64)),
        "network": network_cost[::-1],
    }[name]
    eps = 1e-4
    n = 50 if name == "network" else 500
    check = descent.steepest_descent_check(cost, v, eps, n, torch.Generator().manual_seed(0))
    steepest = check["steepest_first_order"]
    assert steepest == pytest.approx(-eps * check["grad_norm"], rel=1e-12)
    assert (check["random_first_order"] > steepest).all()
    assert check["steepest_actual"] < 0
    if name == "network":  # with 23,860 directions to choose from, random ones barely move C at all
        assert (check["random_actual"] > check["steepest_actual"]).all()
        assert check["random_first_order"].abs().max() < 0.05 * eps * check["grad_norm"]
    if name != "network":  # in 2-d, some random direction comes close to the best
        assert check["random_first_order"].min() < 0.99 * steepest


def test_network_cost_fn_matches_the_module(network_cost):
    v, cost = network_cost
    from nndigits.learn.network import quadratic_cost

    assert v.numel() == 784 * 30 + 30 + 30 * 10 + 10
    # moving the flat vector is moving the network's weights
    net = SigmoidNetwork(generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    from nndigits.learn.mnist import load_split

    x, labels = load_split(train=True)
    x, y = x[:100].double(), one_hot(labels[:100], dtype=torch.float64)
    torch.testing.assert_close(cost(v), quadratic_cost(net(x), y))


class Mean(nn.Module):
    """Predicts the same vector theta for every input: quadratic_cost then has per-example gradient theta - y_x."""

    def __init__(self, d):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(d, dtype=torch.float64))

    def forward(self, x):
        return self.theta.expand(len(x), -1)


@pytest.mark.slow
def test_minibatch_error_falls_like_one_over_m_with_finite_population_correction():
    n, d = 200, 5
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(n, d, generator=gen, dtype=torch.float64) * torch.arange(1, d + 1)
    x = torch.zeros(n, 1, dtype=torch.float64)
    model = Mean(d)
    with torch.no_grad():
        model.theta.copy_(torch.randn(d, generator=gen))
    # g_m - g = mean(y) - mean(y over the batch); its variance for m drawn without replacement is known
    sigma2 = (y - y.mean(0)).pow(2).sum(1).mean().item()
    for m in (1, 4, 16, 64):
        stats = descent.minibatch_gradient_stats(model, x, y, m, 3000, gen)
        expected = sigma2 / m * (n - m) / (n - 1)
        assert stats["sq_error"] == pytest.approx(expected, rel=0.1), m
        assert stats["grad_norm"] == pytest.approx((model.theta.detach() - y.mean(0)).norm().item(), rel=1e-12)
    full = descent.minibatch_gradient_stats(model, x, y, n, 3, gen)
    assert full["sq_error"] < 1e-25 and full["cosine"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        descent.minibatch_gradient_stats(model, x, y, n + 1, 1, gen)


def test_minibatch_stats_spread_is_the_sample_std_and_zero_for_one_batch():
    import statistics

    n, d = 50, 3
    y = torch.randn(n, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.zeros(n, 1, dtype=torch.float64)
    model = Mean(d)
    one = descent.minibatch_gradient_stats(model, x, y, 5, 1, torch.Generator().manual_seed(2))
    assert one["rel_error_std"] == 0.0 and one["cosine_std"] == 0.0
    stats = descent.minibatch_gradient_stats(model, x, y, 5, 40, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)  # replay the same 40 mini-batches
    g = descent.flat_gradient(model, x, y)
    rel = []
    for _ in range(40):
        index = torch.randperm(n, generator=gen)[:5]
        rel.append(((descent.flat_gradient(model, x[index], y[index]) - g).norm() / g.norm()).item())
    assert stats["rel_error"] == pytest.approx(statistics.fmean(rel), rel=1e-9)
    assert stats["rel_error_std"] == pytest.approx(statistics.stdev(rel), rel=1e-9)


def test_flat_gradient_chunks_equal_one_pass():
    gen = torch.Generator().manual_seed(0)
    net = SigmoidNetwork([6, 4, 3], generator=gen, dtype=torch.float64)
    x = torch.rand(25, 6, generator=gen, dtype=torch.float64)
    y = one_hot(torch.randint(0, 3, (25,), generator=gen), 3, torch.float64)
    torch.testing.assert_close(descent.flat_gradient(net, x, y, chunk=7), descent.flat_gradient(net, x, y, chunk=100))


def test_cost_vs_examples_records_the_training_cost():
    gen = torch.Generator().manual_seed(0)
    net = SigmoidNetwork([6, 4, 3], generator=gen)
    x = torch.rand(40, 6, generator=gen)
    y = one_hot(torch.randint(0, 3, (40,), generator=gen), 3)
    run = descent.cost_vs_examples(net, x, y, m=4, eta=1.0, examples=400, n_evals=5, generator=gen)
    assert run["examples"][0] == 0 and run["examples"][-1] == 400
    assert run["examples"] == sorted(run["examples"]) and len(run["cost"]) == len(run["examples"])
    assert run["cost"][-1] < run["cost"][0]
    full = descent.cost_vs_examples(
        SigmoidNetwork([6, 4, 3], generator=torch.Generator().manual_seed(1)),
        x,
        y,
        m=40,
        eta=1.0,
        examples=120,
        n_evals=3,
    )
    assert full["examples"] == [0, 40, 80, 120]
