"""Sections 2-3 of chapter 1: perceptrons, NAND universality, sigmoid neurons simulating perceptrons."""

import importlib.util
import itertools
import random
from pathlib import Path

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nndigits.perceptrons import (
    main,
)
from nndigits.studies.layered import PerceptronNetwork
from nndigits.studies.nand_universality import nand_network
from nndigits.studies.neurons import Perceptron, PerceptronCircuit, SigmoidNeuron, cheese_festival, half_adder, nand

ROOT = Path(__file__).resolve().parents[1]


def all_inputs(n):
    """Every n-bit input, x1 most significant: 00, 01, 10, 11 for n = 2."""
    return list(itertools.product((0, 1), repeat=n))


def as_tensor(rows):
    return torch.tensor(rows, dtype=torch.float32)


def bits(t):
    return [int(v) for v in t.tolist()]


# --- single perceptrons ---------------------------------------------------------------


def test_nand_truth_table():
    assert bits(nand()(as_tensor(all_inputs(2)))) == [1, 1, 1, 0]


def test_nand_weighted_inputs_are_the_books_arithmetic():
    # (-2)*0 + (-2)*0 + 3 = 3, (-2)*0 + (-2)*1 + 3 = 1, ..., (-2)*1 + (-2)*1 + 3 = -1
    assert nand().weighted_input(as_tensor(all_inputs(2))).tolist() == [3.0, 1.0, 1.0, -1.0]


def test_output_shape_and_dtype_for_a_batch():
    out = nand()(torch.zeros(7, 2))
    assert out.shape == (7,) and out.is_floating_point()
    assert bits(nand()(torch.tensor([[1, 1], [0, 1]]))) == [0, 1]  # integer inputs are fine


def test_wrong_number_of_inputs_is_an_error():
    with pytest.raises(ValueError, match="2 inputs"):
        nand()(torch.zeros(4, 3))
    with pytest.raises(ValueError):
        Perceptron([1.0, 2.0], [0.0, 1.0])


@pytest.mark.parametrize("weather,partner,transit", all_inputs(3))
def test_cheese_festival_threshold_5_goes_exactly_when_weather_is_good(weather, partner, transit):
    go = cheese_festival(5)(as_tensor([[weather, partner, transit]]))
    assert bits(go) == [weather]


@pytest.mark.parametrize("weather,partner,transit", all_inputs(3))
def test_cheese_festival_threshold_3_goes_if_weather_good_or_transit_and_partner(weather, partner, transit):
    go = cheese_festival(3)(as_tensor([[weather, partner, transit]]))
    assert bits(go) == [int(weather or (transit and partner))]


def test_cheese_festival_decisions_as_columns():
    x = as_tensor(all_inputs(3))
    assert bits(cheese_festival(5)(x)) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert bits(cheese_festival(3)(x)) == [0, 0, 0, 1, 1, 1, 1, 1]
    # Dropping the threshold never makes you less willing to go.
    assert all(a <= b for a, b in zip(bits(cheese_festival(5)(x)), bits(cheese_festival(3)(x))))


def test_from_threshold_is_eq1_with_bias_minus_threshold():
    p = Perceptron.from_threshold([6.0, 2.0, 2.0], 5.0)
    assert p.bias.item() == -5.0 and p.weight.tolist() == [6.0, 2.0, 2.0]
    # eq. 1: sum_j w_j x_j <= threshold gives 0 -- equality included.
    at_threshold = Perceptron.from_threshold([1.0, 1.0], 2.0)
    assert bits(at_threshold(as_tensor([[1, 1], [1, 0], [1, 1.5]]))) == [0, 0, 1]


@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=6).flatmap(
        lambda w: st.tuples(
            st.just(w),
            st.integers(-10, 10),
            st.lists(st.lists(st.integers(0, 1), min_size=len(w), max_size=len(w)), min_size=1, max_size=8),
        )
    )
)
def test_perceptron_matches_eq1_in_exact_integer_arithmetic(case):
    weights, threshold, xs = case
    expected = [int(sum(w * x for w, x in zip(weights, row)) > threshold) for row in xs]
    assert bits(Perceptron.from_threshold(weights, threshold)(as_tensor(xs))) == expected


def test_real_valued_inputs():
    p = Perceptron([0.5, -1.0], 0.25)
    x = torch.tensor([[0.638, 0.5], [0.2, 0.5], [0.5, 0.5]], dtype=torch.float64)
    # z = 0.069 > 0, -0.15 <= 0, exactly 0 -> 0 (eq. 2 puts z = 0 on the 0 side)
    assert bits(p(x)) == [1, 0, 0]


