"""The sweep's one driver: the same tasks run two ways, one after another here or as Ray tasks on a cluster.

Either way each task is ``tasks.train_task`` on the same arguments, so a network comes out the same
wherever it trained; and either way each finished task is saved the moment it comes back
(``store.Store.save``), so a stopped sweep loses nothing and the same command trains only the rest.
"""

from __future__ import annotations

from collections.abc import Iterator

from .grid import Config
from .progress import Progress
from .tasks import train_task


def run(
    tasks: list[list[Config]],
    split: dict,
    epochs: int,
    store=None,
    progress: Progress | None = None,
    ray=None,
    train=train_task,
    **options,
) -> list[dict]:
    """Train every task -- in this process, or on the cluster ``ray`` is connected to -- saving each result
    into ``store`` (if given) as it finishes; return every network's record, in the order they finished.

    ``split`` is ``tasks.pixels``; ``options`` are ``device``, ``dtype``, ``threads`` as for
    ``tasks.train_task``; ``train`` is the task function (tests wrap it to kill a worker).
    """
    if progress is None:
        progress = Progress(sum(map(len, tasks)), 0, len(tasks), enabled=False)
    if ray is None:
        results = in_process(tasks, split, epochs, progress, train, options)
    else:
        from .cluster import on_cluster

        results = on_cluster(ray, tasks, split, epochs, progress, train, options)
    records = []
    for result in results:
        if store is not None:
            store.save(result)
        progress.finished(result)
        records += result["networks"]
    return records


def in_process(tasks, split, epochs, progress: Progress, train, options: dict) -> Iterator[dict]:
    """The tasks one after another in this process, each result handed back as it finishes."""
    for configs in tasks:
        progress.status(1, 0)
        k = len(configs)
        yield train(configs, split, epochs, tick=lambda fraction, k=k: progress.partial(k * fraction), **options)
