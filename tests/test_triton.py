"""The Triton kernels, run by Triton's interpreter on CPU tensors: the same SGD steps as the CPU engines.

``TRITON_INTERPRET=1`` must be set before triton is first imported (Lightning
imports it, so in a full pytest run that is before this file): in a plain run
``test_all_under_the_interpreter`` runs this file again in a subprocess with the
variable set, where the other tests run.  Directly:
``TRITON_INTERPRET=1 python -m pytest -q tests/test_triton.py``.  The
interpreter executes the kernel's tile operations with NumPy in float32, so
the comparison is of two fp32 computations that sum in different orders:
equal to ``rtol = 1e-5`` (``atol = 1e-6`` for the small networks, ``1e-5`` on MNIST
rows whose 784-long sums round more), step for step over a few steps; over 51
steps on MNIST within twice the CPU fp32 engine's own distance from float64.
"""

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Only true when the variable was set before this process imported triton (pytorch_lightning imports it).
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
triton = pytest.importorskip("triton")

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

import nndigits.learn.triton_sgd as triton_sgd  # noqa: E402
from nndigits.learn.book import BookNetwork  # noqa: E402
from nndigits.learn.datamodule import Rows  # noqa: E402
from nndigits.learn.engines import backprop_steps, make_engine  # noqa: E402
from nndigits.learn.network import SigmoidNetwork, one_hot  # noqa: E402
from nndigits.learn.stacked import StackedBackprop  # noqa: E402
from nndigits.learn.triton_sgd import TritonSteps, launch_chunk  # noqa: E402
from nndigits.studies.sweep.grid import Config  # noqa: E402
from nndigits.studies.sweep.stacked import StackedNetworks  # noqa: E402

interpreted = pytest.mark.skipif(not INTERPRETED, reason="runs in the subprocess of test_all_under_the_interpreter")


@pytest.mark.slow
@pytest.mark.skipif(INTERPRETED, reason="this is that subprocess")
def test_all_under_the_interpreter():
    """Run this file again in a fresh process with TRITON_INTERPRET=1 set before triton is imported; all must pass."""
    here = Path(__file__)
    env = dict(os.environ, TRITON_INTERPRET="1")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here)],
        cwd=here.parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    summary = tail.strip().splitlines()[-1]
    assert re.search(r"\b1[0-9] passed", summary) and "failed" not in summary and "error" not in summary, tail


SMALL = dict(rtol=1e-5, atol=1e-6)
MNIST = dict(rtol=1e-5, atol=1e-5)


@interpreted
def test_the_interpreter_is_what_runs():
    from triton.runtime.interpreter import InterpretedFunction

    assert isinstance(triton_sgd.sgd_chunk_kernel, InterpretedFunction)


def _data(rows, n_in, n_out, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(rows, n_in, generator=g)
    y = one_hot(torch.randint(0, n_out, (rows,), generator=g), n_out)
    return x, y


def _same_steps(net, x, y, eta, m, tolerance, precision="ieee"):
    """Train ``net`` and a copy on the same chunk, one with the kernel, one with backprop_steps; compare everything."""
    reference = copy.deepcopy(net)
    expected_errors = torch.empty_like(y)
    backprop_steps(reference.layers, x.split(m), y.split(m), eta, expected_errors.split(m))
    errors = make_engine("triton" if precision == "ieee" else "triton-tf32", net, eta, m).steps(Rows(x, y))
    torch.testing.assert_close(errors, expected_errors, **tolerance)
    for got, want in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, **tolerance)
    return reference


@interpreted
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rows", [16, 18])  # 18: four mini-batches of 4 and a short last one of 2 (eta/2, as on CPU)
def test_kernel_takes_the_backprop_steps_small(seed, rows):
    net = SigmoidNetwork([16, 8, 4], generator=torch.Generator().manual_seed(seed))
    before = [p.detach().clone() for p in net.parameters()]
    x, y = _data(rows, 16, 4, seed)
    _same_steps(net, x, y, eta=3.0, m=4, tolerance=SMALL)
    assert all(not torch.equal(p, b) for p, b in zip(net.parameters(), before))  # it did learn


