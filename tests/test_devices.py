"""``auto`` never picks an unmeasured path: the CPU unless a measured rule says the GPU is faster for the run."""

import pytest

from nndigits import train
from nndigits.chapter import parameters
from nndigits.learn.devices import GpuFaster, choose_accelerator
from nndigits.learn.errors import RunError

BOOK = [784, 30, 10]
RULE = GpuFaster("cudagraph", max_params=parameters(BOOK), m_min=10, m_max=100, device="test GPU", source="test")


def test_parameters_counts_weights_and_biases():
    assert parameters(BOOK) == 30 * 785 + 10 * 31


@pytest.mark.parametrize("cuda", [False, True])
def test_auto_is_the_cpu_while_nothing_was_measured(cuda):
    """Lightning's auto would take a present GPU; ours does not, for any engine, until a rule is measured."""
    for engine in ("backprop", "autograd"):
        assert choose_accelerator("auto", BOOK, 10, engine, cuda_available=cuda) == "cpu"


def test_auto_follows_a_measured_rule_and_only_where_it_covers():
    rules = [RULE]
    assert choose_accelerator("auto", BOOK, 10, "cudagraph", cuda_available=True, rules=rules) == "gpu"
    assert choose_accelerator("auto", BOOK, 10, "backprop", cuda_available=True, rules=rules) == "cpu"  # other engine
    assert choose_accelerator("auto", BOOK, 5, "backprop", cuda_available=True, rules=rules) == "cpu"
    assert choose_accelerator("auto", [784, 100, 10], 10, "backprop", cuda_available=True, rules=rules) == "cpu"


def test_auto_rule_needs_a_gpu():
    rule = GpuFaster("backprop", max_params=10**9, m_min=1, m_max=10**6, device="test GPU", source="test")
    assert choose_accelerator("auto", BOOK, 10, "backprop", cuda_available=True, rules=[rule]) == "gpu"
    assert choose_accelerator("auto", BOOK, 10, "backprop", cuda_available=False, rules=[rule]) == "cpu"


def test_explicit_choices_are_obeyed():
    assert choose_accelerator("cpu", BOOK, 10, cuda_available=True) == "cpu"
    assert choose_accelerator("gpu", BOOK, 10, cuda_available=True) == "gpu"
    assert choose_accelerator("cuda", BOOK, 10, cuda_available=True) == "gpu"
    with pytest.raises(RunError, match="no CUDA GPU"):
        choose_accelerator("gpu", BOOK, 10, cuda_available=False)
    with pytest.raises(RunError, match="unknown accelerator"):
        choose_accelerator("tpu", BOOK, 10, cuda_available=True)


@pytest.mark.parametrize("engine", ["cudagraph", "triton", "triton-tf32"])
def test_gpu_engines_ask_for_the_gpu(engine, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert choose_accelerator("auto", BOOK, 10, engine, cuda_available=True) == "gpu"
    with pytest.raises(RunError, match="needs a CUDA GPU"):
        choose_accelerator("auto", BOOK, 10, engine, cuda_available=False)
    with pytest.raises(RunError, match="CUDA GPU only"):
        choose_accelerator("cpu", BOOK, 10, engine, cuda_available=True)


def test_triton_on_cpu_only_under_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert choose_accelerator("cpu", BOOK, 10, "triton", cuda_available=False) == "cpu"
    with pytest.raises(RunError, match="CUDA GPU only"):
        choose_accelerator("cpu", BOOK, 10, "cudagraph", cuda_available=False)


def test_triton_engines_need_one_hidden_layer():
    with pytest.raises(RunError, match="exactly one hidden layer"):
        choose_accelerator("gpu", [784, 30, 20, 10], 10, "triton", cuda_available=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--engine", "cudagraph"], "needs a CUDA GPU"),
        (["--engine", "triton", "--accelerator", "cpu"], "CUDA GPU only"),
        (["--engine", "triton", "--hidden", "30", "20"], "exactly one hidden layer"),
    ],
)
def test_train_command_says_one_line(args, message, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert train.main([*args, "--epochs", "1", "--no-progress", "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_train_run_auto_trains_on_the_cpu_even_when_a_gpu_is_seen(monkeypatch):
    """The wiring in learn/run.py: with a GPU "present", auto still gives Lightning the CPU."""
    from nndigits.learn.run import train_run

    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    lines: list[str] = []
    result = train_run(epochs=0, accelerator="auto", logdir=None, say=lines.append)
    assert "on cpu" in lines[0]
    assert result.trainer.strategy.root_device.type == "cpu"
