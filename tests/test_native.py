"""The native (C++) engine takes exactly the backprop engine's SGD steps (eq. 20-21).

Real MNIST rows, the same initial weights: float64 step for step to 1e-12, float32 within
float32 rounding (no further from the float64 truth than the backprop engine itself), the same
Epoch lines through Lightning's Trainer, resume bit-identical with itself, a one-line notice and
the backprop engine's own steps where the extension cannot be used, and two processes building
the extension at once.  The first test builds the extension (on CI: on a fresh machine).
"""

import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from nndigits.learn import native
from nndigits.learn.book import BookNetwork, format_epoch
from nndigits.learn.datamodule import MNISTDataModule, Rows
from nndigits.learn.engines import backprop_steps, make_engine
from nndigits.learn.mnist import TRAIN_SIZE
from nndigits.learn.network import SigmoidNetwork, one_hot

ETA, M = 3.0, 10

for _name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def rows(mnist_train):
    """3,005 real training rows in a fixed random order (300 full mini-batches and a short one of 5)."""
    x, labels = mnist_train
    index = torch.from_numpy(np.random.default_rng(7).permutation(TRAIN_SIZE)[:3005])
    return x[index], one_hot(labels[index])


def _twins(sizes, dtype, seed=3):
    a = SigmoidNetwork(sizes, generator=torch.Generator().manual_seed(seed)).to(dtype)
    b = SigmoidNetwork(sizes).to(dtype)
    b.load_state_dict(a.state_dict())
    return a, b


def native_steps(net, x, y, m, eta, errors, index=None):
    """The native engine's steps on one chunk, a - y of each row written into ``errors``."""
    errors.copy_(make_engine("native", net, eta, m).steps(Rows(x, y, index)))


def _max_diff(a, b) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.slow  # builds the C++ extension when its cache is cold: tens of seconds
def test_extension_builds_and_loads(record_property):
    """The C++ extension builds (first use) or loads from torch's cache; a failure names its reason."""
    assert native.available(), native.unavailable()
    record_property("native_build_or_load_seconds", native.build_seconds)


@pytest.mark.parametrize("sizes", [[784, 30, 10], [784, 17, 13, 10], [784, 10]])
def test_float64_step_for_step_equal_to_backprop(rows, sizes):
    """Each of the first 40 steps, then 261 more in chunks (the last mini-batch short): equal to 1e-12."""
    x, y = (t.double() for t in rows)
    backprop, ours = _twins(sizes, torch.float64)
    e_backprop, e_ours = torch.empty_like(y), torch.empty_like(y)
    for k in range(0, 40 * M, M):  # one step per call, compared after every step
        backprop_steps(backprop.layers, [x[k : k + M]], [y[k : k + M]], ETA, [e_backprop[k : k + M]])
        native_steps(ours, x[k : k + M], y[k : k + M], M, ETA, e_ours[k : k + M])
        assert _max_diff(backprop, ours) <= 1e-12, k // M
    rest = slice(40 * M, None)
    backprop_steps(backprop.layers, x[rest].split(M), y[rest].split(M), ETA, e_backprop[rest].split(M))
    for chunk in torch.arange(40 * M, len(x)).split(700):  # chunks of 70 mini-batches, as Lightning feeds them
        native_steps(ours, x[chunk], y[chunk], M, ETA, e_ours[chunk[0] : chunk[-1] + 1])
    start = SigmoidNetwork(sizes, generator=torch.Generator().manual_seed(3)).double()
    assert _max_diff(start, ours) > 0.1  # it did learn
    assert _max_diff(backprop, ours) <= 1e-12
    assert (e_backprop - e_ours).abs().max().item() <= 1e-12  # a - y of every example, as the training cost uses


def test_float32_within_rounding(rows):
    """In float32, 301 steps: no further from the float64 steps than the backprop engine's own float32 steps."""
    x, y = rows
    truth, _ = _twins([784, 30, 10], torch.float64)
    backprop, ours = _twins([784, 30, 10], torch.float32)
    errors = torch.empty_like(y)
    backprop_steps(truth.layers, x.double().split(M), y.double().split(M), ETA, errors.double().split(M))
    backprop_steps(backprop.layers, x.split(M), y.split(M), ETA, errors.split(M))
    native_steps(ours, x, y, M, ETA, errors)
    off_backprop, off_ours = _max_diff(truth, backprop.double()), _max_diff(truth, ours.double())
    assert off_ours <= max(4 * off_backprop, 1e-5), (off_ours, off_backprop)
    assert _max_diff(backprop, ours) <= 1e-4


