"""A sweep's results folder: a manifest naming its grid, and one file per finished task, written atomically.

Nothing is lost: each task's results land in ``--out`` the moment the task finishes (weights first,
then the records, which mark the task done), so a sweep stopped at any point -- the driver killed, a
machine gone -- keeps every finished task, and the same command run again trains only the rest.  The
manifest makes a folder hold one grid: a rerun with other flags is refused instead of mixing results.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from ...learn.atomic import write_atomic
from .grid import Config

KIND = "nndigits.sweep"


class StoreError(Exception):
    """The results folder cannot be used (another grid, unreadable files); the message says why."""


def manifest(configs: list[Config], epochs: int, dtype: str, limit: int | None) -> dict:
    """What a folder's results are results of: every network's name, the epochs, the dtype, the data."""
    return {
        "kind": KIND,
        "version": 1,
        "epochs": epochs,
        "dtype": dtype,
        "limit": limit,
        "networks": [c.name for c in configs],
    }


def _settings(m: dict) -> dict[str, str]:
    """A manifest's grid as the sweep's flags would give it: each flag's values, in the grid's order."""
    values: dict[str, dict[str, None]] = {flag: {} for flag in ("--hidden", "--lr", "--batch-size", "--seeds")}
    for name in m.get("networks", []):  # e.g. 784-30-10_eta3_m10_seed1
        sizes, eta, batch, seed = str(name).rsplit("_", 3)
        values["--hidden"][sizes.split("-", 1)[-1].rpartition("-")[0] or "0"] = None
        values["--lr"][eta.removeprefix("eta")] = None
        values["--batch-size"][batch.removeprefix("m")] = None
        values["--seeds"][seed.removeprefix("seed")] = None
    settings = {flag: " ".join(v) for flag, v in values.items()}
    seeds = list(values["--seeds"])
    if seeds == [str(s) for s in range(1, len(seeds) + 1)]:  # seeds 1..S, as --seeds S says
        settings["--seeds"] = str(len(seeds))
    for key in ("epochs", "dtype", "limit"):
        settings[f"--{key}"] = str(m.get(key) if m.get(key) is not None else "all")
    return settings


def differences(found: dict, expected: dict) -> str:
    """What differs between two manifests, flag by flag: ``--epochs 2 there, 3 here; ...``."""
    there, here = _settings(found), _settings(expected)
    said = [f"{flag} {there[flag]} there, {here[flag]} here" for flag in here if there[flag] != here[flag]]
    return "; ".join(said) or "the same settings in another order, or another version of nndigits"


class Store:
    def __init__(self, out, expected: dict | None = None):
        """Open ``out``; with ``expected`` (a ``manifest``), claim it for that grid or refuse another."""
        self.out, self.tasks = Path(out), Path(out) / "tasks"
        path = self.out / "manifest.json"
        try:
            found = json.loads(path.read_text()) if path.exists() else None
        except (OSError, ValueError) as error:
            raise StoreError(f"{path} cannot be read ({error}); is {self.out} a sweep's folder?") from None
        if found is not None and (not isinstance(found, dict) or found.get("kind") != KIND):
            raise StoreError(f"{path} is not a manifest of nndigits.sweep")
        if expected is None:
            if found is None:
                raise StoreError(f"{self.out} holds no sweep (no manifest.json)")
        elif found is None:
            try:
                write_atomic(path, json.dumps(expected, indent=1))
            except OSError as error:
                raise StoreError(f"cannot write to {self.out}: {error.strerror or error}") from None
        elif found != expected:
            raise StoreError(
                f"{self.out} holds another grid ({differences(found, expected)}); "
                "give another --out, or delete that folder to start over"
            )
        self.manifest: dict = found or expected or {}

    def done(self) -> set[str]:
        """Names of the networks whose task finished."""
        return {r["name"] for r in self.records()}

    def save(self, result: dict) -> None:
        """One finished task: its weights (``tasks/KEY.pt``), then its records (``tasks/KEY.json``)."""
        import torch

        buffer = io.BytesIO()
        weights = {name: {k: torch.from_numpy(v.copy()) for k, v in w.items()} for name, w in result["weights"].items()}
        torch.save(weights, buffer)
        key = result["key"]
        write_atomic(self.tasks / f"{key}.pt", buffer.getvalue())
        meta = {k: result[k] for k in ("key", "networks", "seconds", "host")}
        write_atomic(self.tasks / f"{key}.json", json.dumps(meta, indent=1))

    def task_files(self) -> list[Path]:
        return sorted(self.tasks.glob("*.json")) if self.tasks.is_dir() else []

    def records(self) -> list[dict]:
        """Every finished network's record, in the grid's order, each once."""
        order = {name: i for i, name in enumerate(self.manifest["networks"])}
        found: dict[str, dict] = {}
        for path in self.task_files():
            try:
                for r in json.loads(path.read_text())["networks"]:
                    if r["name"] in order:
                        found.setdefault(r["name"], r)
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise StoreError(f"{path} is not a task file of nndigits.sweep ({type(error).__name__})") from None
        return sorted(found.values(), key=lambda r: order[r["name"]])

    def weights(self) -> dict:
        """Every finished network's final weights, ``{name: state_dict}``."""
        import torch

        out = {}
        for path in self.task_files():
            out.update(torch.load(path.with_suffix(".pt"), weights_only=True))
        return out
