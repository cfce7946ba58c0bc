"""Digits in photos: a real MNIST test digit, photographed -- on a wider page, under uneven light.

Each photo is made here from one of MNIST's test digits: enlarged, drawn in dark
ink on light paper somewhere off-centre in a page two to four times its size,
then lit unevenly (a brightness ramp across the page and a vignette), given a
paper texture, blurred like an out-of-focus lens, with sensor noise, and saved
as PNG or JPEG.  The network, trained for 2 epochs on MNIST, must read at
least 8 of every 10 of them right -- through the same ``load_digit`` that
``python -m nndigits.predict`` uses.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from nndigits.use.image_files import ImageError
from nndigits.use.images import load_digit, save_mnist_png

PHOTOS = 20  # two of each digit


def photo(digit: np.ndarray, rng: np.random.Generator, jpeg: bool = False) -> Image.Image:
    """One MNIST digit (784 values, white on black) as a photo of dark ink on unevenly lit paper."""
    size = int(rng.integers(70, 130))  # the digit's 28 x 28 frame, enlarged to size x size
    ink = np.asarray(Image.fromarray(digit.reshape(28, 28).astype(np.float32), mode="F").resize((size, size)))
    ink = np.clip(ink, 0, 1)
    h, w = int(size * rng.uniform(1.8, 2.6)), int(size * rng.uniform(2.4, 3.6))
    top, left = int(rng.integers(0, h - size)), int(rng.integers(0, w - size))
    cover = np.zeros((h, w), np.float32)
    cover[top : top + size, left : left + size] = ink
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 3) * 0.25  # fibres and blotches of paper
    paper = 0.9 + texture
    reflect = paper * (1 - cover) + rng.uniform(0.1, 0.25) * cover  # dark ink on light paper
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * x + np.sin(angle) * y  # light falls off across the page ...
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    darkest = rng.uniform(0.35, 0.55)
    light = darkest + (1 - darkest) * ramp
    cy, cx = rng.uniform(0.3, 0.7, 2) * (h / max(h, w), w / max(h, w))
    light *= 1 - 0.35 * ((y - cy) ** 2 + (x - cx) ** 2)  # ... and towards the corners (a vignette)
    image = ndimage.gaussian_filter(light * reflect, rng.uniform(0.8, 1.8))  # out of focus
    image = image + rng.normal(0, 0.02, (h, w))  # sensor noise
    img = Image.fromarray(np.clip(image * 255, 0, 255).astype(np.uint8), mode="L")
    if jpeg:
        import io

        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=70)
        img = Image.open(io.BytesIO(buffer.getvalue()))
    return img


def photos(x: np.ndarray, labels: np.ndarray, folder, count: int = PHOTOS, seed: int = 0):
    """``count`` photos, the first test digits of each class in turn: [(path, label)], saved in ``folder``."""
    rng = np.random.default_rng(seed)
    made = []
    for k in range(count):
        digit = k % 10
        index = int(np.flatnonzero(labels == digit)[k // 10])
        path = folder / f"photo{k:02d}_{digit}.{'jpg' if k % 3 == 2 else 'png'}"
        photo(x[index], rng, jpeg=k % 3 == 2).save(path)
        made.append((path, digit, index))
    return made


@pytest.fixture(scope="module")
def network(book_run):
    """The book's [784, 30, 10], trained for 2 epochs (about 93% on MNIST's test set): the session's shared run."""
    from nndigits.learn.checkpoints import load_network

    return load_network(book_run.checkpoint)


@pytest.mark.slow
def test_photos_of_mnist_digits_under_uneven_light(network, mnist_test, tmp_path):
    x, labels = (t.numpy() for t in mnist_test)
    made = photos(x, labels, tmp_path)
    with torch.no_grad():
        seen = np.stack([load_digit(path) for path, _, _ in made])
        answers = network(torch.from_numpy(seen)).argmax(dim=1).numpy()
        clean = network(torch.from_numpy(x[[i for _, _, i in made]])).argmax(dim=1).numpy()
    truth = np.array([d for _, d, _ in made])
    right = answers == truth
    for tens in range(0, PHOTOS, 10):  # at least 8 of every 10
        assert right[tens : tens + 10].sum() >= 8, (right.sum(), list(zip(truth, answers)))
    assert right.sum() >= (clean == truth).sum() - 2  # the photos cost at most 2 of the clean digits' right answers


def test_a_lighting_ramp_alone_is_not_ink(tmp_path):
    """Paper lit from one side, with nothing on it, is blank -- not a digit made of shadow."""
    ramp = np.linspace(0.35, 0.95, 300)[None, :].repeat(200, axis=0)
    Image.fromarray((ramp * 255).astype(np.uint8), mode="L").save(tmp_path / "ramp.png")
    with pytest.raises(ImageError, match="no ink"):
        load_digit(tmp_path / "ramp.png")


