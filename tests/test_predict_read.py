"""Using the trained network: image preprocessing, ``python -m nndigits.predict`` and ``python -m nndigits.read``."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from nndigits import predict, read
from nndigits.learn.checkpoints import load_network
from nndigits.studies import lines as synthetic
from nndigits.use import cuts, segment
from nndigits.use.image_files import ImageError
from nndigits.use.images import load_digit, to_mnist

ROOT = Path(__file__).resolve().parent.parent


# --- fixtures -----------------------------------------------------------------------------------------


def _train(logdir: Path, *flags: str) -> Path:
    from nndigits import train

    assert train.main([*flags, "--logdir", str(logdir), "--no-progress"]) == 0
    return next(logdir.glob("**/last.ckpt"))


@pytest.fixture(scope="session")
def checkpoint(book_run) -> Path:
    """The book's [784, 30, 10], trained for 2 epochs (about 93% on the test digits): conftest's shared run."""
    return book_run.checkpoint


@pytest.fixture(scope="session")
def net(checkpoint):
    return load_network(checkpoint)


@pytest.fixture(scope="session")
def mnist_test_numpy(mnist_test):
    """MNIST's test images and labels as numpy arrays."""
    x, y = mnist_test
    return x.numpy(), y.numpy()


def _save(a: np.ndarray, path: Path, dark_on_light: bool = False) -> Path:
    pixels = np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(255 - pixels if dark_on_light else pixels, mode="L").save(path)
    return path


def _digit_like(width=120, height=200, dark_on_light=True) -> Image.Image:
    """A thick, lopsided '0'-ish ring with a tail, somewhere off-centre on a larger page."""
    paper, ink = (255, 0) if dark_on_light else (0, 255)
    img = Image.new("L", (width + 150, height + 90), paper)
    d = ImageDraw.Draw(img)
    d.ellipse((30, 20, 30 + width, 20 + height), outline=ink, width=14)
    d.line((30 + width // 2, 20 + height, 30 + width + 20, 20 + height + 30), fill=ink, width=14)
    return img


def _bbox(x784: np.ndarray) -> tuple[int, int]:
    a = x784.reshape(28, 28)
    rows, cols = np.flatnonzero(a.max(axis=1) > 0), np.flatnonzero(a.max(axis=0) > 0)
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def _centre_of_mass(x784: np.ndarray) -> tuple[float, float]:
    a = x784.reshape(28, 28)
    r = np.arange(28)
    return float((a.sum(axis=1) * r).sum() / a.sum()), float((a.sum(axis=0) * r).sum() / a.sum())


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels, with a token IDAT: decoding it would be a decompression bomb."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _one_line_error(err: str, prog: str) -> str:
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- preprocessing ------------------------------------------------------------------------------------


def test_drawn_digit_is_preprocessed_like_mnist(tmp_path):
    path = tmp_path / "ring.png"
    _digit_like().save(path)
    x = load_digit(path)
    assert x.shape == (784,) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.9
    h, w = _bbox(x)
    assert max(h, w) <= 20 and max(h, w) >= 19
    cy, cx = _centre_of_mass(x)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0


def test_dark_on_light_and_light_on_dark_give_the_same_digit(tmp_path):
    _digit_like(dark_on_light=True).save(tmp_path / "dark.png")
    _digit_like(dark_on_light=False).save(tmp_path / "light.png")
    # and as RGB JPEG-free colour, and with an alpha channel (ink drawn on transparency)
    _digit_like(dark_on_light=True).convert("RGB").save(tmp_path / "rgb.png")
    ink = _digit_like(dark_on_light=False)
    rgba = Image.new("RGBA", ink.size, (0, 0, 0, 0))
    rgba.putalpha(ink)
    rgba.save(tmp_path / "alpha.png")
    dark = load_digit(tmp_path / "dark.png")
    for name in ("light.png", "rgb.png", "alpha.png"):
        np.testing.assert_allclose(load_digit(tmp_path / name), dark, atol=1e-5, err_msg=name)


def test_aspect_ratio_is_kept(tmp_path):
    img = Image.new("L", (400, 300), 255)
    ImageDraw.Draw(img).rectangle((50, 100, 249, 179), fill=0)  # 200 wide x 80 tall
    img.save(tmp_path / "bar.png")
    h, w = _bbox(load_digit(tmp_path / "bar.png"))
    assert w == 20 and h == 8


def test_grey_paper_and_thin_pen(tmp_path):
    """A thin dark line on a big light-grey page still comes out with MNIST-like strokes."""
    img = Image.new("L", (1000, 1400), 210)
    ImageDraw.Draw(img).line((500, 200, 500, 1200), fill=40, width=6)  # a '1', 6 px pen on a 1000 px page
    img.save(tmp_path / "one.png")
    x = load_digit(tmp_path / "one.png").reshape(28, 28)
    assert x.max() == pytest.approx(1.0)
    assert (x > 0.5).sum(axis=1).max() >= 2  # at least two pixels wide, not a faint hairline


def test_mnist_digits_are_left_almost_unchanged(mnist_test_numpy):
    x, _ = mnist_test_numpy
    out = np.stack([to_mnist(v.reshape(28, 28)) for v in x[:300]])
    assert np.abs(out - x[:300]).mean() < 0.01


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 60), st.integers(3, 60), st.integers(0, 40), st.integers(0, 40), st.booleans())
def test_any_blob_fits_the_box(h, w, top, left, dark):
    page = np.zeros((top + h + 7, left + w + 5), np.float32)
    page[top : top + h, left : left + w] = 1.0
    from nndigits.use.ink import ink_map

    x = to_mnist(ink_map(1.0 - page if dark else page))
    bh, bw = _bbox(x)
    assert max(bh, bw) == 20 and x.min() >= 0.0 and x.max() <= 1.0
    for got, side in ((bw, w), (bh, h)):  # aspect kept, except that strokes thinner than ~2 px are
        want = side * 20 / max(h, w)  # thickened to about MNIST's width (images.MIN_STROKE)
        assert abs(got - want) <= 1 or (want < 2 and got <= 3), (got, want)
    cy, cx = _centre_of_mass(x)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


