"""A sweep on a Ray cluster: two nodes simulated on this machine (loopback only), machines and workers lost.

Every test compares against the in-process sweep of the same tasks (the one driver, ``driver.run``, run
both ways): a network trained on the cluster, retried after a crash, or trained by a rerun after the
driver died, is the same network.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

# Loopback only: without this Ray swaps 127.0.0.1 for this machine's network address.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_enable_worker_prestart"] = "0"  # noqa: SIM112 - idle workers slow a busy machine's node start-up
ray = pytest.importorskip("ray")
ray._private.ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before

from nndigits.studies.sweep.cluster import connect  # noqa: E402
from nndigits.studies.sweep.driver import run  # noqa: E402
from nndigits.studies.sweep.grid import grid  # noqa: E402
from nndigits.studies.sweep.progress import Progress  # noqa: E402
from nndigits.studies.sweep.report import summarise, table  # noqa: E402
from nndigits.studies.sweep.store import Store, manifest  # noqa: E402
from nndigits.studies.sweep.tasks import pixels, plan, task_key, train_task  # noqa: E402

pytestmark = pytest.mark.slow

LIMIT, EPOCHS, DTYPE = 1000, 2, "float64"  # 200 steps of m = 10 per network
CONFIGS = grid([0.5, 3.0], [[10], [20]], [10], [1, 2])  # 8 networks
TASKS = plan(CONFIGS, "group", per_task=2)  # 4 tasks
FLAGS = ["--lr", "0.5", "3", "--hidden", "10", "20", "--seeds", "2", "--epochs", str(EPOCHS)]
FLAGS += ["--dtype", DTYPE, "--limit", str(LIMIT), "--no-tensorboard", "--threads", "1"]


@pytest.fixture(scope="module")
def splits():
    return pixels(limit=LIMIT)


@pytest.fixture(scope="module")
def cluster():
    """A head and one more node, one CPU each, small object stores, on 127.0.0.1; this process its driver."""
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 100 * 2**20, "include_log_monitor": False}
    system = {"health_check_period_ms": 500, "health_check_failure_threshold": 4, "health_check_timeout_ms": 500}
    head = {**node, "include_dashboard": False, "_system_config": system, "node_ip_address": "127.0.0.1"}
    for attempt in range(3):  # a raylet gives its agents 15 s to start; on a very busy machine that can fail
        c = Cluster()
        try:
            c.add_node(**head)
            worker = c.add_node(**node, node_ip_address="127.0.0.1")
            c.wait_for_nodes(timeout=120)
            break
        except Exception:
            c.shutdown()
            if attempt == 2:
                raise
    connect(c.address)
    c.worker = worker
    yield c
    ray.shutdown()
    c.shutdown()


def _in_process(splits, folder, tasks):
    store = Store(folder, manifest(CONFIGS, EPOCHS, DTYPE, LIMIT))
    run(tasks, splits, EPOCHS, store, Progress(8, 0, len(tasks), enabled=False), dtype=DTYPE)
    return store


@pytest.fixture(scope="module")
def in_process(splits, tmp_path_factory):
    """The undisturbed reference: the same tasks trained one after another in this process."""
    return _in_process(splits, tmp_path_factory.mktemp("in_process"), TASKS)


@pytest.fixture(scope="module")
def in_process_one_per_task(splits, tmp_path_factory):
    """The same with ``--per-task 1``: a stack of one network rounds its sums (not its steps) differently
    from a stack of two, in the last bit, so a run is compared with a run of the same flags."""
    return _in_process(splits, tmp_path_factory.mktemp("in_process_1"), plan(CONFIGS, "group", per_task=1))


def assert_same(store: Store, reference: Store) -> None:
    """Every network once, with the reference's accuracies, costs and final weights, exactly."""
    records, expected = store.records(), reference.records()
    assert [r["name"] for r in records] == [c.name for c in CONFIGS]
    assert sum(len(json.loads(p.read_text())["networks"]) for p in store.task_files()) == 8
    for r, e in zip(records, expected):
        assert (r["val_correct"], r["test_correct"], r["train_cost"]) == (
            e["val_correct"],
            e["test_correct"],
            e["train_cost"],
        )
    weights, reference_weights = store.weights(), reference.weights()
    for name, state in reference_weights.items():
        for key, tensor in state.items():
            assert weights[name][key].equal(tensor), (name, key)
    assert max(max(r["test_correct"]) for r in records) > 0.3 * LIMIT  # they learned (chance: 0.1)


