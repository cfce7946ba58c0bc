"""The torch-free checkpoint reader (core/checkpoint_numpy.py) against torch.load(weights_only=True), and the NumPy
network predict and read answer with against the torch network: same tensors, same digits, same refusals."""

from __future__ import annotations

import builtins
import collections
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nndigits import predict
from nndigits.core.checkpoint_numpy import Unsupported, load_archive
from nndigits.core.checkpoints import CheckpointError, load_numpy_network, read_checkpoint, read_numpy
from nndigits.core.scratch import Network
from nndigits.learn.checkpoints import load_network, load_with_torch
from nndigits.learn.network import SigmoidNetwork
from nndigits.use import classify, segment

DIGIT = str(Path(__file__).resolve().parent.parent / "examples" / "digit_7_dark_on_light.png")


def save_network(path: Path, sizes=(784, 30, 10), dtype=torch.float32, seed=0, **extra) -> Path:
    """A checkpoint shaped like the train command's: the state_dict under ``net.``, the sizes in hyper_parameters."""
    net = SigmoidNetwork(list(sizes), generator=torch.Generator().manual_seed(seed), dtype=dtype)
    state = collections.OrderedDict((f"net.{k}", v) for k, v in net.state_dict().items())
    torch.save({"epoch": 0, "state_dict": state, "hyper_parameters": {"sizes": list(sizes)}, **extra}, path)
    return path


def assert_same(theirs, ours, where="checkpoint"):
    """``ours`` (from load_archive) holds what ``theirs`` (from torch.load) does, tensors as equal NumPy arrays."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, np.ndarray), where
        expected = theirs.numpy()
        assert ours.shape == expected.shape and ours.dtype == expected.dtype, where
        assert np.array_equal(ours, expected, equal_nan=expected.dtype.kind == "f"), where
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), where
        assert getattr(ours, "_metadata", None) == getattr(theirs, "_metadata", None), where
        for key in theirs:
            assert_same(theirs[key], ours[key], f"{where}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(theirs, ours)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert type(ours) is type(theirs) and ours == theirs, where


def rewrite(src: Path, dst: Path, change) -> Path:
    """A copy of the zip archive ``src`` with each record's bytes replaced by ``change(name, data)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, change(info.filename, zin.read(info.filename)))
    return dst


