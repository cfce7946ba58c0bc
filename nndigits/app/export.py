"""``python -m nndigits.serve --export DIR``: the app as a static site that computes everything in the page.

The site is the app's own page and scripts (``static/``), with what the server would answer written
beside them once: ``network.json`` (the network Draw reads with, float64 numbers exact in JSON),
``site.json`` (which says "static": the page then computes where the app asks its server),
``perceptrons.json`` (the chapter's circuits: weights, biases and wiring; the page evaluates them) and
``data/*.gz``, MNIST's four IDX files as they are, gzipped (browsers unpack them natively), for training
in the page.  Any static host serves the folder as it is; it sends no request to any other host.

Nothing is half-written: the site is built in a hidden folder beside ``DIR`` and renamed to ``DIR`` only
when whole.  Bad input is an ``ExportError`` with a one-line message: a checkpoint that is missing or
cannot be read, a ``DIR`` that is not empty or cannot be written, MNIST missing or failing its checks.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..chapter import DEFAULT_LOGDIR
from ..cli.checkpoint import load_reading_network
from ..core.checkpoints import CheckpointError
from ..learn.mnist import SHA256, DataError, default_data_dir, raw_dir, verify
from .uploads import MAX_UPLOAD_BYTES

STATIC = Path(__file__).parent / "static"
PAGE_FILES = ("*.html", "*.css", "*.js")


class ExportError(Exception):
    """The site could not be written; the one-line message says why."""


def network_json(sizes, weights, biases, ident: str | None, name: str | None) -> dict:
    """A network as network.json holds it: sizes, and each layer's weights row-major [out][in] (the book's
    w[j][k]) and biases, as float64 numbers (``json`` writes them so that they read back exactly)."""
    return {
        "id": ident,
        "name": name,
        "sizes": [int(n) for n in sizes],
        "weights": [np.asarray(w, dtype=np.float64).ravel().tolist() for w in weights],
        "biases": [np.asarray(b, dtype=np.float64).ravel().tolist() for b in biases],
    }


def perceptrons_json() -> dict:
    """The chapter's perceptron circuits as the page evaluates them: the NAND perceptron and the half adder's gates."""
    from . import gates

    nand, adder = gates.nand_table(), gates.half_adder_table()
    return {
        "nand": {"weights": nand["weights"], "bias": nand["bias"]},
        "half_adder": {"gates": adder["gates"], "outputs": adder["outputs"]},
    }


def gzipped_idx(raw: Path, name: str, level: int = 6) -> bytes:
    """MNIST's IDX file ``name`` from the verified folder ``raw``, gzipped (no name or time in the header:
    the same bytes every time)."""
    return gzip.compress((raw / name).read_bytes(), compresslevel=level, mtime=0)


def verified_mnist(data_dir: str | os.PathLike | None) -> Path:
    """The folder of MNIST's four raw IDX files, each checked against its SHA-256, or ``ExportError``."""
    raw = raw_dir(data_dir if data_dir is not None else default_data_dir())
    missing = [name for name in SHA256 if not (raw / name).is_file()]
    if missing:
        raise ExportError(
            f"MNIST is not in {raw} ({', '.join(missing)} missing); fetch it with `python -m nndigits.data`"
        )
    try:
        for name in SHA256:
            verify(raw / name, name)
    except DataError as error:
        raise ExportError(str(error)) from None
    return raw


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        raise ExportError(f"{target} is not empty; export into a new or empty folder")
    parent = target.parent
    if not parent.is_dir():
        raise ExportError(f"{parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (target.is_dir() and not os.access(target, os.W_OK)):
        raise ExportError(f"cannot write in {parent}: permission denied")


def export_site(
    target: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    logdir: str | os.PathLike = DEFAULT_LOGDIR,
    data_dir: str | os.PathLike | None = None,
) -> Path:
    """Write the static site into ``target`` (new or empty) and return it; ``ExportError`` on bad input."""
    target = Path(target).absolute()
    _check_target(target)
    try:
        building = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    except OSError as error:
        raise ExportError(f"cannot write in {target.parent}: {error.strerror or error}") from None
    try:
        net, path = _network(checkpoint, logdir)
        raw = verified_mnist(data_dir)
        _write(building, net, path, raw)
        os.chmod(building, 0o755)  # mkdtemp made it 0700: a web server must read it
        if target.is_dir():
            target.rmdir()  # empty (checked): the finished site takes its place
        os.replace(building, target)
    except OSError as error:
        raise ExportError(f"cannot write the site into {target}: {error.strerror or error}") from None
    finally:
        with contextlib.suppress(OSError):
            if building.exists():
                shutil.rmtree(building)
    return target


def _network(checkpoint, logdir):
    """The network to show, read as ``predict`` reads it, and its checkpoint's path; or ``ExportError``."""
    try:
        return load_reading_network(checkpoint, logdir)
    except CheckpointError as error:
        raise ExportError(str(error)) from None
    except OSError as error:
        raise ExportError(f"cannot read checkpoint {checkpoint}: {error.strerror or error}") from None


def _write(folder: Path, net, checkpoint: Path, raw: Path) -> None:
    static = folder / "static"
    static.mkdir()
    for pattern in PAGE_FILES:
        for source in sorted(STATIC.glob(pattern)):
            if source.name != "index.html":
                shutil.copyfile(source, static / source.name)
    shutil.copyfile(STATIC / "index.html", folder / "index.html")

    def dump(name: str, value: dict) -> None:
        (folder / name).write_text(json.dumps(value, separators=(",", ":")))

    dump("network.json", network_json(net.sizes, net.weights, net.biases, "exported", checkpoint.name))
    dump("site.json", {"mode": "static", "network": checkpoint.name, "max_upload_bytes": MAX_UPLOAD_BYTES})
    dump("perceptrons.json", perceptrons_json())
    data = folder / "data"
    data.mkdir()
    for name in SHA256:
        (data / f"{name}.gz").write_bytes(gzipped_idx(raw, name))
    for path in folder.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


@contextlib.contextmanager
def served(site: str | os.PathLike):
    """The site served as the README says, ``python -m http.server -d SITE``, on a free port of 127.0.0.1: its URL.

    For the browser tests and ``experiments/static_speed.py``: a plain static server, nothing of ours behind it.
    """
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "-d", str(site), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"port (\d+)", line)
        if match is None:
            raise RuntimeError(f"http.server did not start: {line!r}")
        yield f"http://127.0.0.1:{match.group(1)}/"
    finally:
        process.terminate()
        process.wait(30)
