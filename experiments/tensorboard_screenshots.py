"""The README's TensorBoard pictures: a few short runs, then a headless Chromium screenshot of each tab.

Trains five 5-epoch runs through ``train_run`` (eta 0.5, 3, 10 with seed 1;
eta 3 with seed 2; and ``--hidden 100``, which gets stuck), starts TensorBoard
on 127.0.0.1, and saves ``docs/tensorboard_{time_series,hparams,custom_scalars,
images,histograms}.png`` (the Images and Histograms tabs show two runs, the
book's and the stuck one, so that their confusion matrices sit side by side).
Time Series is shot with smoothing 0 and its settings panel closed.

    python experiments/tensorboard_screenshots.py [--logdir /tmp/tb_shots] [--out docs]

Needs the ``playwright`` Python package and a Chromium at ``--chromium`` (default /usr/bin/chromium);
no browser is downloaded.  About 4 minutes on 2 busy CPU cores.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from nndigits.cli.flags import Parser

ROOT = Path(__file__).resolve().parent.parent
RUNS = [  # (sizes, eta, seed)
    ([784, 30, 10], 0.5, 1),
    ([784, 30, 10], 3.0, 1),
    ([784, 30, 10], 10.0, 1),
    ([784, 30, 10], 3.0, 2),
    ([784, 100, 10], 3.0, 1),
]


def train(logdir: Path, epochs: int) -> None:
    from nndigits.learn.run import train_run

    for sizes, eta, seed in RUNS:
        train_run(sizes, eta, 10, epochs, seed, logdir=logdir, say=None)


def tensorboard(logdir: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2)
            return server
        except OSError:
            time.sleep(1)
    server.terminate()
    raise SystemExit(f"error: TensorBoard did not answer on port {port}")


def shoot(logdir: Path, pair: Path, out: Path, port: int, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    from nndigits.learn.atomic import write_atomic

    def go(page, tab: str) -> None:
        page.goto(f"http://127.0.0.1:{port}/#{tab}", wait_until="networkidle")
        time.sleep(6)  # the charts draw after the data arrive

    with sync_playwright() as p:
        for folder, tabs in ((logdir, ("timeseries", "hparams", "custom_scalars")), (pair, ("images", "histograms"))):
            server = tensorboard(folder, port)
            try:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                for tab in tabs:
                    page.set_viewport_size({"width": 1400, "height": 1350 if tab == "images" else 1000})
                    go(page, tab)
                    if tab == "timeseries":
                        smoothing = page.locator("input.slider-input").first
                        smoothing.fill("0")
                        smoothing.press("Enter")
                        page.locator("button[aria-label='Close side pane']").first.click(timeout=5000)
                        time.sleep(2)
                    name = {"timeseries": "time_series"}.get(tab, tab)
                    write_atomic(out / f"tensorboard_{name}.png", page.screenshot())
                    print(f"wrote {out / f'tensorboard_{name}.png'}", flush=True)
                browser.close()
            finally:
                server.terminate()
                server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python experiments/tensorboard_screenshots.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--logdir", type=Path, default=Path("/tmp/tb_shots"), help="where the runs go (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go (default: docs/)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (default: %(default)s)")
    parser.add_argument("--port", type=int, default=6123, help="TensorBoard's port on 127.0.0.1 (default: %(default)s)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser to drive (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.logdir.exists():
        shutil.rmtree(args.logdir)
    train(args.logdir, args.epochs)
    pair = args.logdir.with_name(args.logdir.name + "_pair")
    if pair.exists():
        shutil.rmtree(pair)
    pair.mkdir(parents=True)
    for run in ("784-30-10_eta3_m10_seed1", "784-100-10_eta3_m10_seed1"):
        shutil.copytree(args.logdir / run, pair / run)
    args.out.mkdir(parents=True, exist_ok=True)
    shoot(args.logdir, pair, args.out, args.port, args.chromium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