def test_fallback_takes_the_backprop_steps_with_a_one_line_notice(rows, monkeypatch, capsys):
    """No extension (no compiler, failed build): the backprop engine's steps exactly, and one line on stderr, once."""
    x, y = (t[:200] for t in rows)
    backprop, ours = _twins([784, 30, 10], torch.float32)
    monkeypatch.setattr(native, "_module", None)
    monkeypatch.setattr(native, "_unavailable", "no C++ compiler found (set CXX or install g++)")
    monkeypatch.setattr(native, "_noticed", False)
    e1, e2 = torch.empty_like(y), torch.empty_like(y)
    backprop_steps(backprop.layers, x.split(M), y.split(M), ETA, e1.split(M))
    native_steps(ours, x[:100], y[:100], M, ETA, e2[:100])
    native_steps(ours, x[100:], y[100:], M, ETA, e2[100:])
    assert all(torch.equal(p, q) for p, q in zip(backprop.parameters(), ours.parameters()))
    assert torch.equal(e1, e2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "native engine unavailable: no C++ compiler" in err and "backprop" in err


def test_other_dtypes_fall_back_and_bad_shapes_are_refused(rows, monkeypatch, capsys):
    x, y = (t[:50] for t in rows)
    monkeypatch.setattr(native, "_noticed", False)
    backprop, ours = _twins([784, 30, 10], torch.bfloat16)
    xb, yb = x.bfloat16(), y.bfloat16()
    e1, e2 = torch.empty_like(yb), torch.empty_like(yb)
    backprop_steps(backprop.layers, xb.split(M), yb.split(M), ETA, e1.split(M))
    native_steps(ours, xb, yb, M, ETA, e2)
    assert all(torch.equal(p, q) for p, q in zip(backprop.parameters(), ours.parameters()))
    assert "float32 or float64" in capsys.readouterr().err
    net = SigmoidNetwork([784, 30, 10])
    with pytest.raises(ValueError, match="shapes"):
        native_steps(net, x[:, :700], y, M, ETA, torch.empty_like(y))
    with pytest.raises(ValueError, match="shapes"):
        native_steps(net, x, y[:, :9], M, ETA, torch.empty_like(y[:, :9]))
    with pytest.raises(ValueError, match="at least 1"):
        native_steps(net, x, y, 0, ETA, torch.empty_like(y))


def test_non_contiguous_inputs(rows):
    """Strided views in (a transposed copy's transpose): the same steps as contiguous tensors."""
    x, y = (t[:100].double() for t in rows)
    a, b = _twins([784, 30, 10], torch.float64)
    e1 = torch.empty_like(y)
    e2 = torch.empty(10, 100, dtype=torch.float64).t()
    native_steps(a, x, y, M, ETA, e1)
    native_steps(b, x.t().contiguous().t(), y.t().contiguous().t(), M, ETA, e2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.equal(e1, e2)


def test_divergence_reaches_the_weights_as_nan(rows):
    """No -ffast-math: an absurd eta makes infinities and NaNs, which the caller's finiteness check must see."""
    x, y = (t[:500] for t in rows)
    net = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(0))
    net.layers[0].weight.data[0, 0] = float("nan")
    native_steps(net, x, y, M, ETA, torch.empty_like(y))
    assert not torch.isfinite(net.layers[1].weight).all()


def _fit(engine, epochs, precision, resume=None, logdir=None):
    model = BookNetwork([784, 30, 10], lr=ETA, batch_size=M, seed=1, engine=engine)
    model.print = lambda *args, **kwargs: None
    callbacks = []
    if logdir is not None:
        callbacks = [pl.callbacks.ModelCheckpoint(dirpath=logdir, save_last=True)]
    trainer = pl.Trainer(
        max_epochs=epochs,
        precision=precision,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=logdir is not None,
        callbacks=callbacks,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, datamodule=MNISTDataModule(batch_size=M, seed=1), ckpt_path=resume)
    return model


@pytest.mark.slow
def test_same_epoch_line_as_backprop_through_the_trainer_float64():
    """A whole epoch through the Trainer in float64 (5,000 steps, then evaluation): the same Epoch line.

    SGD at eta = 3 amplifies rounding about tenfold every 700-800 steps, and the backprop and autograd
    engines (both torch, the same algorithm) drift apart exactly as fast as native and backprop do
    (measured on bare loops: ~1e-8 in the weights after one epoch, ~0.3 after two, for both pairs).  So
    one epoch is where "the same line" is a sharp test; longer runs are compared in float32 below.
    """
    torch.set_flush_denormal(True)  # as train_run does
    ours, theirs = _fit("native", 1, "64-true"), _fit("backprop", 1, "64-true")
    assert format_epoch(ours.history[0]) == format_epoch(theirs.history[0])
    assert ours.history[0]["test/correct"] == theirs.history[0]["test/correct"]
    assert _max_diff(ours.net, theirs.net) <= 1e-6


@pytest.mark.slow
def test_float32_run_accuracies_close_and_resume_bit_identical(tmp_path):
    """Float32 (the default): accuracies near backprop's; stopped after epoch 0 and resumed, bit-identical."""
    torch.set_flush_denormal(True)
    straight = _fit("native", 2, "32-true", logdir=tmp_path / "a")
    theirs = _fit("backprop", 2, "32-true")
    for ours_epoch, their_epoch in zip(straight.history, theirs.history):
        # float32 rounding takes two runs of 10,000 chaotic steps apart; the accuracy stays within 0.5 points
        assert abs(ours_epoch["test/correct"] - their_epoch["test/correct"]) <= 50
        assert abs(ours_epoch["val/correct"] - their_epoch["val/correct"]) <= 50
    _fit("native", 1, "32-true", logdir=tmp_path / "b")
    resumed = _fit("native", 2, "32-true", resume=str(tmp_path / "b" / "last.ckpt"), logdir=tmp_path / "c")
    assert resumed.history == straight.history[1:]
    assert all(torch.equal(p, q) for p, q in zip(straight.net.parameters(), resumed.net.parameters()))


@pytest.mark.slow
def test_two_processes_building_at_once(tmp_path):
    """Two first uses at the same time, one fresh extension cache: torch's file lock lets both load one build."""
    code = (
        "import sys, torch; from nndigits.learn import native; "
        "assert native.available(), native.unavailable(); "
        "from nndigits.learn.datamodule import Rows; from nndigits.learn.engines import make_engine; "
        "from nndigits.learn.network import SigmoidNetwork; "
        "x, y = torch.rand(6, 4), torch.rand(6, 2); "
        "make_engine('native', SigmoidNetwork([4, 3, 2]), 1.0, 2).steps(Rows(x, y)); "
        "print('built', round(native.build_seconds, 1))"
    )
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path), PYTHONPATH=os.getcwd())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.startswith("built"), (out, err)
        assert "unavailable" not in err
    print("first-use build, two processes at once:", [out.strip() for out, _ in outs])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rows_read_by_number_are_the_gathered_rows(mnist_train, dtype):
    """``index=``: the steps on x[index] read in place are bit for bit the steps on the gathered copy."""
    x, labels = mnist_train
    x, y = x[:TRAIN_SIZE].to(dtype), one_hot(labels[:TRAIN_SIZE], 10, dtype)
    index = torch.from_numpy(np.random.default_rng(11).permutation(TRAIN_SIZE)[:2005])
    a, b = _twins([784, 30, 10], dtype)
    e1, e2 = torch.empty(2005, 10, dtype=dtype), torch.empty(2005, 10, dtype=dtype)
    for chunk in index.split(500):  # chunks of 50 mini-batches, the last one short (5 rows)
        native_steps(a, x[chunk], y[chunk], M, ETA, e1[: len(chunk)])
        native_steps(b, x, y, M, ETA, e2[: len(chunk)], index=chunk)
        assert torch.equal(e1[: len(chunk)], e2[: len(chunk)])
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert _max_diff(a, SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(3)).to(dtype)) > 0.1