def test_uneven_light_gives_the_digit_of_even_light(mnist_test, tmp_path):
    """The same digit on the same page, evenly lit and lit from one side: the network sees nearly the same 28x28."""
    x, _ = mnist_test
    ink = np.asarray(Image.fromarray(x[0].numpy().reshape(28, 28), mode="F").resize((100, 100)))
    page = np.full((240, 360), 0.9, np.float32)
    page[60:160, 200:300] *= 1 - np.clip(ink, 0, 1) * 0.85  # dark ink, right of centre
    light = np.linspace(0.4, 1.0, 360, dtype=np.float32)[None, :]  # dim on the left
    for name, image in (("even", page), ("uneven", page * light)):
        Image.fromarray((image * 255).astype(np.uint8), mode="L").save(tmp_path / f"{name}.png")
    even, uneven = load_digit(tmp_path / "even.png"), load_digit(tmp_path / "uneven.png")
    assert np.abs(even - uneven).mean() < 0.03
    assert _box(uneven) == _box(even)


def _box(x784: np.ndarray) -> tuple[int, int, int, int]:
    a = x784.reshape(28, 28) > 0.2
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels, with a token IDAT: decoding it would fail as damaged."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_a_thin_long_strip_is_refused_before_decoding(tmp_path):
    """1 x 50,000,000 passes the pixel count, but preprocessing it asked for 25.9 TiB: refused from the header."""
    for width, height in ((50_000_000, 1), (1, 50_000_000), (100_000, 3)):
        path = tmp_path / f"strip_{width}x{height}.png"
        path.write_bytes(_png_header(width, height))
        with pytest.raises(ImageError) as caught:
            load_digit(path)
        message = str(caught.value)
        assert "too thin and long" in message and str(path) in message and "\n" not in message  # not "damaged"


@pytest.mark.slow
def test_a_big_page_is_scaled_down_before_the_work(tmp_path):
    """A 6000 x 4000 photo costs what its 2048-pixel copy costs, and gives the same digit."""
    import tracemalloc

    small = Image.new("L", (1500, 1000), 230)
    ImageDraw.Draw(small).ellipse((600, 300, 800, 650), outline=30, width=25)  # a '0'
    small.save(tmp_path / "small.png")
    small.resize((6000, 4000), Image.Resampling.NEAREST).save(tmp_path / "big.png")
    tracemalloc.start()
    big = load_digit(tmp_path / "big.png")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6  # the work on 24 megapixels in float32 alone would be 96 MB an array
    assert np.abs(big - load_digit(tmp_path / "small.png")).mean() < 0.02


def test_save_mnist_png_writes_what_the_network_sees(tmp_path, mnist_test):
    x, _ = mnist_test
    path = save_mnist_png(x[7].numpy(), tmp_path / "seen" / "digit.png")
    back = np.asarray(Image.open(path), dtype=np.float32) / 255
    assert back.shape == (28, 28) and np.abs(back.reshape(-1) - x[7].numpy()).max() <= 0.5 / 255 + 1e-6
    big = save_mnist_png(x[7].numpy(), tmp_path / "big.png", scale=10)
    assert Image.open(big).size == (280, 280)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["big.png", "digit.png", "seen"]  # no temporary left


def test_predict_show_dir_writes_what_the_network_saw(book_run, mnist_test, tmp_path, capsys):
    from nndigits import predict

    x, labels = mnist_test
    page = photo(x[3].numpy(), np.random.default_rng(3))
    page.save(tmp_path / "photo.png")
    seen = tmp_path / "seen"
    code = predict.main(
        [str(tmp_path / "photo.png"), "--checkpoint", str(book_run.checkpoint), "--show-dir", str(seen)]
    )
    out = capsys.readouterr().out
    assert code == 0 and str(seen / "photo.png.28x28.png") in out
    back = np.asarray(Image.open(seen / "photo.png.28x28.png"), dtype=np.float32).reshape(-1) / 255
    assert np.abs(back - load_digit(tmp_path / "photo.png")).max() <= 0.5 / 255 + 1e-6
    (seen / "blocked.png.28x28.png").mkdir()  # a folder where the picture should go: one line, exit 1
    page.save(tmp_path / "blocked.png")
    code = predict.main(
        [str(tmp_path / "blocked.png"), "--checkpoint", str(book_run.checkpoint), "--show-dir", str(seen)]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "cannot write" in err and "Traceback" not in err