@interpreted
def test_kernel_sizes_not_powers_of_two():
    net = SigmoidNetwork([13, 7, 3], generator=torch.Generator().manual_seed(5))
    x, y = _data(15, 13, 3, 5)
    _same_steps(net, x, y, eta=0.5, m=3, tolerance=SMALL)


@interpreted
def test_kernel_keeps_weights_across_chunks():
    """Two launches (weights written back, read again) take the steps one long backprop run takes."""
    net = SigmoidNetwork([16, 8, 4], generator=torch.Generator().manual_seed(3))
    reference = copy.deepcopy(net)
    x, y = _data(32, 16, 4, 3)
    engine = make_engine("triton", net, 3.0, 4)
    errors = torch.cat([engine.steps(Rows(x[:16], y[:16])), engine.steps(Rows(x[16:], y[16:]))])
    expected = torch.empty_like(y)
    backprop_steps(reference.layers, x.split(4), y.split(4), 3.0, expected.split(4))
    torch.testing.assert_close(errors, expected, **SMALL)
    for got, want in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, **SMALL)


@interpreted
def test_kernel_on_mnist_rows_book_network(mnist_train):
    """The book's [784, 30, 10] network, m = 10, five steps on real training digits."""
    images, labels = mnist_train
    x, y = images[:50], one_hot(labels[:50])
    net = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(1))
    _same_steps(net, x, y, eta=3.0, m=10, tolerance=MNIST)


@interpreted
def test_kernel_drift_is_fp32_rounding_over_an_epoch_chunk(mnist_train):
    """51 steps (503 digits, a short last mini-batch): the kernel stays as close to the CPU fp32 engine as that
    engine is to the same steps in float64 -- the difference is rounding, not a different algorithm."""
    images, labels = mnist_train
    x, y = images[:503], one_hot(labels[:503])
    net = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(1))
    fp32, fp64 = copy.deepcopy(net), copy.deepcopy(net).double()
    backprop_steps(fp32.layers, x.split(10), y.split(10), 3.0, torch.empty_like(y).split(10))
    backprop_steps(fp64.layers, x.double().split(10), y.double().split(10), 3.0, torch.empty_like(y).double().split(10))
    make_engine("triton", net, 3.0, 10).steps(Rows(x, y))
    for kernel, cpu, exact in zip(net.parameters(), fp32.parameters(), fp64.parameters()):
        rounding = (cpu.double() - exact).abs().max().item()
        assert (kernel - cpu).abs().max().item() <= 2 * rounding
        torch.testing.assert_close(kernel, cpu, rtol=1e-4, atol=1e-5)


@interpreted
def test_tf32_is_an_opt_in_that_runs():
    """Under the interpreter TF32 dots are computed in fp32 (no tensor cores), so only that the option runs is shown
    here; how far TF32 moves the numbers is measured on a GPU (tests/test_cuda.py)."""
    net = SigmoidNetwork([16, 8, 4], generator=torch.Generator().manual_seed(0))
    x, y = _data(16, 16, 4, 0)
    _same_steps(net, x, y, eta=3.0, m=4, tolerance=dict(rtol=1e-2, atol=1e-3), precision="tf32")


def test_bad_precision_and_depth_are_refused():
    net = SigmoidNetwork([16, 8, 4])
    with pytest.raises(ValueError, match="precision"):
        TritonSteps.for_network(net.layers, 3.0, 4, precision="fp16")
    with pytest.raises(ValueError, match="one hidden layer"):
        make_engine("triton", SigmoidNetwork([16, 8, 6, 4]), 3.0, 4)
    weight = torch.zeros(1, 4, 8).transpose(1, 2)  # not contiguous: the kernel could not update it in place
    with pytest.raises(ValueError, match="contiguous"):
        launch_chunk(
            *_data(4, 4, 8, 0), torch.empty(4, 8), weight, torch.zeros(1, 8), torch.zeros(1, 8, 8),
            torch.zeros(1, 8), torch.ones(1), torch.ones(1, dtype=torch.int32), 4,
        )  # fmt: skip


