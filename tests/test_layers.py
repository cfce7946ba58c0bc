"""No private name (``_name``) is used outside its module: what the import contracts cannot see.

The layers, the torch-free core and the absence of cycles are import-linter contracts (pyproject.toml, run by
``lint-imports`` in .ci/run); an import of a private name, or a private attribute of an imported module of
ours, is found here by reading the code.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nndigits"


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def reaches_for_privates(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    ours: set[str] = set()  # names bound to modules of this package
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("nndigits")):
            for alias in node.names:
                if private(alias.name):
                    found.append(f"{path.name}:{node.lineno} imports {alias.name}")
                ours.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            ours.update(a.asname or a.name for a in node.names if a.name.startswith("nndigits"))
    for node in ast.walk(tree):
        attribute = isinstance(node, ast.Attribute) and private(node.attr) and isinstance(node.value, ast.Name)
        if attribute and node.value.id in ours:  # type: ignore[attr-defined]
            found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_private_name_is_used_outside_its_module():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in reaches_for_privates(path)]
    assert found == []


def test_the_check_sees_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from .images import _gray\nfrom . import neurons\nneurons._Neuron\n")
    assert reaches_for_privates(bad) == ["bad.py:1 imports _gray", "bad.py:3 uses neurons._Neuron"]
