"""The static site (``python -m nndigits.serve --export DIR``) in a real browser, served by a plain static server.

The shared 2-epoch book run's checkpoint is exported, ``python -m http.server`` serves the folder on a free
port of 127.0.0.1, and Debian's headless Chromium (Playwright) draws, uploads, trains in the page and opens
links with settings -- while every request to another origin is intercepted and fails the test.  Then a
390 px touch screen: nothing wider than the screen, and a finger's stroke draws and is read.
The export's bad input (no browser needed) is at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from in_chromium import chromium, draw, needs_chromium

EXAMPLES = Path(__file__).parent.parent / "examples"
sync_api = pytest.importorskip("playwright.sync_api")
browser_needed = needs_chromium


@pytest.fixture(scope="module")
def url(exported_site):
    from nndigits.app.export import served

    with served(exported_site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@contextlib.contextmanager
def opened(browser, url, **context):
    """A page of a fresh context at ``url`` whose requests may go to the site's own origin only (any other is
    aborted and fails the test), with no page errors."""
    ctx = browser.new_context(**context)
    foreign: list[str] = []
    origin = re.match(r"https?://[^/]+/", url).group(0)  # type: ignore[union-attr]

    def guard(route):
        if route.request.url.startswith((origin, "data:", "blob:")):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    ctx.route("**/*", guard)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    try:
        yield page
    finally:
        ctx.close()
    assert not foreign, foreign
    assert not errors, errors


def ready(page):
    page.wait_for_function("window.NN && document.querySelectorAll('#hidden .tile').length === 30")


def test_the_site_weighs_at_most_15_mb_and_holds_mnist(exported_site):
    site = exported_site
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    assert size <= 15e6, size
    assert sorted(p.name for p in (site / "data").iterdir()) == sorted(
        f"{n}.gz"
        for n in (
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
        )
    )


@browser_needed
def test_draw_and_upload_in_the_page(browser, url, book_run):
    from nndigits.core.checkpoints import load_numpy_network
    from nndigits.use.images import load_digit

    with opened(browser, url, viewport={"width": 1280, "height": 900}) as page:
        started = time.monotonic()
        ready(page)
        assert time.monotonic() - started < 5  # usable at once (1 s on a quiet machine; this one is shared)
        assert page.evaluate("NN.backend.mode") == "static"
        assert draw(page, [(140, 40), (140, 240)]) == "1"
        page.click("#clear")
        assert draw(page, [(70, 60), (210, 60), (120, 240)]) == "7"
        orders = page.eval_on_selector_all("#hidden .tile", "ts => ts.map(t => Number(t.style.order))")
        assert sorted(orders) == list(range(30))
        # the example images: the digit python -m nndigits.predict gives (same network, same preprocessing)
        net = load_numpy_network(book_run.checkpoint)
        for path in sorted(EXAMPLES.glob("digit_*.png")):
            before = page.evaluate("NN.readings")
            page.set_input_files("#upload", str(path))
            page.wait_for_function(f"NN.readings > {before}")
            expected = int(np.argmax(net.feedforward(load_digit(path)[None])[0]))
            assert page.locator("#guess").inner_text() == str(expected), path.name
        page.set_input_files("#upload", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi\n" * 9}])
        sync_api.expect(page.locator("#draw-msg")).to_contain_text("notes.txt: not an image")
        page.click("text=Perceptrons")
        page.click("#adder .gate.input[data-name=x1]")
        sync_api.expect(page.locator("#adder")).to_contain_text("sum 0")  # x1 = x2 = 1: 1 + 1 = binary 10
        sync_api.expect(page.locator("#adder")).to_contain_text("carry 1")


@browser_needed
def test_train_in_the_page_stop_and_a_link_reproduces_the_run(browser, url):
    shots = os.environ.get("NNDIGITS_APP_SCREENSHOTS")
    settings = "?hidden=30&eta=3&m=10&epochs=1&seed=5"
    with opened(browser, url + settings, viewport={"width": 1280, "height": 900}) as page:
        ready(page)
        assert page.locator("#learn").is_visible()  # a link with settings opens the Learn tab, filled in
        assert [page.input_value(f"input[name={n}]") for n in ("hidden", "eta", "m", "epochs", "seed")] == [
            "30",
            "3",
            "10",
            "1",
            "5",
        ]
        page.click("#train")
        sync_api.expect(page.locator("#learn-msg")).to_contain_text("Done", timeout=180_000)
        first = re.search(r"Epoch 0: (\d+) / 10000.*", page.locator("#log").inner_text())
        assert first and int(first.group(1)) >= 9000, page.locator("#log").inner_text()
        assert page.locator("#learn-weights .tile").count() == 30
        assert page.get_attribute("#run-link", "href").endswith(settings)
        assert "seed=5" in page.url
        page.click("text=Draw")
        assert page.eval_on_selector("#network-choice", "s => s.selectedOptions[0].text") == "trained in this page"
        assert draw(page, [(140, 40), (140, 240)]) == "1"
        # Stop: a longer run stops after its current chunk of mini-batches
        page.click("text=Learn")
        page.fill("input[name=epochs]", "30")
        page.click("#train")
        sync_api.expect(page.locator("#log")).to_contain_text("Epoch 2: ", timeout=180_000)
        if shots:  # the README's picture of the Learn tab mid-run
            page.screenshot(path=str(Path(shots) / "static_learn.png"), full_page=True)
        page.click("#stop")
        sync_api.expect(page.locator("#learn-msg")).to_contain_text("Stopped after", timeout=60_000)
        assert "Epoch 29" not in page.locator("#log").inner_text()
        page.fill("input[name=epochs]", "0")
        page.click("#train")
        sync_api.expect(page.locator("#learn-msg")).to_contain_text("epochs: ")
        assert "bad" in page.get_attribute("input[name=epochs]", "class")
    with opened(browser, url + settings, viewport={"width": 1280, "height": 900}) as again:
        ready(again)
        again.click("#train")
        sync_api.expect(again.locator("#learn-msg")).to_contain_text("Done", timeout=180_000)
        assert re.search(r"Epoch 0: .*", again.locator("#log").inner_text()).group(0) == first.group(0)


def touch_stroke(page, points):
    """A finger's stroke on the screen (Chrome DevTools' touch events): start, moves, end."""
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]}
    )
    for x, y in points[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


@browser_needed
def test_a_phone(browser, url):
    phone = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 3}
    with opened(browser, url, **phone) as page:
        ready(page)
        for tab in ("Learn", "Perceptrons", "Draw"):
            page.click(f"text={tab}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{tab}: the page is {width} px wide"
        box = page.locator("#pad").bounding_box()
        scroll = page.evaluate("window.scrollY")
        x = box["x"] + box["width"] / 2
        points = [(x, box["y"] + box["height"] * t / 20) for t in range(3, 18)]
        before = page.evaluate("NN.readings")
        touch_stroke(page, points)
        page.wait_for_function(f"NN.readings > {before}")
        assert page.locator("#guess").inner_text() == "1"
        assert page.evaluate("window.scrollY") == scroll  # the finger drew; the page did not scroll


# --- the export's bad input: one line, exit 1, nothing written -------------------------------------------


def export(capsys, *argv):
    from nndigits.serve import main

    code = main(["--export", *map(str, argv)])
    err = capsys.readouterr().err
    return code, err


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir()]


def test_export_refuses_a_missing_or_corrupt_checkpoint(tmp_path, capsys):
    code, err = export(capsys, tmp_path / "site", "--checkpoint", tmp_path / "nope.ckpt")
    assert code == 1 and err.count("\n") == 1 and "nope.ckpt" in err and "Traceback" not in err
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    code, err = export(capsys, tmp_path / "site", "--checkpoint", tmp_path / "bad.ckpt")
    assert code == 1 and err.count("\n") == 1 and "bad.ckpt" in err
    code, err = export(capsys, tmp_path / "site", "--logdir", tmp_path / "empty")
    assert code == 1 and "no checkpoint under" in err
    assert sorted(leftovers(tmp_path)) == ["bad.ckpt"]


def test_export_refuses_a_non_empty_or_unwritable_folder(tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    code, err = export(capsys, full)
    assert code == 1 and err.strip().endswith("is not empty; export into a new or empty folder")
    assert leftovers(full) == ["keep.txt"]
    code, err = export(capsys, "/proc/nndigits-site")
    assert code == 1 and err.count("\n") == 1 and "/proc" in err


@pytest.mark.slow
def test_export_without_mnist_writes_nothing(book_run, tmp_path, capsys):
    code, err = export(capsys, tmp_path / "site", "--checkpoint", book_run.checkpoint, "--data-dir", tmp_path / "none")
    assert code == 1 and err.count("\n") == 1 and "MNIST is not in" in err
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_the_live_app_serves_the_static_sites_files(book_run):
    import gzip

    from fastapi.testclient import TestClient

    from nndigits.app.api import create_app
    from nndigits.core.checkpoints import load_numpy_network
    from nndigits.learn.mnist import default_data_dir, raw_dir

    client = TestClient(create_app(book_run.logdir, book_run.checkpoint))
    assert client.get("/site.json").json()["mode"] == "live"
    exported = client.get("/network.json").json()
    net = load_numpy_network(book_run.checkpoint)
    assert exported["sizes"] == net.sizes
    assert np.array_equal(np.array(exported["weights"][0]).reshape(30, 784), net.weights[0])
    labels = client.get("/data/t10k-labels-idx1-ubyte.gz")
    raw = raw_dir(default_data_dir()) / "t10k-labels-idx1-ubyte"
    assert labels.status_code == 200 and gzip.decompress(labels.content) == raw.read_bytes()
    missing = client.get("/data/passwords.gz")
    assert missing.status_code == 404 and "no MNIST file" in missing.json()["detail"]
