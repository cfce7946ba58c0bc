"""The torch implementation IS the book's algorithm.

Same initial weights, same mini-batches of real MNIST rows in the same order,
float64 everywhere: torch (autograd + torch.optim.SGD, and explicit backprop),
the real LightningModule driven by a real Trainer, and the from-scratch NumPy
reference (per-example and vectorised) must end at the same weights to within
1e-9 -- rounding, not a different algorithm.  Also: the training order
MNISTDataModule feeds Lightning is exactly EpochOrder's, a permutation of the
50,000 training rows that depends on (seed, epoch) alone.
"""

import logging
import warnings

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from nndigits.core.scratch import Network
from nndigits.learn.book import BookNetwork
from nndigits.learn.datamodule import Chunks, EpochOrder, MNISTDataModule, Rows, TrainingChunks
from nndigits.learn.engines import make_engine
from nndigits.learn.mnist import TRAIN_SIZE, load_split
from nndigits.learn.network import SigmoidNetwork, one_hot, quadratic_cost

ETA, M, STEPS, CHUNK_STEPS = 3.0, 10, 200, 50
TOLERANCE = 1e-9

for _name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def mnist():
    """MNIST's training images (float32, as the DataModule holds them) and labels, from the shared cache."""
    return load_split(train=True)


@pytest.fixture(scope="module")
def rows():
    """A fixed random sequence of STEPS * M distinct rows of the book's 50,000-image training set."""
    return np.random.default_rng(2024).permutation(TRAIN_SIZE)[: STEPS * M]


def _params(layers) -> list[np.ndarray]:
    """[w_1, ..., w_L, b_1, ..., b_L] of an nn.Linear stack, as float64 NumPy copies."""
    return [l.weight.detach().double().cpu().numpy().copy() for l in layers] + [
        l.bias.detach().double().cpu().numpy().copy() for l in layers
    ]


def _max_diff(torch_params, reference: Network) -> float:
    return max(float(np.abs(p - q).max()) for p, q in zip(torch_params, reference.weights + reference.biases))


def _reference(layers, x, y, order, vectorised=True) -> Network:
    """The NumPy network started from these torch layers' weights, trained one epoch over ``order``."""
    params = _params(layers)
    net = Network(
        [layers[0].in_features] + [l.out_features for l in layers],
        weights=params[: len(layers)],
        biases=params[len(layers) :],
    )
    net.SGD(x, y, epochs=1, m=M, eta=ETA, order=lambda epoch: order, vectorised=vectorised)
    return net


@pytest.mark.slow
def test_torch_engines_match_numpy_on_mnist(mnist, rows, record_property):
    """(a) 200 steps at eta = 3, m = 10 on real MNIST: autograd, backprop and NumPy agree to 1e-9."""
    x32, labels = mnist
    index = torch.from_numpy(rows)
    x = x32[index].double()  # only the rows used: the steps take rows 0, 1, 2, ... of these in turn
    y = one_hot(labels[index], 10, torch.float64)
    start = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(7))

    # (i) the textbook PyTorch loop: quadratic cost, autograd, torch.optim.SGD
    autograd_net = SigmoidNetwork([784, 30, 10]).double()
    autograd_net.load_state_dict(start.state_dict())
    optimizer = torch.optim.SGD(autograd_net.parameters(), lr=ETA)
    # (ii) the explicit backpropagation engine the LightningModule uses by default
    backprop_net = SigmoidNetwork([784, 30, 10]).double()
    backprop_net.load_state_dict(start.state_dict())
    backprop = make_engine("backprop", backprop_net, ETA, M)

    for k in range(0, len(x), M):
        batch = slice(k, k + M)
        optimizer.zero_grad()
        quadratic_cost(autograd_net(x[batch]), y[batch]).backward()
        optimizer.step()
        backprop.steps(Rows(x[batch], y[batch]))

    # (iii) the NumPy reference, both forms, same start and same rows
    x_np, y_np = x.numpy(), y.numpy()
    in_turn = np.arange(len(x_np))
    vectorised = _reference(start.layers, x_np, y_np, in_turn, vectorised=True)
    per_example = _reference(start.layers, x_np, y_np, in_turn, vectorised=False)

    trained = _params(autograd_net.layers)
    assert _max_diff(trained, Network([784, 30, 10], *_split(_params(start.layers)))) > 0.1  # it did learn
    diffs = {
        "autograd_vs_numpy": _max_diff(trained, vectorised),
        "autograd_vs_numpy_per_example": _max_diff(trained, per_example),
        "backprop_vs_numpy": _max_diff(_params(backprop_net.layers), vectorised),
        "backprop_vs_numpy_per_example": _max_diff(_params(backprop_net.layers), per_example),
        "numpy_vectorised_vs_per_example": _max_diff(vectorised.weights + vectorised.biases, per_example),
        "backprop_vs_autograd": max(
            (p - q).abs().max().item() for p, q in zip(backprop_net.parameters(), autograd_net.parameters())
        ),
    }
    for name, value in diffs.items():
        record_property(name, value)
    print("max |diff|:", {k: f"{v:.2e}" for k, v in diffs.items()})
    assert max(diffs.values()) < TOLERANCE, diffs


