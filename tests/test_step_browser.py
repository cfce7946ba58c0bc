"""The Learn tab's Step mode in a real browser (Debian's headless Chromium, Playwright).

``python -m nndigits.serve`` serves the page and MNIST's gzipped files (data/*.gz); the trained network
(network.json) is answered from the test, trained here for 500 mini-batches by the training engine.  The test steps
a fresh network ten times, checks the mini-batch cost falls on most steps and that the pictures and the
eq. 9 curve are drawn, and clicks while a x100 runs to see the page answer.  A screenshot of one step
(fresh network, eta = 3) goes to $NNDIGITS_APP_SCREENSHOTS if set (docs/step_view.png is one), else a temp folder.
"""

from __future__ import annotations

import json
import time

import pytest
import torch
from in_chromium import chromium, needs_chromium, screenshots_folder
from test_app_browser import serving

from nndigits.learn.engines import backprop_steps as engine_steps  # the training engine's reference step
from nndigits.learn.network import SigmoidNetwork, one_hot

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def trained(mnist_train) -> bytes:
    """network.json of a network trained here for 500 mini-batches by the training engine (the app's log dir is
    empty: the page's "trained network" is this one)."""
    net = SigmoidNetwork([784, 30, 10], generator=torch.Generator().manual_seed(2)).double()
    x, labels = mnist_train
    xs, ys = x[:5000].double().split(10), one_hot(labels[:5000], 10, torch.float64).split(10)
    engine_steps(net.layers, xs, ys, 3.0, [torch.empty_like(y) for y in ys])
    from nndigits.app.export import network_json

    layers = net.linear_layers()
    weights, biases = [layer.weight.detach() for layer in layers], [layer.bias.detach() for layer in layers]
    return json.dumps(network_json(net.sizes, weights, biases, "test", "500 mini-batches")).encode()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return screenshots_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("server")) as url:
        yield url


