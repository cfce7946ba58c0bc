"""What the browser tests share: Debian's Chromium driven by Playwright, the screenshots' folder, drawing on the pad.

Imported by test_app_browser.py, test_static_site.py and test_step_browser.py (pytest puts tests/ on the path).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright downloads no browser here
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM} (apt-get install chromium)")


@contextlib.contextmanager
def chromium():
    """A headless Chromium for the tests of one module."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def screenshots_folder(tmp_path_factory) -> Path:
    """$NNDIGITS_APP_SCREENSHOTS (to refresh the README's pictures), else a temporary folder."""
    folder = os.environ.get("NNDIGITS_APP_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def draw(page, *strokes):
    """Draw strokes (lists of points in the 280x280 pad's pixels) with the mouse, then wait for the reading."""
    box = page.locator("#pad").bounding_box()
    before = page.evaluate("NN.readings")
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
        page.mouse.up()
    page.wait_for_function(f"NN.readings >= {before + len(strokes)}")
    return page.locator("#guess").inner_text()
