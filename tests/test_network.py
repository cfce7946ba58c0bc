"""The network and the cost: shapes, initial statistics, eq. 3-6 on hand-computed numbers, one SGD step."""

import math

import pytest
import torch

from nndigits.learn.network import SigmoidNetwork, one_hot, quadratic_cost
from nndigits.learn.sgd import autograd_step, backprop_step


@pytest.mark.parametrize("sizes", [[784, 30, 10], [784, 10], [784, 50, 20, 10], [3, 1]])
def test_layers_and_shapes(sizes):
    net = SigmoidNetwork(sizes)
    assert [(l.in_features, l.out_features) for l in net.layers] == list(zip(sizes[:-1], sizes[1:]))
    assert all(isinstance(l, torch.nn.Linear) for l in net.layers)
    a = net(torch.rand(7, sizes[0]))
    assert a.shape == (7, sizes[-1])
    assert ((a >= 0) & (a <= 1)).all()  # sigmoid outputs (float32 rounds saturated ones to 0 or 1)


def test_default_is_the_books_network():
    assert SigmoidNetwork().sizes == [784, 30, 10]


@pytest.mark.parametrize("sizes", [[784], [784, 0, 10], [], [784, -3]])
def test_bad_sizes_are_rejected(sizes):
    with pytest.raises(ValueError):
        SigmoidNetwork(sizes)


def test_init_is_standard_gaussian():
    """Every weight and bias ~ N(0, 1), as in the book (not torch's uniform default)."""
    net = SigmoidNetwork([784, 100, 10], generator=torch.Generator().manual_seed(0))
    w = torch.cat([p.detach().flatten() for p in net.parameters()])
    assert len(w) == 784 * 100 + 100 + 100 * 10 + 10
    assert abs(w.mean()) < 0.01
    assert abs(w.std() - 1) < 0.01
    assert w.abs().max() > 3.5  # a uniform(-1/28, 1/28) init would never get here
    # biases too
    assert abs(net.layers[0].bias.detach().std() - 1) < 0.3


def test_same_generator_seed_same_weights():
    a = SigmoidNetwork(generator=torch.Generator().manual_seed(5))
    b = SigmoidNetwork(generator=torch.Generator().manual_seed(5))
    c = SigmoidNetwork(generator=torch.Generator().manual_seed(6))
    assert torch.equal(a.layers[0].weight, b.layers[0].weight)
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)


def test_forward_is_sigmoid_of_weighted_input_by_hand():
    """eq. 3-4 on numbers worked by hand: one neuron, w = (1, -2), b = 0.5, x = (3, 1)."""
    net = SigmoidNetwork([2, 1])
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[1.0, -2.0]]))
        net.layers[0].bias.fill_(0.5)
    z = 1 * 3 + (-2) * 1 + 0.5  # = 1.5
    assert net(torch.tensor([[3.0, 1.0]])).item() == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-7)


def test_quadratic_cost_by_hand():
    """C = 1/(2m) sum_x ||y - a||^2.  Two examples, three outputs:
    ||(1,0,0) - (0.5,0.5,0)||^2 = 0.5 and ||(0,0,1) - (0,1,0)||^2 = 2, so C = (0.5 + 2) / 4 = 0.625."""
    a = torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert quadratic_cost(a, y).item() == pytest.approx(0.625)
    # and it is not MSELoss, which divides by m * 3 instead of 2m
    assert torch.nn.MSELoss()(a, y).item() == pytest.approx(2.5 / 6)


def test_one_hot():
    assert one_hot(torch.tensor([5, 0])).tolist() == [[0] * 5 + [1] + [0] * 4, [1] + [0] * 9]


def _step_by_finite_differences(net, x, y, eta, h=1e-6):
    """w - (eta/m) sum_x dC_x/dw, with each derivative from central differences of the summed cost."""
    expected = []
    for p in net.parameters():
        grad = torch.zeros_like(p)
        flat, gflat = p.data.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            up = quadratic_cost(net(x), y).item()
            flat[i] = old - h
            down = quadratic_cost(net(x), y).item()
            flat[i] = old
            gflat[i] = (up - down) / (2 * h)  # = (1/m) sum_x dC_x/dw since the cost averages over m
        expected.append(p.detach() - eta * grad)
    return expected


@pytest.mark.parametrize("engine", ["autograd", "backprop"])
def test_one_sgd_step_is_eq_20_21(engine):
    """One step of either engine equals w - (eta/m) sum_x grad C_x with the gradient from finite differences."""
    torch.manual_seed(0)
    net = SigmoidNetwork([6, 4, 3], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.rand(5, 6, dtype=torch.float64)
    y = one_hot(torch.tensor([0, 2, 1, 1, 0]), 3, torch.float64)
    eta = 3.0
    with torch.no_grad():
        expected = _step_by_finite_differences(net, x, y, eta)
        error_before = net(x) - y
    errors = torch.empty_like(y)
    if engine == "autograd":
        autograd_step(net, torch.optim.SGD(net.parameters(), lr=eta), x, y, errors)
    else:
        backprop_step(net.layers, x, y, eta, errors)
    for p, e in zip(net.parameters(), expected):
        assert torch.allclose(p.detach(), e, atol=1e-8), (p, e)
    assert torch.allclose(errors, error_before, atol=1e-12)  # a - y as it was before the update


def test_engines_agree_over_many_steps():
    """The explicit backprop engine and autograd + optim.SGD take the same steps (float64)."""
    g = torch.Generator().manual_seed(3)
    x, labels = torch.rand(400, 20, generator=g, dtype=torch.float64), torch.randint(0, 4, (400,), generator=g)
    y = one_hot(labels, 4, torch.float64)
    a = SigmoidNetwork([20, 8, 6, 4], generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    b = SigmoidNetwork([20, 8, 6, 4], generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    opt = torch.optim.SGD(a.parameters(), lr=3.0)
    err_a, err_b = torch.empty(10, 4, dtype=torch.float64), torch.empty(10, 4, dtype=torch.float64)
    for k in range(0, 400, 10):
        autograd_step(a, opt, x[k : k + 10], y[k : k + 10], err_a)
        backprop_step(b.layers, x[k : k + 10], y[k : k + 10], 3.0, err_b)
        assert torch.allclose(err_a, err_b, atol=1e-12)
    for p, q in zip(a.parameters(), b.parameters()):
        assert (p - q).abs().max() < 1e-9
    assert not torch.equal(
        a.layers[0].weight,
        SigmoidNetwork([20, 8, 6, 4], generator=torch.Generator().manual_seed(9), dtype=torch.float64).layers[0].weight,
    )
