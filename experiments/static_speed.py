"""Seconds per epoch of the book's run trained in the static site's page, in headless Chromium.

Exports the static site (``python -m nndigits.serve --export``, the newest checkpoint under runs/ or
--checkpoint), serves it with ``python -m http.server`` on 127.0.0.1, opens it in Debian's Chromium with the
book's settings in the URL (hidden 30, eta 3, m 10, seed 1) and reads the seconds the page's worker took for
each epoch (SGD over the 50,000 training digits, then the 10,000 test and 10,000 validation digits), for the
WebAssembly engine and the plain JavaScript one.  Writes experiments/results/static_speed.md.

    python experiments/static_speed.py [--epochs 3] [--checkpoint CKPT] [--engines wasm js]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from nndigits.app.export import export_site, served
from nndigits.learn.atomic import write_atomic

CHROMIUM = "/usr/bin/chromium"
RESULTS = Path(__file__).parent / "results" / "static_speed.md"


def draw_ready(url: str, tries: int = 5) -> list[float]:
    """Seconds from opening the site to Draw usable (the network loaded, its 30 weight pictures drawn)."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for _ in range(tries):
            page = browser.new_context().new_page()
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_function("document.querySelectorAll('#hidden .tile').length === 30")
            times.append(time.perf_counter() - started)
            page.context.close()
        browser.close()
    return times


def measure(url: str, epochs: int, engine: str) -> tuple[list[float], str]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{url}?hidden=30&eta=3&m=10&epochs={epochs}&seed=1&engine={engine}")
        page.wait_for_function("window.NN && NN.epochSeconds !== undefined")
        page.click("#train")
        page.wait_for_function("document.querySelector('#learn-msg').textContent.startsWith('Done')", timeout=600_000)
        seconds, log = page.evaluate("NN.epochSeconds"), page.inner_text("#log")
        version = browser.version
        browser.close()
    return seconds, log + f"\n(Chromium {version})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--engines", nargs="+", default=["wasm", "js"], choices=["wasm", "js"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        site = export_site(Path(folder) / "site", args.checkpoint)
        with served(site) as url:
            load_before = os.getloadavg()
            started = time.strftime("%Y-%m-%d %H:%M")
            ready = draw_ready(url)
            runs = {engine: measure(url, args.epochs, engine) for engine in args.engines}
            load_after = os.getloadavg()
    lines = [
        "# The static site: seconds per epoch of the book's run, trained in the page",
        "",
        f"`python experiments/static_speed.py --epochs {args.epochs}` on {started}, headless Chromium, "
        f"{os.cpu_count()} cores shared with other work: load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after.",
        "An epoch: SGD over the 50,000 training digits (m = 10, eta = 3.0, [784, 30, 10], float64), then the 10,000 "
        "test and 10,000 validation digits evaluated, as the page's worker times it.",
        "",
        "| engine | seconds per epoch | median | total |",
        "|---|---|---|---|",
    ]
    for engine, (seconds, _) in runs.items():
        each = ", ".join(f"{s:.2f}" for s in seconds)
        lines.append(f"| {engine} | {each} | {statistics.median(seconds):.2f} | {sum(seconds):.1f} |")
    lines += [
        "",
        f"Draw usable (page opened to the network's 30 weight pictures drawn), {len(ready)} fresh loads over "
        f"loopback: {', '.join(f'{t:.2f}' for t in ready)} s (median {statistics.median(ready):.2f} s).",
        "",
        f"The {next(iter(runs))} run's log:",
        "",
        "```",
        next(iter(runs.values()))[1],
        "```",
        "",
    ]
    write_atomic(RESULTS, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
