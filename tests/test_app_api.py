"""The web app's API through FastAPI's TestClient: same answers as ``python -m nndigits.predict``, same
preprocessing as ``nndigits.use.images``, every bad input a 4xx that names the problem, one run at a time."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from nndigits.app.api import create_app  # noqa: E402
from nndigits.use.images import load_digit, save_mnist_png  # noqa: E402

pytestmark = pytest.mark.slow  # the app trains networks, and the tests read the shared book run's checkpoints


def copy_checkpoints(book_run, logdir: Path) -> Path:
    """The shared run's checkpoints copied into a log dir of this module's own (the app trains more runs there)."""
    target = logdir / book_run.run.relative_to(book_run.logdir) / "checkpoints"
    target.mkdir(parents=True)
    for checkpoint in sorted(book_run.checkpoint.parent.glob("*.ckpt")):
        shutil.copy2(checkpoint, target / checkpoint.name)
    return target / book_run.checkpoint.name


@pytest.fixture(scope="module")
def trained(book_run, tmp_path_factory):
    """A log dir holding the checkpoints of the shared 2-epoch run of the book's network, and its last one."""
    logdir = tmp_path_factory.mktemp("runs")
    return logdir, copy_checkpoints(book_run, logdir)


@pytest.fixture(scope="module")
def client(trained):
    with TestClient(create_app(trained[0])) as c:
        yield c


