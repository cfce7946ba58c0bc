"""A sweep on a Ray cluster: one Ray task per group of stacked networks, retried when a machine dies.

Why Ray Core tasks fit: a task (``tasks.train_task``, sent by ``driver.run``) is a pure function of its
networks' configurations and the data, so Ray may run it on any machine, and run it again after its
worker process or its machine died, and get the same networks (their seeds fix every initial weight and every shuffle).

Retry settings (``MAX_RETRIES``, ``retry_exceptions=False``):
  * a *system* failure -- the worker process killed (OOM killer, segfault, ``kill -9``) or its machine
    gone -- reruns the task, up to ``MAX_RETRIES`` = 5 times.  A rerun costs only that task's time and
    gives the same numbers, so retrying is always safe; the bound stops a task that kills every worker
    it lands on (e.g. too large for any machine's memory) from looping for ever.
  * an *exception* raised by the training code is not retried: the computation is deterministic, so
    the same exception would come back on every attempt.  The sweep stops with one line; every task
    already finished is in ``--out``, and the same command trains the rest.

The data is put into Ray's object store once (``ray.put``, 55 MB of uint8 pixels); every task gets the
one reference, so each machine fetches the data once into its own object store and the tasks on it
read that shared copy -- not a copy per task.  Results come back to this process, which writes each
finished task into ``--out`` at once (``store.Store.save``): the workers need no shared disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from .tasks import task_key

MAX_RETRIES = 5
CONNECT_TIMEOUT_S = 3.0
# A Ray head (its GCS) and a Ray Client server speak gRPC, i.e. HTTP/2, whose server opens every
# connection with a SETTINGS frame: send HTTP/2's client preface and an empty SETTINGS frame, and
# expect a frame of type 4 back.  Anything else (an HTTP/1 server, a silent one) is not Ray.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
SETTINGS = 4


class ClusterError(Exception):
    """No usable cluster at the address, or not the resources asked for; the message says which."""


def _check_reachable(address: str) -> None:
    """Fail within seconds when no Ray cluster answers at HOST:PORT: nothing listening, or something that
    is not Ray (``ray.init`` alone would retry for minutes)."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"--address must be HOST:PORT (e.g. 127.0.0.1:6379), 'local' or 'auto'; got {address!r}")
    hint = "start one with `ray start --head`, or use --address local for one on this machine"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S) as s:
            try:
                s.sendall(HTTP2_PREFACE)
                reply = _read(s, 9)
            except TimeoutError:
                reply = None
            except OSError:  # reset or closed while we spoke: whatever it is, it is not Ray
                reply = b""
    except (OSError, ValueError, OverflowError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error) or "timed out"
        raise ClusterError(f"no Ray cluster at {address} ({reason}); {hint}") from None
    if reply is None or len(reply) < 9 or reply[3] != SETTINGS:
        first_line = (reply or b"").split(b"\n")[0].strip()[:40].decode("ascii", "replace")
        said = (
            f"no answer within {CONNECT_TIMEOUT_S:g} s"
            if reply is None
            else "it closed the connection"
            if not reply
            else f"it answered {first_line!r}"
        )
        raise ClusterError(f"{address} is not a Ray cluster (it does not speak gRPC: {said}); {hint}")


def _read(s: socket.socket, n: int) -> bytes:
    """At least ``n`` bytes from ``s`` (up to 64, to quote what a stranger said), fewer only if it closed."""
    data = b""
    while len(data) < n:
        more = s.recv(64 - len(data))
        if not more:
            break
        data += more
    return data