def archive_of(path: Path, payload: bytes, storages: dict[str, bytes] | None = None) -> Path:
    """A zip laid out like torch.save's around the pickle ``payload``."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", "little")
        for key, data in (storages or {}).items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")
    return path


class _Storage:
    """Stands for a storage of ``numel`` float32s under ``key`` when pickled by ``_TensorPickler``."""

    def __init__(self, key: str, numel: int, location: str = "cpu"):
        self.key, self.numel, self.location = key, numel, location


class _TensorPickler(pickle.Pickler):
    """Pickles ``_Storage`` as torch does a storage: a persistent id (the tensor's rebuild call is pickled as is)."""

    def persistent_id(self, obj):
        return ("storage", torch.FloatStorage, obj.key, obj.location, obj.numel) if isinstance(obj, _Storage) else None


def tensor_call(storage: _Storage, offset: int, size: tuple, stride: tuple):
    class Call:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (storage, offset, size, stride, False, collections.OrderedDict())

    return Call()


def crafted(path: Path, obj, storages: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    _TensorPickler(buffer, protocol=2).dump(obj)
    return archive_of(path, buffer.getvalue(), storages)


def one_line_error(argv: list[str], capsys) -> str:
    assert predict.main(argv) == 1
    out, err = capsys.readouterr()
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith(f"{predict.PROG}: error: ") and out == "", err
    return lines[0]


# -- the same tensors as torch.load -----------------------------------------------------------------------------------


def test_a_trained_lightning_checkpoint_reads_as_torch_reads_it(book_run):
    """Everything Lightning wrote -- state_dict (with its _metadata), loops, callbacks (a tensor among them),
    optimizer states, hyperparameters -- equal to torch.load(weights_only=True)'s, tensor by tensor."""
    theirs = torch.load(book_run.checkpoint, map_location="cpu", weights_only=True)
    ours = load_archive(book_run.checkpoint)
    assert_same(theirs, ours)
    assert {"state_dict", "loops", "callbacks", "optimizer_states", "hyper_parameters"} <= set(ours)


@pytest.mark.parametrize(
    "sizes, dtype",
    [
        ((784, 30, 10), torch.float32),
        ((784, 30, 10), torch.float64),
        ((784, 100, 20, 10), torch.float32),
        ((784, 10), torch.float64),
    ],
)
def test_crafted_networks_read_as_torch_reads_them(tmp_path, sizes, dtype):
    ckpt = save_network(tmp_path / "net.ckpt", sizes, dtype)
    assert_same(torch.load(ckpt, weights_only=True), load_archive(ckpt))
    net, saved = load_numpy_network(ckpt), torch.load(ckpt, weights_only=True)["state_dict"]
    assert net.sizes == list(sizes)
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):  # float64 copies of the saved values, exactly
        assert w.dtype == b.dtype == np.float64
        assert np.array_equal(w, saved[f"net.layers.{l}.weight"].double().numpy())
        assert np.array_equal(b, saved[f"net.layers.{l}.bias"].double().numpy())


def test_views_offsets_scalars_and_other_dtypes_read_as_torch_reads_them(tmp_path):
    """Tensors that share one storage at offsets and strides (slices, transposes, rows), empty and 0-d tensors."""
    t = torch.arange(20.0).reshape(4, 5)
    objects = {
        "columns": t[:, 1:3],
        "transposed": t.T,
        "row": t[2],
        "whole": t,
        "step": torch.arange(30, dtype=torch.float64)[3::4],
        "scalar": torch.tensor(float("inf")),
        "empty": torch.zeros(0, 7),
        "half": torch.linspace(-2, 2, 9, dtype=torch.float16),
        "ints": [torch.tensor([1, -2], dtype=d) for d in (torch.int64, torch.int32, torch.int16, torch.int8)],
        "bytes": torch.tensor([0, 255], dtype=torch.uint8),
        "bools": torch.tensor([True, False]),
        "plain": (1, 2.5, "x", None, [True], {"nested": {}}),
    }
    torch.save(objects, tmp_path / "views.pt")
    ours = load_archive(tmp_path / "views.pt")
    assert_same(torch.load(tmp_path / "views.pt", weights_only=True), ours)
    assert ours["columns"].flags.writeable and ours["columns"].flags.c_contiguous  # copies, not views of the file


@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64, torch.uint8, torch.bool]),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    start=st.integers(0, 3),
    step=st.integers(1, 3),
    transpose=st.booleans(),
)
def test_any_slice_of_any_tensor_reads_as_torch_reads_it(tmp_path_factory, dtype, shape, start, step, transpose):
    base = (torch.randn(*shape, 6) * 10).to(dtype)
    view = base[..., start::step]
    view = view.transpose(0, -1) if transpose else view
    path = tmp_path_factory.mktemp("slice") / "t.pt"
    torch.save({"view": view, "base": base}, path)
    assert_same(torch.load(path, weights_only=True), load_archive(path))


def test_big_endian_storages_read_as_torch_reads_them(tmp_path):
    """An archive written on a big-endian machine: byteorder 'big' and every storage's bytes swapped."""
    torch.save(
        {"w": torch.randn(3, 4), "d": torch.randn(5, dtype=torch.float64), "i": torch.arange(6)}, tmp_path / "a.pt"
    )
    sizes = {"0": 4, "1": 8, "2": 8}

    def swap(name: str, data: bytes) -> bytes:
        if name.endswith("/byteorder"):
            return b"big"
        key = name.rsplit("/", 1)[-1]
        return np.frombuffer(data, f"<i{sizes[key]}").byteswap().tobytes() if "/data/" in name else data

    big = rewrite(tmp_path / "a.pt", tmp_path / "big.pt", swap)
    ours = load_archive(big)
    assert_same(torch.load(big, weights_only=True), ours)
    assert_same(torch.load(tmp_path / "a.pt", weights_only=True), ours)


# -- the same answers as the torch network ----------------------------------------------------------------------------


def test_predict_agrees_with_the_torch_network_on_mnist_test_digits(book_run, mnist_test):
    x = mnist_test[0][:2000].numpy()
    ours = classify.predict(load_numpy_network(book_run.checkpoint), x)
    theirs = classify.predict(load_network(book_run.checkpoint), x)
    a, b = np.array(ours), np.array(theirs)  # (digit, confidence, runner-up, its activation) per row
    gap = np.abs(a[:, [1, 3]] - b[:, [1, 3]])  # float64 against float32: rounding only (largest seen: 1.3e-6)
    assert gap.max() < 1e-5 and np.median(gap) < 1e-7
    clear = a[:, 1] - a[:, 3] > 1e-5  # where the two neurons are not tied to rounding, the same digits
    assert clear.mean() > 0.99 and np.array_equal(a[clear][:, [0, 2]], b[clear][:, [0, 2]])
    assert np.mean(a[:, 0] == mnist_test[1][:2000].numpy()) > 0.85  # the trained network reads digits