def test_sigmoid_neuron_with_the_same_parameters():
    w, b = [0.5, -1.0], 0.25
    x = torch.tensor([[0.638, 0.5], [0.2, 0.5], [0.5, 0.5], [4.0, -3.0]], dtype=torch.float64)
    z = x @ torch.tensor(w, dtype=torch.float64) + b
    s = SigmoidNeuron(w, b, dtype=torch.float64)(x)
    assert torch.allclose(s, 1 / (1 + torch.exp(-z)), rtol=0, atol=1e-15)  # eq. 4
    assert s[2].item() == 0.5  # z = 0: halfway, where the perceptron says 0
    assert bits(Perceptron(w, b)(x)) == [1, 0, 0, 1]
    assert ((s > 0.5) == (Perceptron(w, b, dtype=torch.float64)(x) == 1)).all()
    # Only the sigmoid neuron has trainable parameters.
    assert len(list(SigmoidNeuron(w, b).parameters())) == 2 and not list(Perceptron(w, b).parameters())


# --- the half adder -------------------------------------------------------------------


@pytest.mark.parametrize("merged", [False, True])
def test_half_adder_adds_two_bits(merged):
    x = as_tensor(all_inputs(2))
    s, carry = half_adder(merged)(x)
    assert bits(s) == [0, 1, 1, 0]
    assert bits(carry) == [0, 0, 0, 1]
    assert [2 * c + s for s, c in zip(bits(s), bits(carry))] == [a + b for a, b in all_inputs(2)]


def test_half_adder_is_the_books_five_nand_circuit():
    net = half_adder()
    assert len(net) == net.n_gates == 5 and all(net.is_nand(k) for k in range(5))
    assert net.sources == [(0, 1), (0, 2), (2, 1), (3, 4), (2, 2)]  # the first gate feeds the carry twice
    merged = half_adder(merged=True)
    assert merged.sources[4] == (2,) and merged.units[4].weight.tolist() == [-4.0]
    assert "g5 = step(-4*g1 + 3)" in merged.describe() and "g5 = NAND(g1, g1)" in net.describe()


def test_merging_the_doubled_connection_changes_no_weighted_input():
    # -2*g - 2*g + 3 == -4*g + 3 for g in {0, 1}, and so for every input of the adder.
    x = as_tensor(all_inputs(2))
    for a, b in zip(half_adder(False)(x), half_adder(True)(x)):
        assert torch.equal(a, b)


# --- NAND universality ----------------------------------------------------------------


def check_nand_network(fn, n):
    net = nand_network(fn, n)
    rows = all_inputs(n)
    out = net(as_tensor(rows))
    outs = out if isinstance(out, tuple) else (out,)
    expected = [fn(*row) for row in rows]
    expected = [e if isinstance(e, tuple) else (e,) for e in expected]
    for i, o in enumerate(outs):
        assert bits(o) == [e[i] for e in expected]
    # Made of NAND perceptrons only, each reading two earlier wires, and no gate is dead.
    assert all(net.is_nand(k) and len(net.sources[k]) == 2 for k in range(len(net)))
    read = {s for sources in net.sources for s in sources} | set(net.outputs)
    assert all(n + k in read for k in range(len(net)))
    return net


@pytest.mark.parametrize("code", range(16))
def test_every_two_input_boolean_function(code):
    fn = lambda a, b: (code >> (2 * a + b)) & 1  # noqa: E731
    check_nand_network(fn, 2)


def test_all_256_three_input_functions_within_the_gate_bound():
    for code in range(256):
        fn = lambda a, b, c, code=code: (code >> (4 * a + 2 * b + c)) & 1
        net = check_nand_network(fn, 3)
        assert len(net) <= (3 if code in (0, 255) else 3 * (2**2 - 1) + 3)


def test_majority_parity_and_full_adder():
    majority = check_nand_network(lambda a, b, c: int(a + b + c >= 2), 3)
    parity = check_nand_network(lambda a, b, c: a ^ b ^ c, 3)
    adder = check_nand_network(lambda a, b, c: (a ^ b ^ c, int(a + b + c >= 2)), 3)
    assert (len(majority), len(parity)) == (9, 10)
    assert len(adder) == 14 < len(majority) + len(parity)  # the two outputs share gates
    sums, carries = adder(as_tensor(all_inputs(3)))
    assert [2 * c + s for s, c in zip(bits(sums), bits(carries))] == [sum(r) for r in all_inputs(3)]


