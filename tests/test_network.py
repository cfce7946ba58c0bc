"""The network and the cost: shapes, initial statistics, eq. 3-6 on hand-computed numbers, one SGD step.

The engines' interface too: every engine is made by ``make_engine`` from the one registry, and the
two torch engines take the step of eq. 20-21 computed by finite differences.
"""

import math

import pytest
import torch

from nndigits.chapter import ENGINES
from nndigits.learn.datamodule import Rows
from nndigits.learn.engines import REGISTRY, STACK_ENGINES, check_engine, make_engine
from nndigits.learn.network import SigmoidNetwork, one_hot, quadratic_cost


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
    errors = make_engine(engine, net, eta, m=len(x)).steps(Rows(x, y))  # one mini-batch of 5: one step
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
    autograd, backprop = make_engine("autograd", a, 3.0, 10), make_engine("backprop", b, 3.0, 10)
    for k in range(0, 400, 10):  # one step per call, compared after every step
        err_a = autograd.steps(Rows(x[k : k + 10], y[k : k + 10]))
        err_b = backprop.steps(Rows(x[k : k + 10], y[k : k + 10]))
        assert torch.allclose(err_a, err_b, atol=1e-12)
    for p, q in zip(a.parameters(), b.parameters()):
        assert (p - q).abs().max() < 1e-9
    assert not torch.equal(
        a.layers[0].weight,
        SigmoidNetwork([20, 8, 6, 4], generator=torch.Generator().manual_seed(9), dtype=torch.float64).layers[0].weight,
    )


def test_chunks_of_many_steps_are_the_steps_one_by_one():
    """``steps(rows)`` on a chunk of 7 mini-batches (the last one short, of 3) = 7 calls of one mini-batch each."""
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(63, 12, generator=g, dtype=torch.float64), one_hot(torch.randint(0, 3, (63,), generator=g), 3)
    y = y.double()
    for name in ("backprop", "autograd", "native"):
        a = SigmoidNetwork([12, 5, 3], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        b = SigmoidNetwork([12, 5, 3], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        index = torch.randperm(63, generator=g)
        chunk = make_engine(name, a, 3.0, 10).steps(Rows(x, y, index))
        one = make_engine(name, b, 3.0, 10)
        singles = torch.cat([one.steps(Rows(x[i], y[i])) for i in index.split(10)])
        assert chunk.shape == (63, 3)
        assert (chunk - singles).abs().max() < 1e-12, name
        assert all((p - q).abs().max() < 1e-12 for p, q in zip(a.parameters(), b.parameters())), name


def test_one_registry_names_every_engine_of_the_chapter():
    assert tuple(REGISTRY) == ENGINES
    assert set(STACK_ENGINES) == {"native", "backprop", "triton", "triton-tf32"}
    with pytest.raises(ValueError, match="unknown engine 'fast'"):
        make_engine("fast", SigmoidNetwork([4, 2]), 1.0, 2)
    with pytest.raises(ValueError, match="unknown engine"):
        check_engine("fast", [784, 30, 10])
    with pytest.raises(ValueError, match="exactly one hidden layer"):
        check_engine("triton", [784, 30, 20, 10])
    check_engine("triton", [784, 30, 10])


def test_stack_engines_refuse_what_trains_one_network_only():
    class Stack:
        w, b, hidden_mask = [torch.zeros(2, 3, 4)], [torch.zeros(2, 3)], None

    with pytest.raises(ValueError, match="engine autograd trains one network"):
        make_engine("autograd", Stack(), [1.0, 2.0], 2)
    assert make_engine("backprop", Stack(), [1.0, 2.0], 2).steps(
        Rows(torch.rand(5, 4), torch.rand(5, 3), torch.tensor([[0, 1], [2, 3]]))
    ).shape == (2, 2, 3)