def test_numpy_and_torch_networks_give_the_same_activations(tmp_path, mnist_test):
    ckpt = save_network(tmp_path / "net.ckpt", (784, 30, 20, 10), torch.float64, seed=3)
    x = mnist_test[0][:500].numpy()
    reference = SigmoidNetwork([784, 30, 20, 10], dtype=torch.float64)
    reference.load_state_dict({k.removeprefix("net."): v for k, v in torch.load(ckpt)["state_dict"].items()})
    ours = classify.activations(load_numpy_network(ckpt), x)
    with torch.no_grad():
        theirs = reference(torch.from_numpy(x).double()).numpy()
    assert ours.dtype == np.float64 and np.allclose(ours, theirs, rtol=0, atol=1e-12)


def test_reading_lines_is_the_same_with_either_network(book_run, mnist_test):
    from nndigits.studies.lines import STYLES, compose_line

    x = mnist_test[0].numpy()
    ours, theirs = load_numpy_network(book_run.checkpoint), load_network(book_run.checkpoint)
    rng = np.random.default_rng(0)
    for style in STYLES:
        for _ in range(3):
            line = compose_line(x[rng.choice(len(x), 4, replace=False)], style, rng)
            a, b = segment.read_ink(line, ours), segment.read_ink(line, theirs)
            assert [(d.digit, d.left, d.right) for d in a] == [(d.digit, d.left, d.right) for d in b], style
            assert np.allclose([d.confidence for d in a], [d.confidence for d in b], atol=1e-6)


# -- what the reader leaves to torch, and what both refuse ------------------------------------------------------------


def test_what_it_does_not_know_is_read_by_torch(tmp_path):
    """bfloat16 (no NumPy dtype), a saved Parameter, torch.Size and an expanded view: unusual but valid, so
    torch's loader reads them and the network still loads."""
    net = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    for extra in (
        {"shape": torch.Size([3])},
        {"p": torch.nn.Parameter(torch.ones(2))},
        {"e": torch.zeros(3).expand(4, 3)},
    ):
        path = tmp_path / "x.pt"
        torch.save(extra, path)
        with pytest.raises(Unsupported):
            load_archive(path)
    path = tmp_path / "bf16.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"sizes": [784, 30, 10]}, "shape": torch.Size([3])}, path)
    with pytest.raises(Unsupported, match="BFloat16Storage"):
        load_archive(path)
    with pytest.raises(CheckpointError, match="only torch's loader reads"):  # no torch unless the caller allows it
        load_numpy_network(path)
    torch_free = read_checkpoint(path, lambda p: read_numpy(p, fallback=load_with_torch))
    assert isinstance(torch_free["state_dict"]["net.layers.0.weight"], torch.Tensor)
    loaded = load_numpy_network(path, fallback=load_with_torch)
    assert np.array_equal(loaded.weights[1], net.linear_layers()[1].weight.detach().double().numpy())


@pytest.mark.parametrize("call", ["os.system", "builtins.eval", "nested"])
def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, capsys, call):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            if call == "builtins.eval":
                return builtins.eval, (f"__import__('pathlib').Path({str(marker)!r}).touch()",)
            return os.system, (f"touch {marker}",)

    if call == "nested":  # deep inside an otherwise good checkpoint, after its tensors
        weight, bias = tensor_call(_Storage("0", 6), 0, (2, 3), (3, 1)), tensor_call(_Storage("1", 2), 0, (2,), (1,))
        state = {"net.layers.0.weight": weight, "net.layers.0.bias": bias}
        obj = {"state_dict": state, "hyper_parameters": {"sizes": [3, 2], "note": [Payload()]}}
        ckpt = crafted(tmp_path / "evil.ckpt", obj, {"0": bytes(24), "1": bytes(8)})
    else:
        ckpt = archive_of(tmp_path / "evil.ckpt", pickle.dumps(Payload(), protocol=2))
    with pytest.raises(Unsupported, match="system|eval"):
        load_archive(ckpt)
    with pytest.raises(CheckpointError, match="not a readable nndigits checkpoint"):
        load_numpy_network(ckpt, fallback=load_with_torch)
    line = one_line_error([DIGIT, "--checkpoint", str(ckpt)], capsys)
    assert str(ckpt) in line and ("system" in line or "eval" in line)
    assert not marker.exists()