@interpreted
def test_booknetwork_triton_engine_through_the_trainer(mnist_train):
    """The same LightningModule, engine="triton", fitted by Lightning's Trainer (on CPU, under the interpreter):
    the same weights as engine="backprop" after two chunks of real digits, and global_step counts the SGD steps."""
    images, labels = mnist_train
    chunks = [(images[i : i + 40], one_hot(labels[i : i + 40])) for i in (0, 40)]
    fitted = {}
    for engine in ("backprop", "triton"):
        model = BookNetwork([784, 30, 10], lr=3.0, batch_size=10, seed=4, engine=engine)
        trainer = pl.Trainer(
            accelerator="cpu", max_epochs=1, logger=False, enable_progress_bar=False,
            enable_checkpointing=False, enable_model_summary=False, num_sanity_val_steps=0,
        )  # fmt: skip
        trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(chunks, batch_size=None))
        assert trainer.global_step == 8
        fitted[engine] = model
    for got, want in zip(fitted["triton"].net.parameters(), fitted["backprop"].net.parameters()):
        torch.testing.assert_close(got, want, **MNIST)
    torch.testing.assert_close(fitted["triton"]._train_sum, fitted["backprop"]._train_sum, **MNIST)


def _stacked(configs):
    return StackedNetworks(configs)


@interpreted
@pytest.mark.parametrize("rows", [12, 10])  # 10: a short last mini-batch of 2
def test_stacked_kernel_takes_the_sweep_steps(mnist_train, rows):
    """K = 4 networks of different hidden sizes (padded to 12), etas, seeds; each on its own digits."""
    configs = [Config((12,), 3.0, 4, 0), Config((5,), 1.0, 4, 1), Config((8,), 0.5, 4, 2), Config((12,), 10.0, 4, 3)]
    images, labels = mnist_train
    g = torch.Generator().manual_seed(0)
    idx = torch.stack([torch.randperm(200, generator=g)[:rows] for _ in configs])
    xs, ys = images[idx], one_hot(labels[idx])
    reference, nets = _stacked(configs), _stacked(configs)
    assert nets.padded
    etas = [c.lr for c in configs]
    expected = make_engine("backprop", reference, etas, 4).steps(Rows(xs, ys))
    errors = make_engine("triton", nets, etas, 4).steps(Rows(xs, ys))
    torch.testing.assert_close(errors, expected, **MNIST)
    for got, want in zip(nets.w + nets.b, reference.w + reference.b):
        torch.testing.assert_close(got, want, **MNIST)
    for k, c in enumerate(configs):  # padding stayed inert: network k equals its own single run's steps
        single = SigmoidNetwork(c.sizes, generator=torch.Generator().manual_seed(c.seed))
        e = torch.empty(rows, 10)
        backprop_steps(single.layers, xs[k].split(4), ys[k].split(4), c.lr, e.split(4))
        for got, want in zip(nets.network(k).parameters(), single.parameters()):
            torch.testing.assert_close(got, want, **MNIST)


def test_stacked_kernel_refuses_groups_without_a_hidden_layer():
    with pytest.raises(ValueError, match="one hidden layer"):
        make_engine("triton", _stacked([Config((), 3.0, 10, 0)]), [3.0], 10)


def test_the_registry_makes_the_stack_engines():
    nets = _stacked([Config((8,), 3.0, 4, 0)])
    assert isinstance(make_engine("backprop", nets, [3.0], 4), StackedBackprop)
    assert isinstance(make_engine("triton", nets, [3.0], 4), TritonSteps)
    assert make_engine("triton-tf32", nets, [3.0], 4).precision == "tf32"
    with pytest.raises(ValueError, match="engine cudagraph trains one network"):
        make_engine("cudagraph", nets, [3.0], 4)
    with pytest.raises(ValueError, match="unknown engine"):
        make_engine("cuda", nets, [3.0], 4)