def test_float32_rows_into_float64_weights_convert_like_to(rows):
    """float32 data, float64 weights (Lightning's precision="64-true"): as if the rows were ``.double()``'d first."""
    x, y = rows
    a, b = _twins([784, 30, 10], torch.float64)
    e1, e2 = torch.empty(len(x), 10, dtype=torch.float64), torch.empty(len(x), 10, dtype=torch.float64)
    index = torch.arange(len(x)).flip(0)
    native_steps(a, x.double()[index], y.double()[index], M, ETA, e1)
    native_steps(b, x, y, M, ETA, e2, index=index)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.equal(e1, e2)


def test_bad_row_numbers_are_refused_before_any_step(rows):
    x, y = (t[:100] for t in rows)
    net = SigmoidNetwork([784, 30, 10])
    before = [p.clone() for p in net.parameters()]
    for bad in (torch.tensor([0, 1, 100]), torch.tensor([5, -1]), torch.tensor([2**62])):
        with pytest.raises(IndexError, match="not a row of x"):
            native_steps(net, x, y, M, ETA, torch.empty(len(bad), 10), index=bad)
    with pytest.raises(ValueError, match="int64"):
        native_steps(net, x, y, M, ETA, torch.empty(2, 10), index=torch.tensor([0, 1], dtype=torch.int32))
    weights, biases = [l.weight for l in net.layers], [l.bias for l in net.layers]
    with pytest.raises(ValueError, match="shapes"):  # room for 3 errors, 2 rows named
        native.steps_or_reason(weights, biases, x, y, M, ETA, torch.empty(3, 10), index=torch.tensor([0, 1]))
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
