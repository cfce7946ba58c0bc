"""Sweeps: a whole grid of the chapter's runs trained at once.

The networks of chapter 1 are tiny, so one device can train many side by side:
K networks' weights are stacked into tensors of shape [K, out, in] and every
SGD step is a handful of *batched* matrix products (``torch.baddbmm``) instead
of K separate steps.  Per-step overhead -- the whole cost at m = 10 -- is paid
once for all K.

Each network is still exactly the book's SGD, step for step the network that
``python -m nndigits.train`` would train with the same flags (to rounding: in
float64 they agree to 1e-9 after 200 steps, tests/test_sweep.py; in float32,
and over many epochs, rounding differences grow as in any two runs of SGD):
  * its own initial weights, ``BookNetwork(sizes, seed=s)``'s N(0, 1) draw;
  * its own shuffle each epoch, ``EpochOrder(seed=s).order(epoch)``;
  * its own eta: the output error of network k is scaled by eta_k / m, which by
    linearity scales every gradient of that network and nothing else.
Networks of different hidden sizes share one computation by padding the
hidden layer to the largest size with *inert* units: their activation is
multiplied by 0, so they contribute nothing forward, their outgoing weights
start at 0 and get zero gradient (it is proportional to the activation), and
their own error delta is (outgoing weights) x ... = 0, so their incoming weights
never change either.  ``--pack group`` trains each hidden size as its own batch
instead (the default: see ``experiments/benchmark.py --sweep`` for the measurement).

    python -m nndigits.sweep --lr 0.001 0.1 1 3 10 100 --hidden 10 30 100 --seeds 5 --epochs 30

A grid (``grid.grid``, checked with the bounds of ``python -m nndigits.train``) is cut into tasks
(``tasks.plan``: one per stacked group, at most ``--per-task`` networks each); one driver
(``driver.run``) runs them one after another in this process, or as Ray tasks on a cluster
(``cluster``, ``--address``).  Each finished task is saved in the results folder at once
(``store.Store``), so a stopped sweep loses nothing and the same command trains only the rest.
"""

from .driver import run
from .grid import STUCK_BELOW, Config, grid
from .loop import train_group
from .report import report, summarise, table
from .stacked import StackedNetworks
from .tasks import pixels, plan

__all__ = [
    "STUCK_BELOW",
    "Config",
    "StackedNetworks",
    "grid",
    "pixels",
    "plan",
    "report",
    "run",
    "summarise",
    "table",
    "train_group",
]
