"""The grid of a sweep: one ``Config`` per network, as ``python -m nndigits.train`` would be given it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ...chapter import ETA_BOUND, INPUTS, M_BOUND, OUTPUTS, SEED_BOUND, check_hidden

STUCK_BELOW = 0.90  # a run whose best test accuracy stays under 90% "got stuck"...
JUDGE_AFTER = 10  # ...judged only after this many epochs (the book's runs can sit at 87% for ~10, then escape)
MAX_NETWORKS = 100_000  # a grid's size: at ~1 s per network-epoch here, more is a typo, not a plan


@dataclass(frozen=True)
class Config:
    """One network of the grid: what ``python -m nndigits.train`` would be given."""

    hidden: tuple[int, ...]
    lr: float
    batch_size: int
    seed: int

    @property
    def sizes(self) -> list[int]:
        return [INPUTS, *self.hidden, OUTPUTS]

    @property
    def name(self) -> str:
        return f"{'-'.join(map(str, self.sizes))}_eta{self.lr:g}_m{self.batch_size}_seed{self.seed}"


def grid(lrs, hiddens, batch_sizes, seeds) -> list[Config]:
    """Every combination once (a value given twice does not make a second network).

    Each value is checked where the grid enters, with the bounds ``python -m nndigits.train`` has
    (``chapter.py``); ``ValueError`` names the first one out of bounds.  A sweep stacks networks of one
    hidden layer or none (``StackedNetworks``).
    """
    lrs = [ETA_BOUND.check(lr) for lr in lrs]
    hiddens = [check_hidden(h) for h in hiddens]
    if any(len(h) > 1 for h in hiddens):
        raise ValueError(f"a sweep's networks have one hidden layer or none, got {max(hiddens, key=len)}")
    batch_sizes = [M_BOUND.check(m) for m in batch_sizes]
    seeds = [SEED_BOUND.check(s) for s in seeds]
    count = len({tuple(h) for h in hiddens}) * len(set(lrs)) * len(set(batch_sizes)) * len(set(seeds))
    if count > MAX_NETWORKS:
        raise ValueError(f"a grid of at most {MAX_NETWORKS:_} networks, got {count:_}")
    return list(
        dict.fromkeys(
            Config(tuple(h), float(lr), int(m), int(s))
            for h, lr, m, s in itertools.product(hiddens, lrs, batch_sizes, seeds)
        )
    )