def test_a_storage_of_the_wrong_size_is_refused(tmp_path, capsys):
    good = save_network(tmp_path / "good.ckpt")
    cuts = {"short": lambda d: d[: len(d) // 2], "empty": lambda d: b"", "long": lambda d: d + d[:8]}
    for name, cut in cuts.items():
        ckpt = rewrite(good, tmp_path / f"{name}.ckpt", lambda n, d, cut=cut: cut(d) if n.endswith("/data/0") else d)
        with pytest.raises(CheckpointError, match="holds .* bytes where its tensor claims"):
            load_archive(ckpt)
        with pytest.raises(RuntimeError, match="does not match expected size"):  # torch refuses it too
            torch.load(ckpt, weights_only=True)
        assert "bytes where its tensor claims" in one_line_error([DIGIT, "--checkpoint", str(ckpt)], capsys)


def test_a_missing_storage_is_refused(tmp_path, capsys):
    good = save_network(tmp_path / "good.ckpt")
    ckpt = tmp_path / "missing.ckpt"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(ckpt, "w") as zout:
        for info in zin.infolist():
            if not info.filename.endswith("/data/1"):
                zout.writestr(info, zin.read(info.filename))
    assert "storage" in one_line_error([DIGIT, "--checkpoint", str(ckpt)], capsys)


@pytest.mark.parametrize(
    "offset, size, stride",
    [(0, (11,), (1,)), (3, (8,), (1,)), (0, (4, 3), (3, 1)), (9, (2,), (1,)), (0, (2, 2), (9, 1))],
)
def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path, capsys, offset, size, stride):
    """A storage of 10 floats, a tensor claiming elements beyond them: refused here (never read past the buffer),
    as torch refuses it."""
    data = np.arange(10, dtype="<f4").tobytes()
    storage = _Storage("0", 10)
    state = {"net.layers.0.weight": tensor_call(storage, offset, size, stride)}
    ckpt = crafted(tmp_path / "past.ckpt", {"state_dict": state, "hyper_parameters": {"sizes": [3, 2]}}, {"0": data})
    with pytest.raises(CheckpointError, match="reaches element"):
        load_archive(ckpt)
    with pytest.raises(RuntimeError, match="out of bounds|not resizable"):
        torch.load(ckpt, weights_only=True)
    assert "reaches element" in one_line_error([DIGIT, "--checkpoint", str(ckpt)], capsys)


def test_a_tensor_inside_its_storage_reads_as_torch_reads_it(tmp_path):
    """The crafting above is right: the same storage with a tensor that fits is read alike by both."""
    storage = _Storage("0", 10)
    obj = {"a": tensor_call(storage, 1, (3, 3), (3, 1)), "b": tensor_call(storage, 0, (2, 5), (1, 2))}
    ckpt = crafted(tmp_path / "fits.ckpt", obj, {"0": np.arange(10, dtype="<f4").tobytes()})
    assert_same(torch.load(ckpt, weights_only=True), load_archive(ckpt))


def test_a_checkpoint_saved_from_a_gpu_reads_as_torch_reads_it_on_the_cpu(tmp_path):
    """A run trained on a GPU saves its storages with location 'cuda:0': the bytes are the same, read on the CPU."""
    storage = _Storage("0", 6, location="cuda:0")
    ckpt = crafted(
        tmp_path / "gpu.ckpt",
        {"w": tensor_call(storage, 0, (2, 3), (3, 1))},
        {"0": np.arange(6, dtype="<f4").tobytes()},
    )
    assert_same(torch.load(ckpt, map_location="cpu", weights_only=True), load_archive(ckpt))


def test_a_storage_whose_bytes_were_damaged_is_refused(tmp_path, capsys):
    """A flipped byte inside a storage record: the archive's CRC says so (torch does not check it)."""
    good = save_network(tmp_path / "good.ckpt")
    raw = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo(next(n for n in z.namelist() if n.endswith("/data/0")))
    at = info.header_offset  # the local header: 30 fixed bytes, then the name and an extra field (torch's padding)
    name, extra = (int.from_bytes(raw[at + i : at + i + 2], "little") for i in (26, 28))
    raw[at + 30 + name + extra + 100] ^= 0xFF
    bad = tmp_path / "flipped.ckpt"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="CRC"):
        load_archive(bad)
    assert "damaged archive" in one_line_error([DIGIT, "--checkpoint", str(bad)], capsys)


def test_weights_that_are_not_real_numbers_are_refused(tmp_path, capsys):
    """Complex weights have a NumPy dtype but no meaning here: one line, not a ComplexWarning or a traceback."""
    net = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(0))
    state = {f"net.{k}": v.to(torch.complex64) for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"sizes": [784, 30, 10]}}, tmp_path / "c.ckpt")
    assert "not real ones" in one_line_error([DIGIT, "--checkpoint", str(tmp_path / "c.ckpt")], capsys)


def test_the_numpy_network_is_the_books(tmp_path):
    net = load_numpy_network(save_network(tmp_path / "net.ckpt"))
    assert isinstance(net, Network) and [w.shape for w in net.weights] == [(30, 784), (10, 30)]
