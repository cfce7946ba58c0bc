"""The command toolkit (nndigits/cli/): validators bounded by dtypes and the machine, one-line errors, exit codes,
instant --help, and a property test driving every command with generated extreme values."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndigits import cli, data, perceptrons, predict, read, train
from nndigits.learn.atomic import stale_partials, write_atomic
from nndigits.learn.checkpoints import CheckpointError, load_network
from nndigits.learn.network import SigmoidNetwork

COMMANDS = {"train": train, "data": data, "predict": predict, "read": read, "perceptrons": perceptrons}
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def fake_checkpoint(path: Path, sizes=(784, 30, 10), claim=None, seed=0) -> Path:
    """A checkpoint shaped like the train command's (state_dict under net., sizes in hyper_parameters)."""
    net = SigmoidNetwork(list(sizes), generator=torch.Generator().manual_seed(seed))
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    hparams = {"sizes": list(claim or sizes), "lr": 3.0, "batch_size": 10, "seed": 1, "engine": "backprop"}
    torch.save({"epoch": 0, "state_dict": state, "hyper_parameters": hparams}, path)
    return path


def run_main(main, argv, cwd=None):
    """(exit code, stdout, stderr) of a command's main run in this process (in folder ``cwd`` if given, so that
    a generated relative path -- `--log x` is `--logdir x` -- lands in a temporary folder)."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


# -- validators ---------------------------------------------------------------------------------------------------


def _convert(kind, text, **kw):
    return cli.positive(kind, "--x", **kw)(text)


@pytest.mark.parametrize(
    "kind, text, message",
    [
        (int, "0", "at least 1"),
        (int, "-5", "at least 1"),
        (int, str(2**63), "at most"),
        (int, "9" * 5000, "whole number"),  # past Python's int-from-string digit limit
        (int, "1e3", "whole number"),
        (int, "3.0", "whole number"),
        (float, "0", "greater than 0"),
        (float, "-0.0", "greater than 0"),
        (float, "1e-40", "smaller is 0 in float32"),  # a float32 subnormal: 0 once denormals flush
        # a float64 subnormal; once a train run in this process has turned on flush-to-zero, Python's own
        # comparisons see it as 0 already
        (float, "1e-320", "smaller is 0 in float32|greater than 0"),
        (float, "1e39", "the largest float32"),  # finite in float64, inf in float32
        (float, "1e400", "finite"),
        (float, "inf", "finite"),
        (float, "nan", "a number"),
        (float, "", "a number"),
    ],
)
def test_positive_refuses_what_the_dtypes_cannot_hold(kind, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        _convert(kind, text)


def test_positive_accepts_the_edges_of_the_dtypes():
    assert _convert(int, str(2**63 - 1)) == 2**63 - 1
    assert _convert(float, "1.2e-38") > 0 and torch.tensor(_convert(float, "1.2e-38")).item() > 0
    big = _convert(float, "3.4e38")
    assert torch.isfinite(torch.tensor(big, dtype=torch.float32))
    assert _convert(int, "0", minimum=0) == 0  # where zero means something, the caller says so


def test_threads_are_bounded_by_the_cpus_this_process_may_use():
    p = cli.Parser(prog="t")
    cli.add_threads(p)
    assert p.parse_args(["--threads", str(cli.usable_cpus())]).threads == cli.usable_cpus()
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        p.parse_args(["--threads", str(cli.usable_cpus() + 1)])


def test_a_network_too_big_for_memory_is_refused_before_allocation():
    cli.check_network_fits([784, 30, 10])
    with pytest.raises(cli.UsageError, match="GiB of memory"):
        cli.check_network_fits([784, 10**7, 10])
    assert cli.network_bytes([784, 30, 10]) < cli.network_bytes([784, 100, 10])


def test_seed_range_is_the_one_convention():
    assert cli.seed_range(3) == [1, 2, 3]
    p = cli.Parser(prog="t")
    cli.add_seed(p)
    assert p.parse_args([]).seed == 1 == cli.seed_range(1)[0]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_flag_help_shows_its_default(name):
    parser = COMMANDS[name].build_parser()
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0:
            assert "default" in formatter._get_help_string(action), (name, action.dest)
        if action.option_strings and action.dest != "help":
            assert action.help, (name, action.dest)


def test_commands_agree_with_the_library_they_do_not_import_for_help():
    from nndigits.learn.checkpoints import DEFAULT_LOGDIR
    from nndigits.learn.engines import REGISTRY

    assert set(train.ENGINES + train.GPU_ENGINES) == set(REGISTRY) and train.DEFAULT_LOGDIR == DEFAULT_LOGDIR
    assert cli.TRAIN_SIZE == __import__("nndigits.learn.mnist", fromlist=["TRAIN_SIZE"]).TRAIN_SIZE


# -- the wrapper ---------------------------------------------------------------------------------------------------


def test_command_wrapper_maps_every_way_out_to_one_line_and_its_code():
    def raises(error):
        @cli.command("prog")
        def main(argv=None):
            raise error

        return main

    cases = [
        (cli.Failure("bad file"), 1, "bad file"),
        (cli.UsageError("too big"), 2, "too big"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (OSError(28, "No space left on device", "runs/x.ckpt"), 1, "No space left on device: runs/x.ckpt"),
        (MemoryError(), 1, "out of memory"),
        (RuntimeError("deep\ninside\ntorch"), 1, "unexpected RuntimeError: deep inside torch"),
        (SystemExit(2), 2, ""),
    ]
    for error, code, message in cases:
        got, out, err = run_main(raises(error), [])
        assert got == code and message in err and err.count("\n") == (1 if message else 0), (error, err)
        assert "Traceback" not in err


def test_the_wrapper_restores_the_sigint_handler():
    import signal

    before = signal.getsignal(signal.SIGINT)
    run_main(perceptrons.main, [])
    assert signal.getsignal(signal.SIGINT) is before


def test_help_and_bad_flags_import_no_torch():
    """`--help` and a bad flag answer before torch is imported (what makes them instant)."""
    for name in COMMANDS:
        for flag in ("--help", "--no-such-flag"):
            result = subprocess.run(
                [sys.executable, "-X", "importtime", "-m", f"nndigits.{name}", flag],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == (0 if flag == "--help" else 2), (name, result.stderr[-300:])
            imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
            assert "torch" not in imported and "numpy" not in imported, (name, flag)


@pytest.mark.parametrize(
    "command, image",
    [("predict", "digit_7_dark_on_light.png"), ("read", "line_gaps_06901.png")],
    ids=["predict", "read"],
)
def test_reading_an_image_imports_no_torch(tmp_path, command, image):
    """predict and read load the checkpoint and run the network without torch (its import alone costs seconds)."""
    ckpt = fake_checkpoint(tmp_path / "net.ckpt")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", f"nndigits.{command}", str(EXAMPLES / image), "--checkpoint"]
        + [str(ckpt)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-500:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "numpy" in imported and "nndigits.learn.checkpoint_numpy" in imported  # what was imported is seen
    assert not {m for m in imported if m.split(".")[0] in ("torch", "pytorch_lightning", "lightning_fabric")}
    if command == "predict":  # a clean image needs no scipy either (only the uneven-light path does)
        assert not {m for m in imported if m.split(".")[0] == "scipy"}


# -- checkpoints: what they claim against what they hold ------------------------------------------------------------


def test_a_checkpoint_claiming_a_huge_network_is_refused_before_it_is_built(tmp_path):
    ckpt = fake_checkpoint(tmp_path / "liar.ckpt", claim=[784, 10**9, 10])
    assert ckpt.stat().st_size < 200_000
    with pytest.raises(CheckpointError, match="claims a network of sizes"):
        load_network(ckpt)
    code, _, err = run_main(predict.main, [str(EXAMPLES / "digit_7_dark_on_light.png"), "--checkpoint", str(ckpt)])
    assert code == 1 and err.count("\n") == 1 and "claims a network" in err


def test_weights_that_are_views_of_a_few_numbers_are_refused(tmp_path):
    """A stride-0 view: shapes that match the claimed sizes, a few bytes in the file -- refused before a network
    of that size is built, by both readers (the torch-free one hands such a file to torch's)."""
    sizes = [784, 5000, 10]
    state = {
        "net.layers.0.weight": torch.zeros(1).expand(5000, 784),
        "net.layers.0.bias": torch.zeros(1).expand(5000),
        "net.layers.1.weight": torch.zeros(1).expand(10, 5000),
        "net.layers.1.bias": torch.zeros(10),
    }
    ckpt = tmp_path / "expanded.ckpt"
    torch.save({"epoch": 0, "state_dict": state, "hyper_parameters": {"sizes": sizes}}, ckpt)
    assert ckpt.stat().st_size < 10_000
    with pytest.raises(CheckpointError, match="view of far fewer numbers"):
        load_network(ckpt)
    code, _, err = run_main(predict.main, [str(EXAMPLES / "digit_7_dark_on_light.png"), "--checkpoint", str(ckpt)])
    assert code == 1 and err.count("\n") == 1 and "view of far fewer numbers" in err


def test_a_checkpoint_with_missing_or_extra_layers_is_refused(tmp_path):
    ckpt = fake_checkpoint(tmp_path / "short.ckpt", sizes=(784, 30, 10), claim=[784, 30, 30, 10])
    with pytest.raises(CheckpointError, match="do not match"):
        load_network(ckpt)
    good = fake_checkpoint(tmp_path / "good.ckpt")
    assert load_network(good).sizes == [784, 30, 10]


# -- stale temp files -----------------------------------------------------------------------------------------------


def test_stale_partials_are_only_ours_and_only_of_dead_writers(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    ours_dead = tmp_path / f".last.ckpt.{pid}.abcd1234.partial"
    ours_alive = tmp_path / f".last.ckpt.{os.getpid()}.abcd1234.partial"
    not_ours = [tmp_path / "last.partial", tmp_path / f".notes.{pid}.partial", tmp_path / "keep.ckpt"]
    for path in [ours_dead, ours_alive, *not_ours]:
        path.write_bytes(b"x")
    assert stale_partials(tmp_path) == [ours_dead]
    assert cli.clean_stale(tmp_path) == [ours_dead]
    assert not ours_dead.exists() and ours_alive.exists() and all(p.exists() for p in not_ours)


def test_write_atomic_names_its_temp_file_after_its_process(tmp_path, monkeypatch):
    seen = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (seen.extend(p.name for p in tmp_path.iterdir()), real_fsync(fd)))
    write_atomic(tmp_path / "a.txt", "hello")
    assert len(seen) == 1 and seen[0].startswith(f".a.txt.{os.getpid()}.") and seen[0].endswith(".partial")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_train_refuses_an_unwritable_logdir_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run_main(train.main, ["--logdir", str(blocker / "runs"), "--epochs", "1"])
    assert code == 1 and "cannot write logs and checkpoints" in err and err.count("\n") == 1
    assert "Loading PyTorch" not in out  # found out before the heavy imports, let alone training


# -- property test: every command, extreme values ----------------------------------------------------------------


def _ints():
    edges = [str(n) for n in (0, 1, -1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**30)] + [
        "9" * 4400
    ]  # past the int-from-text limit
    return st.one_of(st.integers(-(10**6), 10**6).map(str), st.sampled_from(edges))


def _floats():
    edges = ["0", "-0", "1e-38", "1e-45", "1e-46", "1e-320", "3.4e38", "3.5e38", "1e308", "1e309", "inf", "nan"]
    # mantissa and exponent as text: st.floats() itself breaks once a train run has turned on flush-to-zero
    scientific = st.tuples(st.integers(-(10**6), 10**6), st.integers(-400, 400)).map(lambda t: f"{t[0]}e{t[1]}")
    return st.one_of(scientific, st.sampled_from(edges))


def _junk():
    """Anything, but never a (prefix of a) flag naming where data comes from: that could start a download."""
    junk = st.one_of(st.text(max_size=30), st.sampled_from(["", "-", "--", "-1", "--x=1", "\x00", "é" * 300]))
    return junk.filter(lambda t: not t.startswith("--d"))


def _flag(name, values):
    return st.tuples(st.just(name), values).map(list)


def _assert_clean(code, err, folder: Path):
    assert code in (0, 1, 2), (code, err)
    assert err.count("\n") <= 3 and "Traceback" not in err, err
    left = [p.name for p in folder.rglob("*") if p.name.endswith(".partial") or p.name.startswith(".nndigits-probe")]
    assert not left, left


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.slow
@SETTINGS
@given(
    flags=st.lists(
        st.one_of(
            _flag("--lr", _floats()),
            _flag("--epochs", _ints()),
            _flag("--batch-size", _ints()),
            _flag("--seed", _ints()),
            _flag("--threads", _ints()),
            _flag("--devices", _ints()),
            st.lists(_ints(), max_size=4).map(lambda v: ["--hidden", *v]),
            _flag("--engine", _junk()),
            st.lists(_junk(), max_size=2),
        ),
        max_size=5,
    )
)
def test_train_survives_extreme_flags(flags, tmp_path):
    # --resume of a missing file last: if every value is valid, the run stops at the resume check (exit 2)
    argv = [a for f in flags for a in f] + ["--logdir", str(tmp_path / "runs"), "--resume", str(tmp_path / "none")]
    code, out, err = run_main(train.main, argv, cwd=tmp_path)
    _assert_clean(code, err, tmp_path)
    assert code != 0


@pytest.mark.slow
@SETTINGS
@given(
    choice=st.sampled_from(["cache", "file", "under-file", "long", "null", "corrupt"]),
    extra=st.lists(_junk(), max_size=2),
)
def test_data_survives_extreme_data_dirs(choice, extra, tmp_path):
    from nndigits.learn.mnist import default_data_dir

    (tmp_path / "file").write_text("x")
    corrupt = tmp_path / "corrupt" / "MNIST" / "raw"
    corrupt.mkdir(parents=True, exist_ok=True)
    (corrupt / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\xff\xff\xff\xff")
    dirs = {
        "cache": str(default_data_dir()),
        "file": str(tmp_path / "file"),
        "under-file": str(tmp_path / "file" / "sub"),
        "long": str(tmp_path / ("d" * 300)),
        "null": str(tmp_path / "a\x00b"),
        "corrupt": str(tmp_path / "corrupt"),
    }
    code, out, err = run_main(data.main, ["--data-dir", dirs[choice], *extra], cwd=tmp_path)
    _assert_clean(code, err, tmp_path)
    if not extra:
        assert code == {"cache": 0, "null": 2}.get(choice, 1), (choice, err)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("not an image")
    (root / "noise.png").write_bytes(os.urandom(2000))
    (root / "dir.png").mkdir()
    (root / "empty.ckpt").write_bytes(b"")
    (root / "junk.ckpt").write_bytes(b"PK\x03\x04" + os.urandom(500))
    return {
        "images": [
            str(EXAMPLES / "digit_7_dark_on_light.png"),
            str(EXAMPLES / "line_gaps_06901.png"),
            *(str(root / n) for n in ("empty.png", "text.png", "noise.png", "dir.png", "missing.png")),
            "",
            "-",
        ],
        "checkpoints": [
            str(fake_checkpoint(root / "good.ckpt")),
            str(fake_checkpoint(root / "liar.ckpt", claim=[784, 2**40, 10])),
            str(fake_checkpoint(root / "wrong.ckpt", sizes=(10, 3, 10))),
            str(root / "empty.ckpt"),
            str(root / "junk.ckpt"),
            str(root / "missing.ckpt"),
            str(root),
        ],
    }


@pytest.mark.slow
@SETTINGS
@given(
    command=st.sampled_from(["predict", "read"]),
    images=st.lists(st.integers(0, 8), min_size=1, max_size=4),
    checkpoint=st.integers(0, 6),
    extra=st.lists(st.one_of(st.just("--show"), _junk()), max_size=2),
)
def test_predict_and_read_survive_bad_files(command, images, checkpoint, extra, files, tmp_path):
    argv = [files["images"][i] for i in images] + ["--checkpoint", files["checkpoints"][checkpoint], *extra]
    if command == "read" and "--show" in argv:
        argv.remove("--show")
    code, out, err = run_main(COMMANDS[command].main, argv, cwd=tmp_path)
    assert code in (0, 1, 2) and "Traceback" not in err, err
    assert err.count("\n") <= max(3, len(images)), err  # at most one line per image
    if checkpoint == 0 and not extra and all(i < 2 for i in images):
        assert code == 0, err


@pytest.mark.slow
@SETTINGS
@given(argv=st.lists(_junk(), max_size=3))
def test_perceptrons_refuses_every_flag_but_help(argv, tmp_path):
    code, out, err = run_main(perceptrons.main, argv, cwd=tmp_path)
    _assert_clean(code, err, tmp_path)
    helped = any(a.startswith("-h") or (len(a) > 2 and "--help".startswith(a)) for a in argv)
    if not argv:
        assert code == 0 and "NAND" in out
    elif not helped:
        assert code == 2 and "NAND" not in out, (argv, err)


# -- ending a command -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [0, 1, 3])
def test_exit_with_runs_exit_handlers_and_keeps_the_code(code):
    """With torch loaded the process ends without the interpreter's teardown, but after the atexit handlers."""
    program = (
        "import atexit, sys, torch\n"
        "from nndigits.cli import exit_with\n"
        "class Late:\n    def __del__(self): print('interpreter teardown', flush=True)\n"
        "late = Late()\n"
        "atexit.register(lambda: print('handler ran', flush=True))\n"
        "sys.stdout.write('buffered, no newline')\n"
        f"exit_with({code})\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stderr[-300:]
    assert result.stdout == "buffered, no newlinehandler ran\n"


def test_exit_with_waits_for_a_live_thread():
    """Another thread still working: the ordinary exit, which waits for it to finish."""
    program = (
        "import threading, time, torch\n"
        "from nndigits.cli import exit_with\n"
        "class Late:\n    def __del__(self): print('interpreter teardown', flush=True)\n"
        "late = Late()\n"
        "threading.Thread(target=lambda: (time.sleep(0.5), print('thread finished', flush=True))).start()\n"
        "exit_with(4)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert result.returncode == 4, result.stderr[-300:]
    assert result.stdout == "thread finished\ninterpreter teardown\n"