def connect(address: str, threads: int = 1, gpus: int = 0):
    """``ray.init`` for ``address`` ("local": start one here; "auto": the one ``ray start`` made here;
    HOST:PORT: that cluster's head), then check a machine there can run one task."""
    if address not in ("local", "auto"):
        _check_reachable(address)
    import ray

    # Every machine runs this process's own nndigits (shipped with the job), so a task anywhere
    # trains with the same code as in-process: the same networks, step for step.
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    options: dict[str, Any] = dict(
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env={"py_modules": [package]},
    )
    for attempt in (1, 2):
        try:
            if address == "local":  # on loopback: nothing outside this machine can reach it
                os.environ.pop("RAY_ADDRESS", None)  # else ray.init() would join that cluster instead
                # Workers start when a task needs one: on a busy machine, idle workers prestarted with the
                # node compete with Ray's own agents, which must be up within Ray's fixed 15 s.
                os.environ.setdefault("RAY_enable_worker_prestart", "0")
                ray.init(**options, _node_ip_address="127.0.0.1")
            else:
                ray.init(address=address, **{k: v for k, v in options.items() if k != "include_dashboard"})
            break
        except Exception as error:  # noqa: BLE001 - Ray raises bare Exceptions, e.g. a raylet slow to start
            ray.shutdown()
            # Ray gives a starting node 30 s; on a very busy machine that can be too little: try once more.
            if address != "local" or attempt == 2:
                what = " ".join(str(error).split()) or type(error).__name__
                raise ClusterError(f"could not connect to a Ray cluster at {address}: {what}") from None
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if gpus and not any(r.get("GPU", 0) >= gpus for r in nodes):
        total = sum(r.get("GPU", 0) for r in nodes)
        ray.shutdown()
        raise ClusterError(
            f"--device cuda asks one GPU per task, but the cluster at {address} has {total:g} GPUs "
            f"on {len(nodes)} machines"
        )
    if not any(r.get("CPU", 0) >= threads for r in nodes):
        most = max((r.get("CPU", 0) for r in nodes), default=0)
        ray.shutdown()
        raise ClusterError(f"--threads {threads} asks {threads} CPUs per task; the largest machine has {most:g}")
    return ray


def _tracker(ray):
    """An actor counting each task's attempts (so: tasks running, retries), pinned to this machine.

    Pinned here because this machine lives as long as the sweep does; the counts are only for the
    progress display, and the sweep goes on without them if the actor is lost.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0, max_restarts=0)
    class Attempts:
        def __init__(self):
            self.attempts: dict[str, int] = {}

        def started(self, key: str) -> None:
            self.attempts[key] = self.attempts.get(key, 0) + 1

        def snapshot(self) -> dict[str, int]:
            return dict(self.attempts)

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return Attempts.options(scheduling_strategy=here).remote()


def memory(ray) -> int | None:
    """Bytes of memory Ray may give tasks on the cluster's largest machine (its ``memory`` resource), if known."""
    return int(max((n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive")), default=0)) or None


def _attempt(train, key, configs, split, epochs, options, tracker):
    """The body of a Ray task: count the attempt, then train (``train`` is ``tasks.train_task``)."""
    if tracker is not None:
        tracker.started.remote(key)
    return train(configs, split, epochs, **options)


def on_cluster(ray, tasks, split, epochs, progress, train, options: dict) -> Iterator[dict]:
    """Send every task to the cluster; hand back each result the moment it comes back (``driver.run``)."""
    from ray.exceptions import RayError, RayTaskError

    remote = ray.remote(_attempt).options(
        num_cpus=options.get("threads", 1),
        num_gpus=1 if options.get("device") == "cuda" else 0,
        max_retries=MAX_RETRIES,
        retry_exceptions=False,
    )
    try:
        tracker = _tracker(ray)
    except Exception:  # noqa: BLE001 - the progress counts are optional
        tracker = None
    data = ray.put(split)  # once: each machine fetches it once into its object store
    pending = {remote.remote(train, task_key(c), c, data, epochs, options, tracker): task_key(c) for c in tasks}
    finished: set[str] = set()
    snapshot: dict[str, int] = {}
    last_poll = 0.0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        for ref in ready:
            key = pending.pop(ref)
            try:
                result = ray.get(ref)
            except RayTaskError as error:
                raise ClusterError(f"a task failed: {' '.join(str(error.cause).split())[:300]}") from None
            except RayError as error:  # lost more than MAX_RETRIES times, or the cluster went away
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ClusterError(f"a task was lost ({type(error).__name__}: {first[:200]})") from None
            finished.add(key)
            yield result
        if tracker is not None and time.monotonic() - last_poll > 0.5:
            last_poll = time.monotonic()
            with contextlib.suppress(Exception):  # lost or slow: keep the last counts
                snapshot = ray.get(tracker.snapshot.remote(), timeout=2)
            running = sum(1 for k in snapshot if k not in finished)
            progress.status(running, sum(n - 1 for n in snapshot.values()))
