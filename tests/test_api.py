"""The Python API (nndigits/api.py): fit through the command's training path, load, predict, mnist, figures.

Trainings are real (one epoch of the book's network on the real MNIST split);
predictions on real test digits are compared with ``python -m nndigits.predict``
run as a subprocess on the same image files and checkpoint.
"""

import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nndigits
from nndigits.learn.checkpoints import CheckpointError
from nndigits.learn.network import SigmoidNetwork
from nndigits.learn.run import run_name
from nndigits.use.image_files import ImageError
from nndigits.use.images import save_mnist_png

ROOT = Path(__file__).resolve().parent.parent
EPOCH_LINE = re.compile(r"^Epoch (\d+): (\d+) / (\d+)")


@pytest.fixture(scope="module")
def quick_run():
    """One epoch of the book's run, no logs: (net, history, printed lines)."""
    lines = []
    net, history = nndigits.fit(epochs=1, seed=3, logdir=None, say=lines.append)
    return net, history, lines


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    """The same epoch with logs and a checkpoint under a temporary logdir: (net, history, logdir)."""
    logdir = tmp_path_factory.mktemp("runs")
    net, history = nndigits.fit(epochs=1, seed=3, logdir=logdir, verbose=False)
    return net, history, logdir


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory, mnist_test):
    """The first 40 MNIST test digits as PNG files (white ink on black, as MNIST stores them)."""
    folder = tmp_path_factory.mktemp("digits")
    x, labels = mnist_test
    paths = []
    for i in range(40):
        path = folder / f"test{i:02d}_label{int(labels[i])}.png"
        save_mnist_png(x[i].numpy(), path)
        paths.append(path)
    return paths


def test_import_nndigits_stays_light():
    """``import nndigits`` loads neither torch nor Lightning (nor numpy, nor matplotlib), so ``--help`` is instant."""
    code = (
        "import sys, nndigits\n"
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'lightning', 'matplotlib', 'numpy') if m in sys.modules]\n"
        "print('heavy:', heavy, 'fit' in dir(nndigits))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "heavy: [] True"


def test_the_api_arrives_on_first_use():
    import nndigits.api

    assert nndigits.fit is nndigits.api.fit and nndigits.load is nndigits.api.load
    assert nndigits.mnist is nndigits.api.mnist and nndigits.Network is nndigits.api.Network
    assert set(nndigits.api.__all__) <= set(dir(nndigits))


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'train_network'"):
        nndigits.train_network  # noqa: B018


@pytest.mark.slow
def test_fit_prints_the_epoch_lines_and_returns_what_the_trainer_measured(quick_run, mnist_test):
    net, history, lines = quick_run
    assert net.sizes == [784, 30, 10]
    assert net.checkpoint is None
    assert len(history) == 1 and history is net.history
    epochs = [EPOCH_LINE.match(line) for line in lines if EPOCH_LINE.match(line)]
    assert [(int(m[1]), int(m[2]), int(m[3])) for m in epochs] == [(0, history[0]["test/correct"], 10_000)]
    # the in-memory network is the one the Trainer evaluated: same count on the real test set
    assert net.evaluate(mnist_test) == history.test_correct[0]
    assert history.test_accuracy == [history[0]["test/correct"] / 10_000]
    assert history[0]["test/correct"] > 8_000  # one epoch of the book's SGD learns (random: ~1,000)
    with pytest.raises(AttributeError, match="no column"):
        history.test_f1  # noqa: B018


@pytest.mark.slow
def test_fit_with_a_logdir_writes_the_commands_logs_and_checkpoint(quick_run, logged_run, mnist_test):
    net, history, logdir = logged_run
    version = logdir / run_name([784, 30, 10], 3.0, 10, 3) / "version_0"
    assert net.checkpoint == version / "checkpoints" / "last.ckpt" and net.checkpoint.is_file()
    assert list(version.glob("events.out.tfevents.*"))
    # logging changes nothing in the training: the same seed learns the same weights
    quiet, _, _ = quick_run
    for a, b in zip(quiet.module.parameters(), net.module.parameters()):
        assert torch.equal(a, b)
    loaded = nndigits.load(net.checkpoint)
    x = mnist_test[0]
    assert torch.equal(loaded.predict(x), net.predict(x))
    assert torch.equal(loaded.feedforward(x[:100]), net.feedforward(x[:100]))
    assert loaded.evaluate(mnist_test) == history.test_correct[0]


