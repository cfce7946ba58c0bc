"""The web app end to end in a real browser: Debian's headless Chromium driven by Playwright.

The shared 2-epoch run of the book's network (``book_run``) gives the
checkpoints, ``python -m nndigits.serve`` runs in a subprocess on a free port
of 127.0.0.1, and the tests draw with the mouse, upload bad files, switch
networks and train from the page.  Screenshots go to
$NNDIGITS_APP_SCREENSHOTS if set (docs/ uses two of them), else a temp folder.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from in_chromium import chromium, draw, needs_chromium, screenshots_folder

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def logdir(book_run, tmp_path_factory):
    """A log dir of this module's own with the shared 2-epoch book run's checkpoints (the page trains more there)."""
    logdir = tmp_path_factory.mktemp("runs")
    target = logdir / book_run.run.relative_to(book_run.logdir) / "checkpoints"
    target.mkdir(parents=True)
    for checkpoint in book_run.checkpoint.parent.glob("*.ckpt"):
        shutil.copy2(checkpoint, target / checkpoint.name)
    return logdir


@contextlib.contextmanager
def serving(logdir: Path, folder: Path):
    """The URL of ``python -m nndigits.serve`` on a free port; at the end, its log must hold no traceback."""
    out, err = folder / "stdout", folder / "stderr"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "nndigits.serve", "--logdir", str(logdir), "--port", "0"],
            stdout=stdout,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 300
        while not (match := re.search(r"http://\S+/", out.read_text())):
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(30)
    log = err.read_text()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def server(logdir, tmp_path_factory):
    with serving(logdir, tmp_path_factory.mktemp("server")) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return screenshots_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def page(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    page.wait_for_function("document.querySelectorAll('#hidden .tile').length === 30")
    yield page
    page.close()
    assert not errors, errors


def test_draw_a_one_and_a_seven(page, shots):
    assert draw(page, [(140, 40), (140, 240)]) == "1"
    page.click("#clear")
    assert page.locator("#guess").inner_text() == "–"
    assert draw(page, [(70, 60), (210, 60), (120, 240)]) == "7"
    # the view: the 28x28 drawn from the API's pixels, ten bars, hidden tiles reordered by push
    assert page.locator("#bars .bar.win").inner_text().startswith("7")
    orders = page.eval_on_selector_all("#hidden .tile", "ts => ts.map(t => Number(t.style.order))")
    assert sorted(orders) == list(range(30))
    lit = page.eval_on_selector(
        "#seen", "c => c.getContext('2d').getImageData(0, 0, 28, 28).data.some(v => v > 0 && v < 255)"
    )
    assert lit
    page.screenshot(path=str(shots / "app_draw.png"), full_page=True)
    # undo takes the last stroke away and reads again
    page.click("#clear")
    draw(page, [(140, 40), (140, 240)], [(60, 200), (220, 200)])
    before = page.evaluate("NN.readings")
    page.click("#undo")
    page.wait_for_function(f"NN.readings > {before}")
    assert page.locator("#guess").inner_text() == "1"


def test_a_bad_upload_says_why(page):
    page.set_input_files("#upload", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello\n" * 9}])
    message = page.locator("#draw-msg")
    sync_api.expect(message).to_contain_text("not an image")
    assert "error" in message.get_attribute("class")
    blank = {"name": "blank.png", "mimeType": "image/png", "buffer": _png(255)}
    page.set_input_files("#upload", files=[blank])
    sync_api.expect(message).to_contain_text("blank.png: the image has no ink")
    huge = {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\xff" * (11 * 2**20)}
    page.set_input_files("#upload", files=[huge])
    sync_api.expect(message).to_contain_text("huge.jpg: the file is over the upload limit")


def _png(level: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (50, 50), level).save(buffer, format="PNG")
    return buffer.getvalue()


def test_switch_networks(page):
    options = page.eval_on_selector_all("#network-choice option", "os => os.map(o => o.value)")
    current = page.eval_on_selector("#network-choice", "s => s.value")
    assert len(options) >= 2
    other = next(o for o in options if o != current)
    page.select_option("#network-choice", other)
    sync_api.expect(page.locator("#draw-msg")).to_contain_text("Now reading with")
    assert page.request.get(page.url + "api/networks").json()["current"] == other


def test_train_from_the_page(page, shots):
    page.click("text=Learn")
    page.fill("input[name=epochs]", "0")
    page.click("#train")
    sync_api.expect(page.locator("#learn-msg")).to_contain_text("epochs: ")  # a bad setting: named, not run
    assert "bad" in page.get_attribute("input[name=epochs]", "class")
    page.fill("input[name=epochs]", "1")
    page.click("#train")
    sync_api.expect(page.locator("#log")).to_contain_text("Epoch 0: ", timeout=300_000)
    sync_api.expect(page.locator("#learn-msg")).to_contain_text("Done", timeout=120_000)
    assert page.locator("#learn-weights .tile").count() == 30
    page.screenshot(path=str(shots / "app_learn.png"), full_page=True)
    page.click("text=Perceptrons")
    page.click("#adder .gate.input[data-name=x1]")
    page.wait_for_timeout(200)
    page.screenshot(path=str(shots / "app_perceptrons.png"), full_page=True)
    page.click("text=Draw")
    assert draw(page, [(140, 40), (140, 240)]) == "1"  # Draw reads with the new network


def test_with_no_network_the_page_offers_to_train(browser, tmp_path, shots):
    with serving(tmp_path / "empty", tmp_path) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        notice = page.locator("#no-network")
        sync_api.expect(notice).to_be_visible()
        sync_api.expect(notice).to_contain_text("No trained network yet")
        assert page.locator("#network-choice").inner_text() == "no checkpoints yet"
        draw(page, [(140, 40), (140, 240)])
        sync_api.expect(page.locator("#draw-msg")).to_contain_text("no network yet")
        page.screenshot(path=str(shots / "app_no_network.png"), full_page=True)
        page.click("#go-learn")
        sync_api.expect(page.locator("#learn")).to_be_visible()
        page.close()


def test_the_page_code_of_the_static_site_works_against_the_app(page, book_run):
    """The live app serves network.json and data/*.gz where the static site has them: the in-page loaders work."""
    sizes = page.evaluate("import('./static/network.js').then((m) => m.loadNetwork()).then((net) => net.sizes)")
    assert sizes == [784, 30, 10]
    labels = page.evaluate(
        "import('./static/mnist.js').then((m) => m.fetchIdx('data/t10k-labels-idx1-ubyte.gz'))"
        ".then((idx) => [idx.shape, Array.from(idx.data.slice(0, 5))])"
    )
    assert labels == [[10000], [7, 2, 1, 0, 4]]
    assert page.evaluate("NN.backend.mode") == "live"


def test_nothing_overflows_a_phone(browser, server):
    """At 390 px (a phone) the page is no wider than the screen on any tab: the network chooser used to be."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page.goto(server)
    page.wait_for_function("document.querySelectorAll('#hidden .tile').length === 30")
    for tab in ("Learn", "Perceptrons", "Draw"):
        page.click(f"text={tab}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{tab}: the page is {width} px wide"
    page.close()
