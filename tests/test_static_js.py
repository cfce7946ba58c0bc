"""The static site's JavaScript against the Python it stands in for, run with Node (tests/js/harness.mjs).

* SGD: from the same initial weights and the same order of MNIST examples, 500 steps of the page's
  ``sgdStep`` (float64) end within 1e-12 of the NumPy reference (core/scratch.py, the book's
  per-example loop), and the page's fast epoch loop (``trainEpoch``) ends bit for bit where ``sgdStep`` does.
* Draw: the page's preprocessing gives the 28x28 of use/images.py to within 1e-5 per pixel, and its forward
  pass the torch network's outputs to within 1e-5 and the same digit, on the example images and MNIST test
  digits.  (Unevenly lit photos are evened out by images.py only; for those just the digit is compared.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

NODE = shutil.which("node")
HARNESS = Path(__file__).parent / "js" / "harness.mjs"
EXAMPLES = Path(__file__).parent.parent / "examples"
UNEVEN = {"digit_1_small_grey_paper.png"}  # a photo: images.py evens out its light, the page does not
pytestmark = pytest.mark.skipif(NODE is None, reason="no node (apt-get install nodejs)")


def node(request: dict):
    done = subprocess.run(
        [NODE, str(HARNESS)], input=json.dumps(request), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_sgd_step_matches_the_numpy_reference(mnist_train):
    from nndigits.core.scratch import Network
    from nndigits.learn.mnist import default_data_dir, raw_dir

    images, labels = mnist_train
    rng = np.random.default_rng(7)
    reference = Network([784, 30, 10], seed=7)
    order = rng.permutation(50_000)[:5003]  # 500 steps of m = 10, then one of 3: the last batch may be smaller
    start = {"sizes": reference.sizes, "weights": [w.ravel().tolist() for w in reference.weights]}
    start["biases"] = [b.tolist() for b in reference.biases]
    js = node(
        {"op": "sgd", **start, "raw": str(raw_dir(default_data_dir())), "order": order.tolist(), "m": 10, "eta": 3.0}
    )
    x = images.numpy().astype(np.float64)
    y = np.eye(10)[labels.numpy()]
    for k in range(0, len(order), 10):
        batch = order[k : k + 10]
        reference.update_mini_batch(x[batch], y[batch], 3.0)
    moved = 0.0
    for l in range(2):
        w, b = np.array(js["weights"][l]).reshape(reference.weights[l].shape), np.array(js["biases"][l])
        assert np.abs(w - reference.weights[l]).max() < 1e-12
        assert np.abs(b - reference.biases[l]).max() < 1e-12
        moved = max(moved, float(np.abs(reference.weights[l] - np.array(start["weights"][l]).reshape(w.shape)).max()))
        assert js["fast"]["weights"][l] == js["weights"][l]  # bit for bit
        assert js["fast"]["biases"][l] == js["biases"][l]
    assert moved > 0.1  # the 500 steps did move the weights


def gray_of(path: Path) -> np.ndarray:
    from nndigits.use.image_files import gray_levels, open_image

    return gray_levels(open_image(path))


def ask_js(grays: list[np.ndarray], network: dict | None):
    images = [{"gray": g.ravel().tolist(), "width": g.shape[1], "height": g.shape[0]} for g in grays]
    return node({"op": "preprocess", "images": images, "network": network})


def test_preprocessing_matches_images_py(mnist_test):
    from nndigits.use.images import ink_map, load_digit, to_mnist

    clean = [EXAMPLES / "digit_2_light_on_dark.png", EXAMPLES / "digit_7_dark_on_light.png"]
    digits = mnist_test[0][:300].numpy().reshape(-1, 28, 28)
    # MNIST digits as pictures, also enlarged 5x and inverted (dark ink on light paper, scaled down again)
    big = [1.0 - np.kron(d, np.ones((5, 5), dtype=np.float32)) for d in digits[:20]]
    grays = [gray_of(p) for p in clean] + list(digits) + big
    answers = ask_js(grays, None)
    expected = [load_digit(p) for p in clean] + [to_mnist(ink_map(g)) for g in grays[len(clean) :]]
    worst = max(float(np.abs(np.array(a["x"]) - e).max()) for a, e in zip(answers, expected))
    assert worst < 1e-5, worst
    blank = ask_js([np.ones((30, 30), dtype=np.float32)], None)[0]
    assert blank["error"] == "image: the image has no ink (it is blank or a single uniform colour)"


@pytest.mark.slow
def test_forward_pass_matches_the_torch_network(book_run, mnist_test):
    import torch

    from nndigits.app.export import network_json
    from nndigits.core.checkpoints import load_numpy_network
    from nndigits.learn.checkpoints import load_network
    from nndigits.use.images import ink_map, load_digit, to_mnist

    net = load_network(book_run.checkpoint)
    numpy_net = load_numpy_network(book_run.checkpoint)
    exported = network_json(numpy_net.sizes, numpy_net.weights, numpy_net.biases, "x", "x")
    paths = sorted(EXAMPLES.glob("digit_*.png"))
    digits = list(mnist_test[0][:200].numpy().reshape(-1, 28, 28))
    answers = ask_js([gray_of(p) for p in paths] + digits, exported)
    inputs = [load_digit(p) for p in paths] + [to_mnist(ink_map(d)) for d in digits]  # what Draw feeds the network
    with torch.no_grad():
        outputs = net(torch.as_tensor(np.stack(inputs))).numpy()
    for k, (answer, expected) in enumerate(zip(answers, outputs)):
        assert int(np.argmax(answer["outputs"])) == int(np.argmax(expected)), k
        uneven = k < len(paths) and paths[k].name in UNEVEN
        if not uneven:
            assert np.abs(np.array(answer["outputs"]) - expected).max() < 1e-5, k


def test_perceptrons_match_the_apps_tables():
    from nndigits.app import gates
    from nndigits.app.export import perceptrons_json

    js = node({"op": "circuits", "circuits": perceptrons_json(), "c": 2.5})
    assert js["nand"]["rows"] == gates.nand_table()["rows"]
    assert js["half_adder"]["rows"] == gates.half_adder_table()["rows"]
    expected = gates.sigmoid_curve(2.5)
    assert js["sigmoid"]["z"] == expected["z"] and js["sigmoid"]["step"] == expected["step"]
    # torch computes sigma in float32, the page in float64: the 5-decimal roundings may differ by one unit
    assert np.abs(np.array(js["sigmoid"]["sigmoid"]) - expected["sigmoid"]).max() <= 1.1e-5