def _run(store, splits, train=train_task):
    run(TASKS, splits, EPOCHS, store, Progress(8, 0, 4, enabled=False), ray=ray, dtype=DTYPE, train=train)


def test_two_nodes_train_the_networks_of_the_in_process_sweep(cluster, splits, in_process, tmp_path):
    store = Store(tmp_path, manifest(CONFIGS, EPOCHS, DTYPE, LIMIT))
    _run(store, splits)
    assert_same(store, in_process)
    assert len({json.loads(p.read_text())["host"] for p in store.task_files()}) >= 1


class CrashOnce:
    """A task function whose first attempt of each task kills its worker process (as the OOM killer would)."""

    def __init__(self, markers: Path):
        self.markers = markers

    def __call__(self, configs, splits, epochs, **options):
        marker = self.markers / task_key(configs)
        if not marker.exists():
            marker.touch()
            os._exit(1)
        return train_task(configs, splits, epochs, **options)


def test_a_worker_killed_mid_task_is_retried_and_nothing_changes(cluster, splits, in_process, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this file
    markers = tmp_path / "markers"
    markers.mkdir()
    store = Store(tmp_path / "out", manifest(CONFIGS, EPOCHS, DTYPE, LIMIT))
    _run(store, splits, train=CrashOnce(markers))
    assert len(list(markers.iterdir())) == len(TASKS)  # every task's first worker died
    assert_same(store, in_process)


def _sweep(address, out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "nndigits.sweep", *FLAGS, "--out", str(out), "--address", address, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
    )


def test_a_cluster_without_gpus_is_refused_in_one_line(cluster, tmp_path):
    p = _sweep(cluster.address, tmp_path, "--device", "cuda")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1
    assert err.strip().splitlines() == [err.strip()] and "0 GPUs" in err, err


def test_the_driver_killed_then_the_rerun_trains_only_the_rest(cluster, in_process_one_per_task, tmp_path):
    """The driver is killed (SIGKILL) after its first tasks are saved; the same command trains the rest."""
    out = tmp_path / "out"
    p = _sweep(cluster.address, out, "--per-task", "1")  # 8 tasks
    deadline = time.monotonic() + 120
    while not list((out / "tasks").glob("*.json")) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=30)
    saved = len(list((out / "tasks").glob("*.json")))
    assert 0 < saved < 8, f"{saved} tasks saved when the driver was killed"
    rerun = _sweep(cluster.address, out, "--per-task", "1")
    stdout, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"Training {8 - saved} of 8 networks in {8 - saved} tasks" in err
    assert f"{saved} already in" in err
    store = Store(out)
    assert_same(store, in_process_one_per_task)
    reference = table(summarise(in_process_one_per_task.records()))
    assert (out / "table.md").read_text() == reference  # the uninterrupted run's table


def test_a_node_lost_mid_sweep_loses_nothing(cluster, splits, in_process, tmp_path):
    """The second node is removed while it trains a task: Ray reruns that task on the head."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    started = tmp_path / "started"
    started.mkdir()
    store = Store(tmp_path / "out", manifest(CONFIGS, EPOCHS, DTYPE, LIMIT))
    errors = []

    def sweep():
        try:
            _run(store, splits, train=Slow(started))
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            errors.append(error)

    thread = threading.Thread(target=sweep)
    thread.start()
    worker = cluster.worker.node_id
    deadline = time.monotonic() + 120
    while not (started / worker).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (started / worker).exists(), "no task started on the second node"
    cluster.remove_node(cluster.worker)
    thread.join(timeout=240)
    assert not thread.is_alive() and not errors, errors
    assert_same(store, in_process)


class Slow:
    """The task function, announcing which node it runs on, then taking a second longer than it needs."""

    def __init__(self, started: Path):
        self.started = started

    def __call__(self, configs, splits, epochs, **options):
        (self.started / ray.get_runtime_context().get_node_id()).touch()
        time.sleep(1.0)
        return train_task(configs, splits, epochs, **options)