def test_xor_and_small_cases():
    assert len(check_nand_network(lambda a, b: a ^ b, 2)) == 5
    assert len(check_nand_network(lambda a, b: b, 2)) == 0  # just a wire
    assert len(check_nand_network(lambda a, b: 1 - a, 2)) == 1  # NOT a = NAND(a, a)
    assert len(check_nand_network(lambda a, b: 1 - (a and b), 2)) == 1  # NAND itself
    assert len(check_nand_network(lambda a, b: a & b, 2)) == 2  # NOT NAND
    assert len(check_nand_network(lambda a, b: a | b, 2)) == 3  # NAND(NOT a, NOT b)
    assert len(check_nand_network(lambda a: 1, 1)) == 2
    assert len(check_nand_network(lambda a: 0, 1)) == 3


@pytest.mark.parametrize("seed", range(20))
def test_random_four_input_functions(seed):
    table = random.Random(seed).choices((0, 1), k=16)
    net = check_nand_network(lambda *x: table[int("".join(map(str, x)), 2)], 4)
    assert len(net) <= 3 * (2**3 - 1) + 4


def test_parity_of_five_inputs():
    check_nand_network(lambda *x: sum(x) % 2, 5)


def test_describe_lists_the_wiring():
    text = nand_network(lambda a, b: a ^ b, 2).describe()
    assert text.splitlines()[0] == "PerceptronCircuit: 2 inputs, 5 gates"
    assert sum(line.strip().startswith("g") and "= NAND(" in line for line in text.splitlines()) == 5
    assert text.splitlines()[-1].startswith("  out = g")
    assert repr(nand_network(lambda a, b: a ^ b, 2)) == text


def test_bad_functions_are_rejected():
    with pytest.raises(ValueError):
        nand_network(lambda a, b: 2, 2)
    with pytest.raises(ValueError):
        nand_network(lambda: 1, 0)
    with pytest.raises(ValueError):
        PerceptronCircuit.of_nands(2, [(0, 2)], outputs=[2])  # a gate reading its own output


# --- exercise part I: scaling a perceptron network by c > 0 ---------------------------


def int_network(draw_sizes):
    """Strategy: a perceptron network with small integer weights and biases (ties w.x + b = 0 are common)."""

    def layers(sizes):
        return st.tuples(
            *[
                st.tuples(
                    st.lists(st.lists(st.integers(-3, 3), min_size=n, max_size=n), min_size=m, max_size=m),
                    st.lists(st.integers(-3, 3), min_size=m, max_size=m),
                )
                for n, m in zip(sizes[:-1], sizes[1:])
            ]
        )

    return draw_sizes.flatmap(lambda sizes: st.tuples(st.just(sizes), layers(sizes)))


sizes_strategy = st.lists(st.integers(1, 5), min_size=2, max_size=5)
# Scaling by c commutes with floating-point rounding when c is a power of 2, and is exact
# arithmetic for integer c with integer data: so the test checks the maths, not rounding.
c_strategy = st.one_of(st.integers(1, 10**6).map(float), st.integers(-40, 40).map(lambda k: 2.0**k))


@settings(max_examples=200, deadline=None)
@given(int_network(sizes_strategy), c_strategy, st.data())
def test_part1_scaling_by_positive_c_changes_no_output(network, c, data):
    sizes, layers = network
    net = PerceptronNetwork([w for w, _ in layers], [b for _, b in layers], dtype=torch.float64)
    x = torch.tensor(
        data.draw(st.lists(st.lists(st.integers(0, 1), min_size=sizes[0], max_size=sizes[0]), min_size=1, max_size=8)),
        dtype=torch.float64,
    )
    scaled = net.scaled(c)
    assert scaled.layers[0].weight.tolist() == [[c * v for v in row] for row in layers[0][0]]
    assert torch.equal(scaled(x), net(x))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.integers(0, 2**32 - 1), st.floats(1e-3, 1e3))
def test_part1_real_weights_any_c_away_from_ties(sizes, seed, c):
    g = torch.Generator().manual_seed(seed)
    net = PerceptronNetwork.random(sizes, generator=g)
    x = torch.rand(8, sizes[0], generator=g, dtype=torch.float64)
    # Any c > 0, real weights and inputs; only z within rounding of 0 could differ.
    assume(min(z.abs().min().item() for z in net.weighted_inputs(x)) > 1e-9)
    assert torch.equal(net.scaled(c)(x), net(x))


def test_part1_scaling_by_negative_c_does_change_outputs():
    net = PerceptronNetwork([[[1.0, -1.0]]], [[0.5]])
    x = as_tensor(all_inputs(2))
    assert bits(net(x).squeeze(1)) == [1, 0, 1, 1]
    assert bits(net.scaled(-1.0)(x).squeeze(1)) == [0, 1, 0, 0]


# --- exercise part II: sigmoid neurons with weights scaled by c -> infinity ----------


