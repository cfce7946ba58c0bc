"""notebooks/chapter1.ipynb runs from top to bottom in a real Jupyter kernel, and the committed copy is current.

The notebook is executed with nbclient and ipykernel (the test extra), as a
learner's "Run all" would: any cell that raises fails the test.  The committed
notebook must be the one ``notebooks/make_chapter1.py`` writes, with the
outputs of a real run (so that it reads on GitHub).
"""

import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "chapter1.ipynb"
sys.path.insert(0, str(ROOT / "notebooks"))

import make_chapter1  # noqa: E402


def _code_outputs(nb):
    return [cell.outputs for cell in nb.cells if cell.cell_type == "code"]


def _text(outputs) -> str:
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_committed_notebook_is_what_the_generator_writes():
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in make_chapter1.build().cells
    ], "notebooks/chapter1.ipynb is out of date: run notebooks/make_chapter1.py"


def test_committed_notebook_holds_the_outputs_of_a_real_run():
    committed = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "not executed top to bottom"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for c in code for o in c.outputs) >= 7
    assert re.search(r"^Epoch 2: \d+ / 10000", "".join(_text(c.outputs) for c in code), re.M)


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(record_property):
    nb = make_chapter1.build()
    start = time.perf_counter()
    make_chapter1.execute(nb, timeout=600)  # raises CellExecutionError naming the cell on any error
    record_property("seconds", round(time.perf_counter() - start, 1))
    outputs = _code_outputs(nb)
    assert not [o for cell in outputs for o in cell if o.output_type == "error"]
    text = "".join(_text(cell) for cell in outputs)
    epochs = [(int(j), int(k)) for j, k in re.findall(r"^Epoch (\d+): (\d+) / 10000", text, re.M)]
    assert [j for j, _ in epochs] == [0, 1, 2]  # EPOCHS = 3
    assert epochs[-1][1] > 9_000  # the book's network after 3 epochs: ~93%
    assert f"right on the test set: {epochs[-1][1]} / 10000" in text  # net.evaluate agrees with the Trainer
    assert re.search(r"largest difference in a weight \d\.\de-1[3-9]", text)  # torch == NumPy, to rounding
    figures = [o for cell in outputs for o in cell if "image/png" in o.get("data", {})]
    assert len(figures) >= 7