def answer(body: bytes):
    return lambda route, request: route.fulfill(status=200, body=body)


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def new_page(browser, errors: list[str]):
    """A page whose script errors go to ``errors``."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def show_step_mode(page, url: str):
    """Open ``url``, the Learn tab, its Step mode; wait for the first mini-batch to be drawn."""
    page.goto(url)
    page.click(".tab[data-tab=learn]")
    page.click("#step-open")
    page.wait_for_function("document.querySelectorAll('#step-batch .example').length === 10", timeout=60_000)


@pytest.fixture(scope="module")
def page(browser, server, trained):
    errors: list[str] = []
    page = new_page(browser, errors)
    page.route("**/network.json", answer(trained))
    show_step_mode(page, server)
    yield page
    page.close()
    assert not errors, errors


def test_step_mode_opens_with_the_next_minibatch(page):
    assert page.locator("#step-mode").is_visible() and not page.locator("#train-form").is_visible()
    assert page.locator("#step-msg").inner_text().startswith("Ready: fresh weights (seed 1)")
    labels = page.evaluate("Array.from(NNStep.order.slice(0, 10), e => NNStep.data.train.labels[e])")
    captions = page.locator("#step-batch .example > .caption").all_inner_texts()
    assert [int(c.split()[2]) for c in captions] == labels  # "y = 7  C_x 0.891"
    assert page.locator("#step-batch .example .outs span").count() == 100
    assert page.locator("#step-batch .example .outs span.want").count() == 10


def test_ten_steps_of_a_fresh_network(page, shots):
    page.fill("#step-form input[name=eta]", "3")
    page.click("#step-reset")
    page.wait_for_function("NNStep.steps === 0 && !NNStep.busy")
    page.click("#step-1")
    page.wait_for_function("NNStep.steps === 1 && !NNStep.busy")
    page.screenshot(path=str(shots / "step_view.png"), full_page=True)
    page.click("#step-10")
    page.wait_for_function("NNStep.steps === 11 && !NNStep.busy")
    history = page.evaluate("NNStep.history")
    fell = sum(after < before for before, after in history[:10])
    assert fell >= 7, history  # the mini-batch cost falls on most steps at eta = 3
    before = float(page.locator("#step-cost-before").inner_text())
    after = float(page.locator("#step-cost-after").inner_text())
    assert (before, after) == pytest.approx(tuple(history[-1]), abs=5e-5)
    assert 0 <= float(page.locator("#step-accuracy").inner_text().rstrip("%")) <= 100
    # the pictures: 30 hidden neurons' Delta w, each a 28x28 canvas with colour where the mini-batch had ink
    assert page.locator("#step-hidden .tile canvas").count() == 30
    coloured = page.eval_on_selector_all(
        "#step-hidden .tile canvas",
        "cs => cs.map(c => { const d = c.getContext('2d').getImageData(0, 0, 28, 28).data; "
        "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] !== 255 || d[i + 2] !== 255) n++; return n; })",
    )
    assert max(coloured) > 50 and min(coloured) < 784  # ink pixels changed, the border did not
    assert page.locator("#step-outputs .out-row").count() == 10
    # the eq. 9 curve: drawn (non-white pixels in the orange of the mini-batch's line) and eta = 30 explained
    orange = page.eval_on_selector(
        "#step-curve",
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; "
        "for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] < 110 && d[i + 2] < 60) n++; return n; }",
    )
    assert orange > 200
    assert page.locator("#step-far").inner_text().startswith("η = 30 (t = 10)")


def test_page_answers_while_stepping_x100(page):
    page.fill("#step-form input[name=m]", "100")
    start = page.evaluate("NNStep.steps")
    page.click("#step-100")
    page.wait_for_function(f"NNStep.busy && NNStep.steps > {start}")
    waits = []
    for _ in range(5):  # while it steps, a click (the Draw tab and back) and a script are answered promptly
        t0 = time.perf_counter()
        page.click(".tab[data-tab=draw]", timeout=2000)
        page.click(".tab[data-tab=learn]", timeout=2000)
        assert page.evaluate("NNStep.busy")
        waits.append(time.perf_counter() - t0)
    # Answered mid-run: the run was still going after every answer (a page blocked by the x100 would answer
    # only after its last step).  The bound is loose because this machine's 2 cores are shared.
    assert max(waits) < 3.0, waits
    assert page.evaluate("NNStep.steps") < start + 100
    page.click("#step-stop")
    page.wait_for_function("!NNStep.busy")
    assert page.evaluate("NNStep.steps") < start + 100
    assert page.locator("#step-batch .example").count() == 20  # m = 100: the first 20 drawn, the rest counted
    page.fill("#step-form input[name=m]", "10")


def test_online_learning_and_a_trained_network(page):
    page.fill("#step-form input[name=m]", "1")
    page.click("#step-1")
    page.wait_for_function("!NNStep.busy && NNStep.history.length > 0")
    assert page.locator("#step-batch .example").count() == 1
    page.select_option("#step-form select[name=start]", "trained")
    page.fill("#step-form input[name=m]", "10")
    page.click("#step-reset")
    page.wait_for_function("NNStep.steps === 0 && !NNStep.busy && NNStep.net.name === '500 mini-batches'")
    page.click("#step-1")
    page.wait_for_function("NNStep.steps === 1 && !NNStep.busy")
    assert float(page.locator("#step-accuracy").inner_text().rstrip("%")) > 50  # trained (a fresh one: ~10%)


def test_bad_input_and_back_to_training(page):
    page.fill("#step-form input[name=eta]", "-1")
    page.click("#step-1")
    assert "eta must be" in page.locator("#step-msg").inner_text()
    assert page.locator("#step-form input[name=eta].bad").count() == 1
    page.fill("#step-form input[name=eta]", "3")
    page.click("#step-back")
    assert page.locator("#train-form").is_visible() and not page.locator("#step-mode").is_visible()


@pytest.fixture(scope="module")
def static_site(exported_site):
    """The static site (``python -m nndigits.serve --export``) of the shared 2-epoch run, served by http.server."""
    from nndigits.app.export import served

    with served(exported_site) as url:
        yield url


def test_step_mode_on_the_static_site(browser, static_site):
    """The same mode on the exported site: no server behind it, MNIST and the network from its own files."""
    errors: list[str] = []
    page = new_page(browser, errors)
    show_step_mode(page, static_site)
    page.click("#step-1")
    page.wait_for_function("NNStep.steps === 1 && !NNStep.busy")
    assert page.locator("#step-hidden .tile canvas").count() == 30
    page.select_option("#step-form select[name=start]", "trained")
    page.click("#step-reset")
    page.wait_for_function("NNStep.steps === 0 && !NNStep.busy && NNStep.net.sizes.length === 3")
    page.click("#step-1")
    page.wait_for_function("NNStep.steps === 1 && !NNStep.busy")
    assert float(page.locator("#step-accuracy").inner_text().rstrip("%")) > 85  # the book's net after 2 epochs
    page.close()
    assert not errors, errors