def _split(params):
    half = len(params) // 2
    return params[:half], params[half:]


def _trainer(**overrides) -> pl.Trainer:
    options = dict(
        max_epochs=1,
        precision="64-true",
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        enable_model_summary=False,
    )
    return pl.Trainer(**(options | overrides))


@pytest.mark.parametrize(
    "engine, chunks",
    [
        ("backprop", Chunks),
        ("autograd", Chunks),
        ("native", Chunks),
        ("native", TrainingChunks),
        ("backprop", TrainingChunks),
    ],
)
def test_lightning_module_matches_numpy_on_mnist(mnist, rows, engine, chunks, record_property):
    """(b) BookNetwork through a real Trainer (float64), fed the rows in a fixed order in chunks, equals NumPy.

    The chunks come as gathered (x, y) pairs, which Lightning converts to float64, or as ``Rows`` of the
    float32 training set (as MNISTDataModule gives them), which the engine reads and converts itself.
    """
    x32, labels = mnist
    train = chunks(x32[:TRAIN_SIZE], one_hot(labels[:TRAIN_SIZE]))  # as MNISTDataModule holds it: float32
    order = torch.from_numpy(rows)
    loader = DataLoader(train, sampler=order.split(M * CHUNK_STEPS), batch_size=None)  # as train_dataloader does
    model = BookNetwork([784, 30, 10], lr=ETA, batch_size=M, seed=5, engine=engine)
    start = _params(model.net.layers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _trainer().fit(model, train_dataloaders=loader)
    assert model.net.layers[0].weight.dtype == torch.float64  # precision="64-true" took effect

    # NumPy gets the same float32 pixels as float64 -- exactly what precision="64-true" turns them into.
    x_np = x32[:TRAIN_SIZE][order].double().numpy()
    y_np = one_hot(labels[:TRAIN_SIZE][order], 10, torch.float64).numpy()
    w, b = _split(start)
    reference = Network([784, 30, 10], weights=w, biases=b)
    reference.SGD(x_np, y_np, epochs=1, m=M, eta=ETA, order=lambda epoch: np.arange(len(x_np)))
    trained = _params(model.net.layers)
    assert max(float(np.abs(p - q).max()) for p, q in zip(trained, start)) > 0.1  # it did learn
    diff = _max_diff(trained, reference)
    record_property(f"lightning_{engine}_{chunks.__name__}_vs_numpy", diff)
    print(f"max |diff| lightning[{engine}, {chunks.__name__}] vs numpy: {diff:.2e}")
    assert diff < TOLERANCE


# --- the training order ------------------------------------------------------------------


class _Recorder(pl.LightningModule):
    """Does no learning; checks every training chunk Lightning delivers against EpochOrder.order(epoch)."""

    def __init__(self, order: EpochOrder, train: Chunks):
        super().__init__()
        self.automatic_optimization = False
        self.expected, self.train = order, train
        self.seen: dict[int, list[torch.Tensor]] = {}
        self.matches = 0

    def training_step(self, chunk, chunk_idx):
        assert isinstance(chunk, Rows) and chunk.x is self.train.x  # row numbers into the training set, not a copy
        x, y = chunk.gather()
        seen = self.seen.setdefault(self.current_epoch, [])
        offset = sum(len(s) for s in seen)
        index = self.expected.order(self.current_epoch)[offset : offset + len(x)]
        seen.append(index)
        self.matches += int(torch.equal(x, self.train.x[index]) and torch.equal(y, self.train.y[index]))

    def configure_optimizers(self):
        return None


@pytest.mark.slow
def test_datamodule_order_is_epoch_order(mnist):
    """What MNISTDataModule actually feeds the Trainer in epoch e is train[EpochOrder.order(e)], in chunks."""
    data = MNISTDataModule(batch_size=M, seed=3, chunk_steps=500)
    x32, labels = mnist
    # The DataModule's own tensors, put in place as its setup() would (setup skips once they exist).
    data.train = TrainingChunks(x32[:TRAIN_SIZE], one_hot(labels[:TRAIN_SIZE]))
    data.val = Chunks(x32[TRAIN_SIZE:], labels[TRAIN_SIZE:])
    data.test = data.val
    loader = data.train_dataloader()
    sampler = loader.sampler
    assert isinstance(sampler, EpochOrder) and sampler.n == TRAIN_SIZE and len(loader) == 10
    recorder = _Recorder(EpochOrder(TRAIN_SIZE, M, 500, seed=3), data.train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _trainer(max_epochs=3, precision="32-true").fit(recorder, datamodule=data)
    assert sorted(recorder.seen) == [0, 1, 2]
    assert recorder.matches == 30  # 3 epochs x 10 chunks of 5,000 rows, each exactly the expected rows
    orders = []
    for epoch in range(3):
        chunks = recorder.seen[epoch]
        assert [len(c) for c in chunks] == [5000] * 10  # whole mini-batches per chunk
        order = torch.cat(chunks)
        assert torch.equal(torch.sort(order).values, torch.arange(TRAIN_SIZE))  # every row exactly once
        orders.append(order)
    assert not torch.equal(orders[0], orders[1]) and not torch.equal(orders[1], orders[2])


def test_datamodule_loader_follows_set_epoch():
    """Iterating the DataModule's loader after set_epoch(e) gives order(e), with the row indices themselves."""
    data = MNISTDataModule(batch_size=M, seed=11, chunk_steps=500)
    index = torch.arange(TRAIN_SIZE)
    data.train = Chunks(index, index)  # rows that are their own index, so the loader reveals the order
    loader = data.train_dataloader()
    reference = EpochOrder(TRAIN_SIZE, M, 500, seed=11)
    for epoch in (0, 4, 1):
        loader.sampler.set_epoch(epoch)
        delivered = torch.cat([x for x, _ in loader])
        assert torch.equal(delivered, reference.order(epoch))
        assert torch.equal(torch.sort(delivered).values, index)


def test_epoch_order_depends_only_on_seed_and_epoch():
    a = EpochOrder(TRAIN_SIZE, 10, 500, seed=3)
    b = EpochOrder(TRAIN_SIZE, 20, 7, seed=3)  # different chunking, same seed
    first = [a.order(e) for e in range(3)]
    # same (seed, epoch) -> same order, whatever was asked before and however it is chunked
    assert all(torch.equal(b.order(e), first[e]) for e in (2, 0, 1))
    b.set_epoch(1)
    assert torch.equal(torch.cat(list(iter(b))), first[1])
    assert torch.equal(EpochOrder(TRAIN_SIZE, 10, 500, seed=3).order(1), first[1])
    # different epochs, different seeds -> different orders
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])
    assert not torch.equal(EpochOrder(TRAIN_SIZE, 10, 500, seed=4).order(0), first[0])
    for order in first:
        assert torch.equal(torch.sort(order).values, torch.arange(TRAIN_SIZE))
