"""On a CUDA GPU: the cudagraph engine and the compiled Triton kernels take the CPU engine's SGD steps.

Skipped without a GPU (the whole module, before triton's kernels are touched).
Tolerances: the graph replays the very kernels of an eager CUDA step, so it is
compared with eager CUDA at fp32 rounding (rtol 1e-5, atol 1e-6); against the
CPU engine (other summation orders, and the GPU's exp) rtol 1e-4, atol 1e-5
over a few dozen steps; TF32 dots (10-bit mantissas) only to rtol/atol 1e-2
over five steps.  These tolerances are set before any GPU run: the first one
(experiments/gpu_check.py) tells whether they hold.
"""

import copy
import os

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU: the CUDA tests run on a GPU (experiments/gpu_check.py)", allow_module_level=True)
if os.environ.get("TRITON_INTERPRET") == "1":
    pytest.skip("TRITON_INTERPRET=1: these tests need the compiled kernels", allow_module_level=True)

from nndigits.learn.datamodule import Rows  # noqa: E402
from nndigits.learn.devices import choose_accelerator  # noqa: E402
from nndigits.learn.engines import backprop_steps, make_engine  # noqa: E402
from nndigits.learn.network import SigmoidNetwork, one_hot  # noqa: E402
from nndigits.studies.sweep.grid import Config  # noqa: E402
from nndigits.studies.sweep.stacked import StackedNetworks  # noqa: E402

CUDA = torch.device("cuda")
SAME_DEVICE = dict(rtol=1e-5, atol=1e-6)
VS_CPU = dict(rtol=1e-4, atol=1e-5)
TF32 = dict(rtol=1e-2, atol=1e-2)


def _book_net(seed=1, device=CUDA):
    return SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(seed)).to(device)


def _chunk(mnist_train, start, rows):
    images, labels = mnist_train
    return images[start : start + rows], one_hot(labels[start : start + rows])


def _assert_nets_close(got, want, tolerance):
    for g, w in zip(got.parameters(), want.parameters()):
        torch.testing.assert_close(g.detach().cpu(), w.detach().cpu(), **tolerance)


def test_cudagraph_replays_the_eager_steps(mnist_train):
    """Two chunks of 500 rows (one graph, replayed twice) and a short one of 130 (its own graph, a short last batch)."""
    net = _book_net()
    eager, cpu = copy.deepcopy(net), copy.deepcopy(net).cpu()
    engine = make_engine("cudagraph", net, 3.0, 10)
    for start, rows in ((0, 500), (500, 500), (1000, 133)):
        x, y = _chunk(mnist_train, start, rows)
        expected = torch.empty(rows, 10, device=CUDA)
        expected_cpu = torch.empty_like(y)
        errors = engine.steps(Rows(x.to(CUDA), y.to(CUDA)))
        backprop_steps(eager.layers, x.to(CUDA).split(10), y.to(CUDA).split(10), 3.0, expected.split(10))
        backprop_steps(cpu.layers, x.split(10), y.split(10), 3.0, expected_cpu.split(10))
        torch.testing.assert_close(errors, expected, **SAME_DEVICE)
        _assert_nets_close(net, eager, SAME_DEVICE)
    _assert_nets_close(net, cpu, VS_CPU)
    assert len(engine._graphs) == 2  # one graph per chunk length


def test_cudagraph_capture_takes_no_extra_step(mnist_train):
    """Warm-up and capture leave the weights alone: one call is exactly one chunk of steps."""
    net = _book_net(seed=2)
    reference = copy.deepcopy(net)
    x, y = (t.to(CUDA) for t in _chunk(mnist_train, 0, 20))
    make_engine("cudagraph", net, 3.0, 10).steps(Rows(x, y))
    backprop_steps(reference.layers, x.split(10), y.split(10), 3.0, [torch.empty(10, 10, device=CUDA)] * 2)
    _assert_nets_close(net, reference, SAME_DEVICE)


@pytest.mark.parametrize("precision, tolerance", [("ieee", VS_CPU), ("tf32", TF32)])
def test_triton_kernel_takes_the_cpu_steps(mnist_train, precision, tolerance):
    x, y = _chunk(mnist_train, 0, 50 if precision == "tf32" else 503)
    net, cpu = _book_net(), _book_net(device="cpu")
    expected = torch.empty_like(y)
    engine = "triton" if precision == "ieee" else "triton-tf32"
    errors = make_engine(engine, net, 3.0, 10).steps(Rows(x.to(CUDA), y.to(CUDA)))
    backprop_steps(cpu.layers, x.split(10), y.split(10), 3.0, expected.split(10))
    torch.testing.assert_close(errors.cpu(), expected, **tolerance)
    _assert_nets_close(net, cpu, tolerance)


def test_triton_stacked_takes_the_sweep_steps(mnist_train):
    configs = [Config((30,), 3.0, 10, s) for s in range(6)] + [Config((20,), 1.0, 10, 7), Config((10,), 0.5, 10, 8)]
    images, labels = mnist_train
    g = torch.Generator().manual_seed(0)
    idx = torch.stack([torch.randperm(2000, generator=g)[:250] for _ in configs])
    xs, ys = images[idx], one_hot(labels[idx])
    reference, nets = StackedNetworks(configs), StackedNetworks(configs, device=CUDA)
    etas = [c.lr for c in configs]
    expected = make_engine("backprop", reference, etas, 10).steps(Rows(xs, ys))
    errors = make_engine("triton", nets, etas, 10).steps(Rows(xs.to(CUDA), ys.to(CUDA)))
    torch.testing.assert_close(errors.cpu(), expected, **VS_CPU)
    for got, want in zip(nets.w + nets.b, reference.w + reference.b):
        torch.testing.assert_close(got.cpu(), want, **VS_CPU)


def test_auto_still_means_cpu_with_a_gpu_present():
    assert choose_accelerator("auto", [784, 30, 10], 10) == "cpu"
    assert choose_accelerator("auto", [784, 30, 10], 10, "cudagraph") == "gpu"


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["cudagraph", "triton", "backprop"])
def test_book_run_end_to_end_on_cuda(engine, tmp_path):
    """``train_run`` on the GPU through the same LightningModule: one epoch of the book's run learns the digits."""
    from nndigits.learn.run import train_run

    result = train_run(epochs=1, engine=engine, accelerator="gpu", logdir=tmp_path, say=None)
    assert result.trainer.strategy.root_device.type == "cuda"
    assert result.trainer.global_step == 5000
    assert result.history[-1]["test/accuracy"] > 0.85
    assert result.checkpoint is not None and result.checkpoint.exists()