@pytest.mark.parametrize("seed", range(10))
def test_part2_sigmoid_network_tends_to_perceptron_network_when_no_z_is_zero(seed):
    g = torch.Generator().manual_seed(seed)
    net = PerceptronNetwork.random([4, 6, 5, 3], generator=g)
    x = torch.rand(16, 4, generator=g, dtype=torch.float64)
    margin = min(z.abs().min().item() for z in net.weighted_inputs(x))
    assert margin > 1e-4  # the exercise's condition: w.x + b != 0 at every neuron
    target = net(x)
    errors = [(net.as_sigmoid().scaled(c)(x) - target).abs().max().item() for c in (1, 10, 100, 1e4, 1e7)]
    assert errors[0] > 1e-2  # at c = 1 the sigmoid network is visibly not the perceptron network
    assert errors[-1] < 1e-12
    assert all(later <= earlier for earlier, later in zip(errors[-3:], errors[-2:]))


def test_part2_on_the_nand_and_cheese_perceptrons():
    for net, n in [
        (PerceptronNetwork([[[-2.0, -2.0]]], [[3.0]]), 2),
        (PerceptronNetwork([[[6.0, 2.0, 2.0]]], [[-3.0]]), 3),
    ]:
        x = torch.tensor(all_inputs(n), dtype=torch.float64)
        for c in (100.0, 1000.0):
            assert torch.allclose(net.as_sigmoid().scaled(c)(x), net(x), rtol=0, atol=1e-40)


def test_part2_a_neuron_with_z_zero_outputs_one_half_for_every_c():
    net = PerceptronNetwork([[[1.0, -1.0]]], [[0.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 1.0], [0.3, 0.3]], dtype=torch.float64)  # w.x + b = 0 exactly
    assert net(x).flatten().tolist() == [0.0, 0.0]
    for c in (1.0, 10.0, 1e3, 1e8):
        assert net.as_sigmoid().scaled(c)(x).flatten().tolist() == [0.5, 0.5]


def test_part2_a_tie_in_a_hidden_layer_changes_the_limit_of_the_output():
    # Hidden neuron h: w.x + b = x1 - x2 = 0 on x = (1, 1), so the perceptron gives h = 0
    # while the sigmoid neuron gives 1/2 for every c.  Output neurons read h:
    #   out1: z = 2h - 1  -> perceptron 0;  sigmoid: c(2 * 1/2 - 1) = 0, so exactly 1/2 forever.
    #   out2: z = h - 1/4 -> perceptron 0;  sigmoid: c(1/2 - 1/4) -> +inf, so the limit is 1, not 0.
    net = PerceptronNetwork([[[1.0, -1.0]], [[2.0], [1.0]]], [[0.0], [-1.0, -0.25]], dtype=torch.float64)
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    assert net(x).tolist() == [[0.0, 0.0]]
    for c in (100.0, 1e3, 1e6):
        out1, out2 = net.as_sigmoid().scaled(c)(x)[0].tolist()
        assert out1 == 0.5
        assert out2 > 1 - 1e-2
    assert net.as_sigmoid().scaled(1e6)(x)[0, 1].item() == 1.0


def test_as_sigmoid_keeps_weights_and_scaled_returns_a_new_network():
    net = PerceptronNetwork.random([3, 2, 1], generator=torch.Generator().manual_seed(0))
    sig = net.as_sigmoid()
    assert sig.neuron is SigmoidNeuron and net.neuron is Perceptron
    for a, b in zip(net.layers, sig.layers):
        assert torch.equal(a.weight, b.weight.detach()) and torch.equal(a.bias, b.bias.detach())
    scaled = net.scaled(3.0)
    assert torch.equal(scaled.layers[1].bias, 3.0 * net.layers[1].bias)
    assert not torch.equal(scaled.layers[1].bias, net.layers[1].bias)


# --- the demo and the figure -----------------------------------------------------------


def test_demo_main_prints_the_tables(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "x1 x2 | out\n 0  0 |  1\n 0  1 |  1\n 1  0 |  1\n 1  1 |  0\n" in out
    assert " 1  1 |  0    1   |  0    1" in out  # half adder, both wirings: 1 + 1 = 10
    assert "   0       1       1    |        0         |        1" in out  # cheese: only threshold 3 goes
    assert "  1000 |   0.0000   0.0000   0.5000   1.0000   1.0000" in out


@pytest.mark.slow
def test_demo_runs_as_a_module():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "nndigits.perceptrons"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "NAND perceptron" in result.stdout


@pytest.mark.slow
def test_figure_script_writes_a_png(tmp_path):
    spec = importlib.util.spec_from_file_location("sigmoid_vs_step", ROOT / "experiments" / "sigmoid_vs_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "sub" / "x.png"
    assert module.main(["--out", str(out)]) == out
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert [p.name for p in out.parent.iterdir()] == ["x.png"]  # no temporary file left behind