def png_bytes(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_predict_agrees_with_the_predict_command(client, trained, mnist_test, tmp_path):
    x, labels = mnist_test
    paths = []
    for i in range(25):
        path = tmp_path / f"digit{i}_{int(labels[i])}.png"
        save_mnist_png(x[i].numpy(), path)
        paths.append(path)
    command = [sys.executable, "-m", "nndigits.predict", "--checkpoint", str(trained[1]), *map(str, paths)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout.splitlines()
    by_command = {line.split(":")[0]: int(line.split(":")[1].split()[0]) for line in out}
    assert len(by_command) == len(paths)
    for path in paths:
        r = client.post(f"/api/predict?name={path.name}", content=path.read_bytes())
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["guess"] == by_command[str(path)]
        # the 28x28 the network saw is exactly what nndigits.use.images makes of the file
        assert np.array_equal(np.asarray(body["image"], dtype=np.float32), load_digit(path))
    correct = sum(by_command[str(p)] == int(p.stem.split("_")[1]) for p in paths)
    assert correct >= 20  # a two-epoch network reads most test digits


def test_a_drawing_is_preprocessed_by_the_same_code(client, tmp_path):
    """The canvas sends an RGBA PNG of dark ink on white; the API's 28x28 equals load_digit of that file."""
    drawing = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    ImageDraw.Draw(drawing).line([(70, 60), (210, 60), (120, 240)], fill=(17, 17, 17, 255), width=20)
    path = tmp_path / "drawing.png"
    drawing.save(path)
    body = client.post("/api/predict?name=drawing", content=path.read_bytes()).json()
    assert np.array_equal(np.asarray(body["image"], dtype=np.float32), load_digit(path))
    assert len(body["outputs"]) == 10 and body["guess"] == int(np.argmax(body["outputs"]))
    hidden = body["hidden"]
    assert sorted(h["neuron"] for h in hidden) == list(range(30))
    pushes = [h["push"] for h in hidden]
    assert pushes == sorted(pushes, reverse=True)  # ordered by activation x outgoing weight to the guess


def test_hidden_pushes_are_activation_times_outgoing_weight(client, trained):
    import torch

    from nndigits.learn.checkpoints import load_network

    net = load_network(trained[1])
    image = Image.new("L", (100, 100), 255)
    ImageDraw.Draw(image).line([(50, 10), (50, 90)], fill=0, width=8)
    body = client.post("/api/predict", content=png_bytes(image)).json()
    x = torch.tensor(body["image"]).reshape(1, 784)
    with torch.no_grad():
        a1 = torch.sigmoid(net.layers[0](x))[0]
        outputs = net(x)[0]
    assert np.allclose(body["outputs"], outputs.detach().numpy(), atol=1e-6)
    for h in body["hidden"]:
        j = h["neuron"]
        assert h["activation"] == pytest.approx(float(a1[j]), abs=1e-6)
        w = net.layers[1].weight.detach()[body["guess"], j]
        assert h["push"] == pytest.approx(float(a1[j] * w), abs=1e-5)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels: decoding it would need gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


BAD_UPLOADS = {
    "over the size cap": (b"\0" * (10 * 2**20 + 1), 413, "over the upload limit"),
    "not an image": (b"this is a text file, not a picture\n" * 10, 422, "not an image"),
    "decompression bomb": (bomb_png(), 422, ("too big", "megapixels")),
    "60 megapixels": (bomb_png(10_000, 6_000), 422, ("too big", "megapixels")),
    "no ink": (png_bytes(Image.new("L", (64, 64), 255)), 422, "no ink"),
    "empty": (b"", 422, "empty"),
    "truncated": (png_bytes(Image.effect_noise((64, 64), 60))[:200], 422, "damaged"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_bad_uploads_are_4xx_naming_the_problem(client, case):
    data, status, words = BAD_UPLOADS[case]
    r = client.post("/api/predict?name=photo.jpg", content=data)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert any(w in detail for w in ((words,) if isinstance(words, str) else words)), detail
    assert client.get("/api/status").status_code == 200  # and the server keeps serving


BAD_SETTINGS = [
    ({"eta": -1}, "eta"),
    ({"eta": 0}, "eta"),
    ({"eta": "fast"}, "eta"),
    ('{"eta": NaN}', "eta"),
    ('{"eta": Infinity}', "eta"),
    ({"m": 0}, "m"),
    ({"m": 2.5}, "m"),
    ({"m": 50_001}, "m"),  # the bounds of the train command's flags (chapter.py), not the page's own
    ({"eta": 1e-40}, "eta"),  # 0 in float32
    ({"epochs": 0}, "epochs"),
    ({"epochs": 10**9}, "epochs"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**40}, "seed"),
    ({"hidden": [0]}, "hidden.0"),
    ({"hidden": [30, "x"]}, "hidden.1"),
    ({"hidden": 30}, "hidden"),
    ({"hidden": [10**7]}, "hidden"),  # in bounds, but larger than memory
    ({"speed": 11}, "speed"),
]


@pytest.mark.parametrize(("settings", "field"), BAD_SETTINGS)
def test_bad_training_settings_are_422_naming_the_field(client, settings, field):
    if isinstance(settings, str):  # NaN and Infinity: Python's json reads them, httpx will not send them
        r = client.post("/api/train", content=settings.encode(), headers={"content-type": "application/json"})
    else:
        r = client.post("/api/train", json=settings)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert r.json()["detail"].startswith(f"{field}: ")
    assert not client.app.state.job.running


def test_malformed_requests(client):
    r = client.post("/api/train", content=b'{"eta": 3', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body" and "JSON" in r.json()["detail"]
    r = client.post("/api/networks/select", json={"id": "../../etc/passwd"})
    assert r.status_code == 404 and "no checkpoint with id" in r.json()["detail"]
    r = client.get("/api/perceptrons/sigmoid?c=-1")
    assert r.status_code == 422 and r.json()["field"] == "c"


def test_without_a_network_the_api_says_so(tmp_path):
    with TestClient(create_app(tmp_path / "empty")) as c:
        assert c.get("/api/status").json()["network"] is None
        assert c.get("/api/networks").json()["networks"] == []
        r = c.post("/api/predict", content=png_bytes(Image.new("L", (8, 8), 0)))
        assert r.status_code == 409 and "train one" in r.json()["detail"]
        assert c.get("/api/network").status_code == 409


def test_choose_a_network_by_id(client, trained):
    listed = client.get("/api/networks").json()
    names = [n["name"] for n in listed["networks"]]
    assert any(name.endswith("last.ckpt") for name in names) and any(name.endswith("epoch01.ckpt") for name in names)
    other = next(n for n in listed["networks"] if n["id"] != listed["current"])
    r = client.post("/api/networks/select", json={"id": other["id"]})
    assert r.status_code == 200 and r.json()["id"] == other["id"]
    assert client.get("/api/networks").json()["current"] == other["id"]
    assert len(client.get("/api/network").json()["weights"]) == 30


def test_perceptrons_come_from_the_studies_module(client):
    from nndigits.studies.neurons import half_adder, nand

    body = client.get("/api/perceptrons").json()
    for row in body["nand"]["rows"]:
        import torch

        assert row["out"] == int(nand()(torch.tensor([row["x"]], dtype=torch.float32))[0])
        assert row["out"] == 1 - (row["x"][0] & row["x"][1])
    for row in body["half_adder"]["rows"]:
        x1, x2 = row["x"]
        assert row["outputs"] == {"sum": x1 ^ x2, "carry": x1 & x2}
        assert row["wires"]["g1"] == 1 - (x1 & x2)
    assert len(body["half_adder"]["gates"]) == len(half_adder().units) == 5
    curve = client.get("/api/perceptrons/sigmoid?c=50").json()
    z, s, step = map(np.asarray, (curve["z"], curve["sigmoid"], curve["step"]))
    assert np.all(np.abs(s - step)[np.abs(z) > 0.2] < 1e-4)  # a steep sigmoid is the step away from 0


def test_one_run_at_a_time_and_stop_works(client, trained):
    job = client.app.state.job
    r = client.post("/api/train", json={"epochs": 30, "seed": 3})
    assert r.status_code == 202, r.text
    second = client.post("/api/train", json={"epochs": 1})
    assert second.status_code == 409 and "a run is in progress" in second.json()["detail"]
    assert client.post("/api/networks/select", json={"id": "x"}).status_code == 409
    # the first run goes on: wait for its first epoch, then stop it
    for _ in range(600):
        if any(e["type"] == "epoch" for e in job.events):
            break
        job.thread.join(0.5)
    first_epoch = next(e for e in job.events if e["type"] == "epoch")
    assert first_epoch["line"].startswith("Epoch 0: ") and "/ 10000" in first_epoch["line"]
    assert len(first_epoch["weights"]) == 30
    assert client.post("/api/train/stop").json() == {"stopping": True}
    job.thread.join(120)
    end = job.events[-1]
    assert end["type"] == "end" and end["status"] == "stopped", end
    epochs = [e for e in job.events if e["type"] == "epoch"]
    assert 1 <= len(epochs) < 30
    # Draw now uses the new network: the run's last checkpoint, listed under the log dir
    current = client.get("/api/networks").json()
    assert end["network"] == current["current"]
    assert any(n["id"] == end["network"] and n["name"].endswith("last.ckpt") for n in current["networks"])


def test_a_short_run_ends_done(client):
    job = client.app.state.job
    assert client.post("/api/train", json={"epochs": 1, "hidden": [12]}).status_code == 202
    job.thread.join(300)
    end = job.events[-1]
    assert end["status"] == "done", end
    assert [e["epoch"] for e in job.events if e["type"] == "epoch"] == [0]
    assert client.get("/api/network").json()["sizes"] == [784, 12, 10]