@pytest.mark.slow
def test_interrupting_fit_returns_the_network_learned_so_far():
    """Ctrl-C (a notebook's stop button sends the same SIGINT) ends training; fit still returns (net, history)."""
    code = (
        "import signal, nndigits\n"
        "net, history = nndigits.fit(epochs=30, logdir=None)\n"
        "print('returned', len(history), history.test_correct)\n"
        "print('Ctrl-C works again:', signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal or a notebook kernel has it: a shell that started these tests in the background
        # has them ignore SIGINT, and a Python started ignoring SIGINT keeps ignoring it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = []
    for line in child.stdout:
        lines.append(line.rstrip())
        if line.startswith("Epoch 0:"):
            child.send_signal(signal.SIGINT)
    assert child.wait(timeout=120) == 0, child.stderr.read()
    said = (lines, child.stderr.read()[-2000:])
    assert any(line.startswith("interrupted after ") for line in lines), said
    returned = [line for line in lines if line.startswith("returned ")]
    assert returned and int(returned[0].split()[1]) < 30, said
    assert "Ctrl-C works again: True" in lines, said  # Lightning leaves SIGINT ignored; train_run restores it


@pytest.mark.slow
@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"epochs": 0}, "epochs must be at least 1, got '0'"),  # it returned an untrained network without a word
        ({"m": 0}, "m must be at least 1"),
        ({"m": 50_001}, "m must be at most 50000 (the training set)"),
        ({"eta": -1.0}, "eta must be greater than 0"),
        ({"eta": 1e-40}, "smaller is 0 in float32"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"epochs": 2.5}, "epochs must be a whole number"),
        ({"sizes": [100, 30, 10]}, "start with 784 inputs"),
        ({"sizes": [784, 0, 10]}, "every layer needs at least one neuron"),
        ({"sizes": [784, *[1] * 101, 10]}, "at most 100 hidden layers"),
        ({"engine": "warp"}, "engine must be one of native"),
    ],
)
def test_fit_refuses_what_train_refuses_before_any_work(settings, words, monkeypatch):
    """fit checks its settings once, where they enter, against the bounds the flags of train use (chapter.py)."""
    import nndigits.learn.run

    monkeypatch.setattr(nndigits.learn.run, "train_run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=re.escape(words)):
        nndigits.fit(**settings, logdir=None)


def test_fit_refuses_a_network_larger_than_memory_in_one_clear_error(monkeypatch):
    import nndigits.learn.run
    from nndigits.core.machine import NetworkTooLarge

    monkeypatch.setattr(nndigits.learn.run, "train_run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(NetworkTooLarge, match=r"needs about .* GiB of memory; this machine has"):
        nndigits.fit(sizes=[784, 10**7, 10], logdir=None)


def test_predict_agrees_with_the_predict_command(logged_run, digit_files, mnist_test):
    net, _, _ = logged_run
    command = subprocess.run(
        [sys.executable, "-m", "nndigits.predict", "--checkpoint", str(net.checkpoint), *map(str, digit_files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert command.returncode == 0, command.stderr
    printed = {}
    for line in command.stdout.splitlines():
        path, _, rest = line.partition(": ")
        printed[path] = (int(rest[0]), float(re.search(r"confidence ([0-9.]+)", rest)[1]))
    api = net.predict(digit_files)
    assert api.tolist() == [printed[str(p)][0] for p in digit_files]
    for path, (digit, confidence, _, _) in zip(digit_files, net.classify(digit_files)):
        assert digit == printed[str(path)][0] and f"{confidence:.2f}" == f"{printed[str(path)][1]:.2f}"
    # a single file gives an int; PIL images are prepared like files
    assert net.predict(digit_files[0]) == api[0]
    assert net.predict([Image.open(p) for p in digit_files]).tolist() == api.tolist()
    # the files are real MNIST test digits: the trained network gets most of them right
    labels = mnist_test[1][: len(digit_files)]
    assert (api == labels).sum() >= 30


def test_predict_accepts_mnist_style_arrays_and_tensors(mnist_test):
    net = nndigits.Network(SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(0)))
    x = mnist_test[0][:50]
    digits = net.predict(x)
    assert digits.shape == (50,) and digits.dtype == torch.long
    assert torch.equal(net.predict(x.numpy().reshape(50, 28, 28)), digits)
    assert torch.equal(net.predict(x.double().reshape(50, 28, 28)), digits)
    assert torch.equal(digits, net.feedforward(x).argmax(dim=1))
    assert net.predict(x[7].numpy().reshape(28, 28)) == int(digits[7])
    assert net.predict(x[7]) == int(digits[7])
    assert isinstance(net.predict(x[7]), int)
    photo = ROOT / "examples" / "digit_7_dark_on_light.png"  # dark ink on light paper: inverted, cropped, centred
    assert torch.equal(net.feedforward(Image.open(photo)), net.feedforward(photo))
    assert torch.equal(net.feedforward(Image.open(photo).convert("RGBA")), net.feedforward(photo))


def test_predict_refuses_what_is_not_a_digit(tmp_path):
    net = nndigits.Network(SigmoidNetwork([784, 10]))
    with pytest.raises(ValueError, match="not MNIST digits"):
        net.predict(np.zeros((5, 27)))
    with pytest.raises(ValueError, match="empty list"):
        net.predict([])
    with pytest.raises(ImageError, match="no such file"):
        net.predict(tmp_path / "missing.png")
    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    with pytest.raises(ImageError, match="no ink"):
        net.predict(blank)


def test_load_refuses_what_is_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        nndigits.load(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        nndigits.load(tmp_path / "none.ckpt")


@pytest.mark.slow
def test_mnist_is_the_books_split(mnist_train, mnist_test):
    training, validation, test = nndigits.mnist()
    assert training.images.shape == (50_000, 784) and training.labels.shape == (50_000,)
    assert validation.images.shape == (10_000, 784) and test.images.shape == (10_000, 784)
    assert (
        training.images.dtype == torch.float32 and 0 <= float(training.images.min()) < float(training.images.max()) <= 1
    )
    assert torch.equal(training.images, mnist_train[0][:50_000]) and torch.equal(
        validation.labels, mnist_train[1][50_000:]
    )
    assert torch.equal(test.images, mnist_test[0]) and torch.equal(test.labels, mnist_test[1])
    assert sorted(training.labels.unique().tolist()) == list(range(10))


def test_figures_have_one_panel_per_picture(mnist_test):
    from matplotlib.figure import Figure

    net = nndigits.Network(SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(0)))
    hidden = net.show_hidden()
    assert isinstance(hidden, Figure) and len(hidden.axes) == 30
    assert len(nndigits.Network(SigmoidNetwork([784, 12, 10])).show_hidden().axes) == 12
    with pytest.raises(ValueError, match="only layer 0"):
        net.show_hidden(layer=1)
    wrong = len(mnist_test[1]) - net.evaluate(mnist_test)
    assert wrong > 12  # an untrained network is wrong about 90% of the time
    mistakes = net.show_mistakes(mnist_test, limit=12)
    assert isinstance(mistakes, Figure) and len(mistakes.axes) == 12
    titles = [ax.get_title() for ax in mistakes.axes]
    assert all(re.fullmatch(r"(\d) as (\d)", t) and t[0] != t[-1] for t in titles)
    confusion = net.show_confusion(mnist_test)
    assert isinstance(confusion, Figure) and len(confusion.axes) == 1
    assert f"{net.evaluate(mnist_test)} / 10000 right" in confusion.axes[0].get_title()
    history = nndigits.History([{"epoch": 0, "test/accuracy": 0.9, "val/accuracy": 0.91, "train/cost": 0.2}])
    curve = history.plot()
    assert isinstance(curve, Figure) and len(curve.axes) == 2
    assert [len(ax.lines) for ax in curve.axes] == [2, 1]


def test_confusion_counts_are_the_mistakes(mnist_test):
    from nndigits.use.figures import confusion_counts

    net = nndigits.Network(SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(1)))
    labels, predicted = mnist_test[1], net.predict(mnist_test[0])
    counts = confusion_counts(labels, predicted)
    assert counts.sum() == 10_000 and np.trace(counts) == net.evaluate(mnist_test)
    assert counts.sum(axis=1).tolist() == torch.bincount(labels, minlength=10).tolist()
    assert counts.sum(axis=0).tolist() == torch.bincount(predicted, minlength=10).tolist()