# --- bad images ---------------------------------------------------------------------------------------


def _bad_images(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, a phrase its error must contain)."""
    (tmp / "notes.png").write_text("this is not an image\n")
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "bomb.png").write_bytes(_png_header(100_000, 100_000))  # beyond PIL's own limit
    (tmp / "big.png").write_bytes(_png_header(8_000, 8_000))  # 64 MP: beyond ours
    Image.new("L", (50, 50), 255).save(tmp / "blank.png")
    Image.new("RGB", (50, 50), (90, 120, 30)).save(tmp / "uniform.png")
    good = tmp / "good.png"
    _digit_like().save(good)
    (tmp / "truncated.png").write_bytes(good.read_bytes()[:200])
    (tmp / "folder").mkdir(exist_ok=True)
    return {
        "not an image": (tmp / "notes.png", "not an image"),
        "empty": (tmp / "empty.png", "empty"),
        "missing": (tmp / "nowhere.png", "no such file"),
        "directory": (tmp / "folder", "directory"),
        "bomb": (tmp / "bomb.png", "too big"),
        "over our limit": (tmp / "big.png", "megapixels"),
        "blank": (tmp / "blank.png", "no ink"),
        "uniform colour": (tmp / "uniform.png", "no ink"),
        "truncated": (tmp / "truncated.png", "damaged"),
    }


def test_bad_images_raise_one_line_image_errors(tmp_path):
    for name, (path, phrase) in _bad_images(tmp_path).items():
        with pytest.raises(ImageError) as caught:
            load_digit(path)
        message = str(caught.value)
        assert "\n" not in message and str(path) in message and phrase in message, (name, message)


@pytest.mark.slow
def test_predict_cli_bad_image_subprocess(tmp_path, checkpoint):
    (tmp_path / "notes.png").write_text("hello")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "nndigits.predict", str(tmp_path / "notes.png"), "--checkpoint", str(checkpoint)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode != 0
    line = _one_line_error(result.stderr, "python -m nndigits.predict")
    assert "notes.png" in line and "not an image" in line
    assert result.stdout == ""


def test_predict_main_reports_each_bad_image_and_predicts_the_good(tmp_path, checkpoint, capsys):
    bad = _bad_images(tmp_path)
    good = tmp_path / "good.png"
    paths = [str(good)] + [str(p) for p, _ in bad.values()] + [str(good)]
    assert predict.main([*paths, "--checkpoint", str(checkpoint)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    errors = err.strip().split("\n")
    assert len(errors) == len(bad)
    for (path, phrase), line in zip(bad.values(), errors):
        assert line.startswith("python -m nndigits.predict: error: ") and str(path) in line and phrase in line
    results = out.strip().split("\n")
    assert len(results) == 2
    for line in results:
        assert line.startswith(f"{good}: ") and "confidence" in line and "runner-up" in line


def test_predict_one_bad_image_alone(tmp_path, checkpoint, capsys):
    for path, phrase in _bad_images(tmp_path).values():
        assert predict.main([str(path), "--checkpoint", str(checkpoint)]) == 1
        out, err = capsys.readouterr()
        assert out == "" and phrase in _one_line_error(err, "python -m nndigits.predict")


# --- bad checkpoints ----------------------------------------------------------------------------------


def _bad_checkpoints(tmp: Path, real: Path) -> dict[str, Path]:
    (tmp / "random.ckpt").write_bytes(np.random.default_rng(0).bytes(5000))
    data = real.read_bytes()
    (tmp / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    torch.save(torch.zeros(3, 3), tmp / "tensor.ckpt")
    torch.save({"state_dict": {}, "hyper_parameters": {"sizes": [784, 30, 10]}}, tmp / "nostate.ckpt")
    _digit_like().save(tmp / "image.png")
    (tmp / "empty.ckpt").write_bytes(b"")
    return {
        "missing": tmp / "missing.ckpt",
        "random bytes": tmp / "random.ckpt",
        "truncated": tmp / "truncated.ckpt",
        "plain tensor": tmp / "tensor.ckpt",
        "no weights": tmp / "nostate.ckpt",
        "a png": tmp / "image.png",
        "empty": tmp / "empty.ckpt",
    }


@pytest.mark.parametrize("module", [predict, read], ids=["predict", "read"])
def test_bad_checkpoints_give_one_line(tmp_path, checkpoint, capsys, module):
    image = tmp_path / "good.png"
    _digit_like().save(image)
    for name, ckpt in _bad_checkpoints(tmp_path, checkpoint).items():
        assert module.main([str(image), "--checkpoint", str(ckpt)]) == 1, name
        out, err = capsys.readouterr()
        line = _one_line_error(err, module.PROG)
        assert str(ckpt) in line and out == "", (name, line)


@pytest.mark.parametrize("module", [predict, read], ids=["predict", "read"])
def test_unreadable_checkpoint_gives_one_line(tmp_path, checkpoint, capsys, monkeypatch, module):
    """An OSError while loading (here: permission denied; as root chmod 000 would not stop us) is one line, exit 1."""
    import nndigits.core.checkpoints

    def denied(path, *how):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(nndigits.core.checkpoints, "read_checkpoint", denied)  # what every loader reads with
    image = tmp_path / "good.png"
    _digit_like().save(image)
    assert module.main([str(image), "--checkpoint", str(checkpoint)]) == 1
    out, err = capsys.readouterr()
    line = _one_line_error(err, module.PROG)
    assert str(checkpoint) in line and "Permission denied" in line and out == ""


def test_no_checkpoint_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    image = tmp_path / "good.png"
    _digit_like().save(image)
    monkeypatch.chdir(tmp_path)  # no runs/ here
    assert predict.main([str(image)]) == 1
    line = _one_line_error(capsys.readouterr().err, "python -m nndigits.predict")
    assert "python -m nndigits.train" in line


@pytest.mark.slow
def test_checkpoint_of_another_architecture_works(tmp_path_factory, mnist_test_numpy, capsys):
    ckpt = _train(tmp_path_factory.mktemp("flat"), "--hidden", "--epochs", "1")  # [784, 10]
    assert load_network(ckpt).sizes == [784, 10]
    capsys.readouterr()  # training's own lines
    x, y = mnist_test_numpy
    folder = tmp_path_factory.mktemp("flatdigits")
    paths = [str(_save(x[i].reshape(28, 28), folder / f"{i}.png")) for i in range(20)]
    assert predict.main([*paths, "--checkpoint", str(ckpt)]) == 0
    out = capsys.readouterr().out.strip().split("\n")
    digits = [int(line.split(": ")[1].split()[0]) for line in out]
    assert np.mean(np.array(digits) == y[:20]) >= 0.7


# --- predictions --------------------------------------------------------------------------------------


def test_predict_agrees_with_the_network_on_mnist_pngs(tmp_path, checkpoint, net, mnist_test_numpy, capsys):
    x, _ = mnist_test_numpy
    n = 200
    paths = []
    for i in range(n):  # alternate the two looks: MNIST's white-on-black and ink on paper
        paths.append(str(_save(x[i].reshape(28, 28), tmp_path / f"t{i}.png", dark_on_light=i % 2 == 1)))
    assert predict.main([*paths, "--checkpoint", str(checkpoint)]) == 0
    out = capsys.readouterr().out.strip().split("\n")
    assert len(out) == n
    got = np.array([int(line.split(": ")[1].split()[0]) for line in out])
    with torch.no_grad():
        own = net.classify(torch.from_numpy(x[:n])).numpy()
    assert np.mean(got == own) >= 0.95
    conf = float(out[0].split("confidence ")[1].split(";")[0])
    assert 0.0 < conf < 1.0 + 1e-9


# --- reading lines ------------------------------------------------------------------------------------


def test_compose_line_styles(mnist_test_numpy):
    x, _ = mnist_test_numpy
    rng = np.random.default_rng(0)
    widths = {style: synthetic.compose_line(x[:5], style, rng).shape[1] for style in synthetic.STYLES}
    assert widths["overlap"] < widths["touching"] < widths["gaps"]
    line = synthetic.compose_line(x[:5], "overlap", rng)
    assert line.dtype == np.float32 and line.min() >= 0.0 and line.max() <= 1.0
    with pytest.raises(ValueError):
        synthetic.compose_line(x[:5], "spiral", rng)


@pytest.mark.slow
def test_read_composed_lines(net, mnist_test_numpy):
    x, y = mnist_test_numpy
    rng = np.random.default_rng(5)
    for style, minimum in (("gaps", 0.5), ("touching", 0.35), ("sizes", 0.45), ("overlap", 0.25)):
        exact = correct_len = 0
        lines = 20
        for _ in range(lines):
            idx = rng.choice(len(x), int(rng.integers(3, 6)), replace=False)
            truth = "".join(map(str, y[idx]))
            got = "".join(str(d.digit) for d in segment.read_ink(synthetic.compose_line(x[idx], style, rng), net))
            exact += got == truth
            correct_len += len(got) == len(truth)
        assert exact / lines >= minimum, (style, exact)
        if style != "overlap":  # crossing strokes are still hard to split: overlap lines often lose a digit
            assert correct_len / lines >= 0.6, (style, correct_len)


def test_candidates_keep_inputs_and_scoring_fills_activations(net, mnist_test_numpy):
    x, _ = mnist_test_numpy
    cand = cuts.candidates(synthetic.compose_line(x[:3], "gaps", np.random.default_rng(2)))
    k = len(cand.boxes)
    assert k > 0 and cand.inputs.shape == (k, 784) and cand.inputs.dtype == np.float32
    assert cand.activations is None
    inputs = cand.inputs.copy()
    segment.score(cand, net)
    assert cand.activations.shape == (k, 10) and np.array_equal(cand.inputs, inputs)
    with torch.no_grad():
        expected = net(torch.from_numpy(inputs)).double().numpy()
    assert np.array_equal(cand.activations, expected)


def test_to_png_writes_a_whole_png_and_no_temporary(tmp_path):
    ink = np.zeros((20, 30), np.float32)
    ink[5:15, 10:20] = 1.0
    out = tmp_path / "sub" / "ink.png"
    synthetic.to_png(ink, out, dark_on_light=True)
    assert [p.name for p in out.parent.iterdir()] == ["ink.png"]
    pixels = np.asarray(Image.open(out))
    assert pixels.shape == (20, 30) and pixels[0, 0] == 255 and pixels[10, 15] == 0


def test_ink_touching_the_digit_diagonally_is_part_of_it():
    """Pieces are 8-connected: a stroke reaching the edge through a diagonal step is the digit's own, kept."""
    piece = np.zeros((10, 12), np.float32)
    piece[1:9, 2:9] = 1.0  # the digit's body
    piece[9, 9], piece[8, 10], piece[7, 11] = 0.6, 0.6, 0.6  # a diagonal tail from its corner to the right edge
    assert np.array_equal(cuts.drop_side_fragments(piece, True, True), piece)
    piece[8, 10] = 0.0  # cut the tail: its tip at the edge is now a piece of its own, and goes
    assert cuts.drop_side_fragments(piece, True, True)[7, 11] == 0


