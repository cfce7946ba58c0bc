"""The grid of a sweep: one ``Config`` per network, as ``python -m nndigits.train`` would be given it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

STUCK_BELOW = 0.90  # a run whose best test accuracy stays under 90% "got stuck"...
JUDGE_AFTER = 10  # ...judged only after this many epochs (the book's runs can sit at 87% for ~10, then escape)


@dataclass(frozen=True)
class Config:
    """One network of the grid: what ``python -m nndigits.train`` would be given."""

    hidden: tuple[int, ...]
    lr: float
    batch_size: int
    seed: int

    @property
    def sizes(self) -> list[int]:
        return [784, *self.hidden, 10]

    @property
    def name(self) -> str:
        return f"{'-'.join(map(str, self.sizes))}_eta{self.lr:g}_m{self.batch_size}_seed{self.seed}"


def grid(lrs, hiddens, batch_sizes, seeds) -> list[Config]:
    """Every combination once (a value given twice does not make a second network)."""
    return list(
        dict.fromkeys(
            Config(tuple(h), float(lr), int(m), int(s))
            for h, lr, m, s in itertools.product(hiddens, lrs, batch_sizes, seeds)
        )
    )
