"""``python -m nndigits.train``: flag errors, the real run end to end, resuming, divergence."""

import re
import subprocess
import sys

import pytest
import torch

from nndigits import train
from nndigits.learn.checkpoints import read_checkpoint

EPOCH_LINE = re.compile(r"^Epoch (\d+): (\d+) / 10000", re.M)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lr", "0"], "greater than 0"),
        (["--lr", "-3"], "greater than 0"),
        (["--lr", "inf"], "finite"),
        (["--batch-size", "0"], "at least 1"),
        (["--hidden", "30", "0"], "at least 1"),
        (["--epochs", "0"], "at least 1"),
        (["--seed", "-1"], "at least 0"),
        (["--seed", str(2**64)], "at most"),
        (["--accelerator", "tpu"], "invalid choice"),
        (["--engine", "magic"], "invalid choice"),
        (["--epochs", "three"], "must be a whole number"),
        (["--devices", "2"], "--devices: must be 1"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(flags, message, capsys):
    assert train.main(flags) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.slow
def test_bad_flag_from_the_command_line_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "nndigits.train", "--lr", "-1"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_hidden_flag_shapes():
    parser = train.build_parser()
    assert parser.parse_args([]).hidden == [30]
    assert parser.parse_args(["--hidden"]).hidden == []  # [784, 10]
    assert parser.parse_args(["--hidden", "100", "20"]).hidden == [100, 20]


def test_the_books_names_and_their_aliases_are_one_flag_each():
    """eta and m, as the book writes them; --lr and --batch-size name the same two flags."""
    parser = train.build_parser()
    book = parser.parse_args(["--eta", "0.5", "-m", "20"])
    alias = parser.parse_args(["--lr", "0.5", "--batch-size", "20"])
    assert (book.eta, book.m) == (alias.eta, alias.m) == (0.5, 20)
    defaults = parser.parse_args([])
    assert (defaults.eta, defaults.m, defaults.epochs, defaults.seed, defaults.hidden) == (3.0, 10, 30, 1, [30])
    assert (defaults.engine, defaults.logdir) == ("native", "runs")


def _run(args, capsys):
    code = train.main(args + ["--no-progress", "--accelerator", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    return out, [(int(j), int(k)) for j, k in EPOCH_LINE.findall(out)]


@pytest.fixture(scope="module")
def two_epochs(book_run):
    """conftest's shared run: the book's network trained for two epochs on the real MNIST (the real fetch path)."""
    return book_run.logdir, book_run.printed, book_run.epoch_lines


def test_one_epoch_learns_mnist(two_epochs):
    logdir, out, lines = two_epochs
    assert [j for j, _ in lines] == [0, 1]
    assert lines[0][1] >= 9000, out  # >= 90% test accuracy after a single epoch
    assert lines[1][1] > lines[0][1] - 100


def test_logs_scalars_hparams_and_a_checkpoint(two_epochs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir, out, lines = two_epochs
    run = logdir / "784-30-10_eta3_m10_seed1" / "version_0"
    events = EventAccumulator(str(run), size_guidance={"scalars": 0}).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/cost", "val/accuracy", "val/cost", "test/accuracy"} <= tags
    test_accuracy = [(e.step, e.value) for e in events.Scalars("test/accuracy")]
    assert [(step, round(v * 10000)) for step, v in test_accuracy] == lines  # the printed Epoch lines
    costs = [e.value for e in events.Scalars("train/cost")]
    assert len(costs) == 2 and costs[1] < costs[0]
    hparams = (run / "hparams.yaml").read_text()
    assert "lr: 3.0" in hparams and "batch_size: 10" in hparams and "seed: 1" in hparams
    checkpoint = read_checkpoint(run / "checkpoints" / "last.ckpt")
    assert checkpoint["global_step"] == 2 * 5000  # one per mini-batch
    assert not list(run.rglob("*.partial"))


def test_trainer_test_on_the_checkpoint_matches_the_last_epoch_line(two_epochs):
    """Lightning's own ``trainer.test`` on the saved checkpoint gives the accuracy the last Epoch line printed."""
    import pytorch_lightning as pl

    from nndigits.learn.book import BookNetwork
    from nndigits.learn.datamodule import MNISTDataModule

    logdir, out, lines = two_epochs
    ckpt = logdir / "784-30-10_eta3_m10_seed1" / "version_0" / "checkpoints" / "last.ckpt"
    model = BookNetwork.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    (result,) = trainer.test(model, datamodule=MNISTDataModule(), verbose=False)
    assert round(result["test/accuracy"] * 10000) == lines[-1][1]


@pytest.mark.slow
def test_same_seed_same_lines_and_resume_is_bit_exact(two_epochs, tmp_path, capsys):
    """Stopped after epoch 0 and resumed: the same Epoch lines and the same weights, bit for bit."""
    logdir, out, lines = two_epochs
    first, first_lines = _run(["--epochs", "1", "--logdir", str(tmp_path)], capsys)
    assert first_lines == lines[:1]  # same seed, same machine, same line
    ckpt = tmp_path / "784-30-10_eta3_m10_seed1" / "version_0" / "checkpoints" / "last.ckpt"
    resumed, resumed_lines = _run(["--epochs", "2", "--logdir", str(tmp_path), "--resume", str(ckpt)], capsys)
    assert resumed_lines == lines[1:]
    a = read_checkpoint(logdir / "784-30-10_eta3_m10_seed1" / "version_0" / "checkpoints" / "last.ckpt")["state_dict"]
    b = read_checkpoint(tmp_path / "784-30-10_eta3_m10_seed1" / "version_1" / "checkpoints" / "last.ckpt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_other_settings_and_bad_files(two_epochs, tmp_path, capsys):
    logdir, _, _ = two_epochs
    ckpt = logdir / "784-30-10_eta3_m10_seed1" / "version_0" / "checkpoints" / "last.ckpt"
    assert train.main(["--hidden", "20", "--resume", str(ckpt), "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "sizes [784, 30, 10]" in err and err.count("\n") == 1
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    assert train.main(["--resume", str(junk), "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "junk.ckpt is not a checkpoint" in err and err.count("\n") == 1
    assert train.main(["--resume", str(tmp_path / "missing.ckpt"), "--logdir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_divergence_is_reported_not_a_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nndigits.train",
            "--lr",
            "3e38",
            "--epochs",
            "2",
            "--logdir",
            str(tmp_path),
            "--accelerator",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "became NaN or infinite in epoch 0" in result.stderr and "smaller learning rate" in result.stderr


@pytest.mark.slow
def test_a_run_leaves_threads_and_subnormals_as_it_found_them(mnist_train):
    """train_run flushes subnormals to zero and sets its thread count only while it trains: a notebook's
    later float work gets IEEE subnormals and its own threads back."""
    from nndigits.learn.run import train_run

    torch.set_num_threads(2)
    result = train_run([784, 10], epochs=1, logdir=None, say=None, accelerator="cpu", threads=1)
    assert len(result.history) == 1 and result.history[0]["test/accuracy"] > 0.5  # it did train
    assert torch.get_num_threads() == 2
    assert torch.tensor(1e-40, dtype=torch.float32).item() > 0  # a float32 subnormal survives: no flush-to-zero


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped KeyboardInterrupt
def test_a_ctrl_c_that_python_drops_still_stops_the_run(mnist_train):
    """A Ctrl-C landing inside a finalizer (``__del__``) raises a KeyboardInterrupt that Python prints and drops;
    train_run has also asked the Trainer to stop, so the run ends after the current chunk all the same."""
    import signal

    import pytorch_lightning as pl

    from nndigits.learn.run import train_run

    class PressesCtrlCInAFinalizer:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)

    class CtrlCOnce(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.current_epoch == 0 and batch_idx == 1:
                PressesCtrlCInAFinalizer()  # made and dropped at once: its __del__ runs here

    # Ctrl-C as an interactive session has it (tests started in the background by a shell ignore SIGINT)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = train_run([784, 10], epochs=3, logdir=None, say=None, accelerator="cpu", callbacks=[CtrlCOnce()])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
    assert result.interrupted
    assert result.trainer.global_step < 5000  # stopped within the first epoch (3 epochs are 15,000 steps)