def test_neighbour_fragments_at_open_window_edges_are_blanked():
    piece = np.zeros((10, 12), np.float32)
    piece[1:9, 2:9] = 1.0  # the digit's body
    piece[3:6, 10:12] = 0.6  # a neighbour's tip at the right edge, not touching the body
    piece[0, 0] = 0.6  # a speck at the left edge
    both = cuts.drop_side_fragments(piece, True, True)
    assert both[1:9, 2:9].all() and not both[3:6, 10:12].any() and both[0, 0] == 0
    right = cuts.drop_side_fragments(piece, False, True)
    assert right[0, 0] == 0.6 and not right[3:6, 10:12].any()
    assert cuts.drop_side_fragments(piece, False, False) is piece  # no neighbour: nothing blanked


def test_read_cli_prints_the_string_last(tmp_path, checkpoint, net, mnist_test_numpy, capsys):
    x, y = mnist_test_numpy
    idx = [3, 4, 5]
    path = _save(
        synthetic.compose_line(x[idx], "gaps", np.random.default_rng(1)) * 1.0,
        tmp_path / "line.png",
        dark_on_light=True,
    )
    assert read.main([str(path), "--checkpoint", str(checkpoint)]) == 0
    out = capsys.readouterr().out.strip().split("\n")
    with torch.no_grad():
        own = "".join(map(str, net.classify(torch.from_numpy(x[idx])).tolist()))
    assert out[-1] == own
    assert len(out) == 4


def test_read_bad_image(tmp_path, checkpoint, capsys):
    for path, phrase in _bad_images(tmp_path).values():
        assert read.main([str(path), "--checkpoint", str(checkpoint)]) == 1
        out, err = capsys.readouterr()
        assert out == "" and phrase in _one_line_error(err, "python -m nndigits.read")
