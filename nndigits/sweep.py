"""``python -m nndigits.sweep``: train a whole grid of the chapter's runs at once.

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

Split a grid across processes or machines with ``--worker I/N`` (each worker
trains every N-th configuration and writes ``worker-I-of-N.json``), then
``python -m nndigits.sweep --merge OUT`` builds the tables and plots.
"""
from __future__ import annotations

import itertools
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .cli import save_figure, write_atomic
from .network import SigmoidNetwork
from .sgd import _sigmoid_backward

STUCK_BELOW = 0.90  # a run whose best test accuracy stays under 90% "got stuck"


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
    return list(dict.fromkeys(Config(tuple(h), float(lr), int(m), int(s))
                              for h, lr, m, s in itertools.product(hiddens, lrs, batch_sizes, seeds)))


class StackedNetworks:
    """K sigmoid networks with one hidden layer (or none), stacked for batched SGD.

    ``w[l]`` has shape [K, out, in] and ``b[l]`` shape [K, out]; ``mask`` (for a
    hidden layer padded to the largest size) is 1 for real hidden units, 0 for
    inert padding.
    """

    def __init__(self, configs: list[Config], device="cpu", dtype=torch.float32):
        depth = {len(c.hidden) for c in configs}
        if depth - {0, 1} or len(depth) != 1:
            raise ValueError("a stacked group holds networks with the same number of hidden layers (0 or 1)")
        self.configs, self.hidden = configs, max((c.hidden[0] for c in configs if c.hidden), default=0)
        K, H = len(configs), self.hidden
        shapes = [(10, 784)] if H == 0 else [(H, 784), (10, H)]
        self.w = [torch.zeros(K, o, i, dtype=dtype) for o, i in shapes]
        self.b = [torch.zeros(K, o, dtype=dtype) for o, _ in shapes]
        self.mask = torch.zeros(K, 1, H, dtype=dtype) if H else None
        self.padded = H > 0 and any(c.hidden[0] != H for c in configs)
        for k, c in enumerate(configs):
            # the same N(0, 1) draw as BookNetwork(sizes, seed=s), i.e. as a single run with that seed
            net = SigmoidNetwork(c.sizes, generator=torch.Generator().manual_seed(c.seed))
            for l, layer in enumerate(net.layers):
                o, i = layer.weight.shape
                self.w[l][k, :o, :i] = layer.weight.detach()
                self.b[l][k, :o] = layer.bias.detach()
            if H:
                self.mask[k, 0, :c.hidden[0]] = 1
        self.step_scale = torch.tensor([c.lr / c.batch_size for c in configs], dtype=dtype).view(K, 1, 1)
        self.to(device)

    def to(self, device):
        self.w = [t.to(device) for t in self.w]
        self.b = [t.to(device) for t in self.b]
        self.step_scale = self.step_scale.to(device)
        self.mask = self.mask.to(device) if self.mask is not None else None
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations of every layer for inputs x of shape [K, n, 784] (or [n, 784], shared by all)."""
        if x.dim() == 2:
            x = x.expand(len(self.configs), *x.shape)
        activations = [x]
        for l, (w, b) in enumerate(zip(self.w, self.b)):
            a = torch.baddbmm(b.unsqueeze(1), activations[-1], w.transpose(1, 2)).sigmoid_()  # eq. 4
            if l == 0 and self.padded:
                a.mul_(self.mask)  # padded hidden units are inert: activation 0
            activations.append(a)
        return activations

    @torch.no_grad()
    def sgd_steps(self, xs: torch.Tensor, ys: torch.Tensor, m: int, errors: torch.Tensor) -> None:
        """SGD steps (eq. 20-21) of every network on its own mini-batches: xs[k, s:s+m] is network k's step s.

        ``errors[k]`` receives a - y of every example just before its step, for the training cost.
        """
        weights, biases = self.w, [b.unsqueeze(2) for b in self.b]  # biases as [K, out, 1] views
        last = len(weights) - 1
        ones, scales = {}, {}
        for x, y, error in zip(xs.split(m, dim=1), ys.split(m, dim=1), errors.split(m, dim=1)):
            n = x.shape[1]
            if n not in ones:  # sum over the mini-batch as a batched product with a vector of ones
                ones[n] = torch.ones(len(self.configs), n, 1, dtype=x.dtype, device=x.device)
                scales[n] = self.step_scale * (m / n)  # eta_k / n: a short last mini-batch divides by its own size
            activations = [x]
            for l, (w, b) in enumerate(zip(weights, self.b)):
                a = torch.baddbmm(b.unsqueeze(1), activations[-1], w.transpose(1, 2)).sigmoid_()  # eq. 4
                if l == 0 and self.padded:
                    a.mul_(self.mask)  # padded hidden units are inert: activation 0
                activations.append(a)
            a = activations[-1]
            torch.sub(a, y, out=error)  # dC_x/da for the quadratic cost
            # (eta_k/m) delta^L: scaling network k's output error scales all its gradients, and only its.
            delta = _sigmoid_backward(error * scales[n], a)
            for l in range(last, -1, -1):
                previous = _sigmoid_backward(torch.bmm(delta, weights[l]), activations[l]) if l else None
                delta_t = delta.transpose(1, 2)
                weights[l].baddbmm_(delta_t, activations[l], alpha=-1)  # w -= (eta/m) sum_x delta a^T
                biases[l].baddbmm_(delta_t, ones[n], alpha=-1)  # b -= (eta/m) sum_x delta
                delta = previous

    @torch.no_grad()
    def correct(self, x: torch.Tensor, labels: torch.Tensor, batch: int = 10_000) -> torch.Tensor:
        """Number of correctly classified inputs, per network."""
        total = torch.zeros(len(self.configs), dtype=torch.long, device=x.device)
        for start in range(0, len(x), batch):
            out = self.forward(x[start:start + batch])[-1]
            total += (out.argmax(dim=2) == labels[start:start + batch]).sum(dim=1)
        return total

    def network(self, k: int):
        """Network k as a ``SigmoidNetwork`` (padding removed), e.g. to compare with a single run."""
        c = self.configs[k]
        net = SigmoidNetwork(c.sizes, dtype=self.w[0].dtype)
        with torch.no_grad():
            for l, layer in enumerate(net.layers):
                o, i = layer.weight.shape
                layer.weight.copy_(self.w[l][k, :o, :i])
                layer.bias.copy_(self.b[l][k, :o])
        return net


def train_group(configs: list[Config], data, epochs: int, device="cpu", dtype=torch.float32,
                chunk_steps: int = 25, progress=None, on_epoch=None) -> StackedNetworks:
    """Train networks of one mini-batch size side by side for ``epochs`` epochs.

    ``data`` is a set-up ``MNISTDataModule``.  Each chunk of ``chunk_steps`` mini-batches is gathered
    for all K networks at once; small chunks keep the gathered rows in cache (measured: 25 beats 100 and 500).  ``on_epoch(epoch, nets, val_correct, test_correct, costs)``
    is called after each epoch.
    """
    from .data import EpochOrder

    m = configs[0].batch_size
    assert all(c.batch_size == m for c in configs), "one group, one mini-batch size"
    nets = StackedNetworks(configs, device, dtype)
    x_train, y_train = data.train.x.to(device, dtype), data.train.y.to(device, dtype)
    x_val, labels_val = data.val.x.to(device, dtype), data.val.y.to(device)
    x_test, labels_test = data.test.x.to(device, dtype), data.test.y.to(device)
    n, K = len(x_train), len(configs)
    orders = [EpochOrder(n, m, chunk_steps, c.seed, device) for c in configs]
    for epoch in range(epochs):
        perms = torch.stack([o.order(epoch) for o in orders])  # [K, n]: each network's own shuffle
        cost = torch.zeros(K, dtype=dtype, device=device)
        for start in range(0, n, m * chunk_steps):
            idx = perms[:, start:start + m * chunk_steps]
            xs, ys = x_train[idx], y_train[idx]  # [K, chunk, .]: each network's own examples
            errors = torch.empty_like(ys)
            nets.sgd_steps(xs, ys, m, errors)
            cost += errors.square().sum(dim=(1, 2)) / 2
            if progress is not None:
                progress(epoch + (start + idx.shape[1]) / n)
        val = nets.correct(x_val, labels_val)
        test = nets.correct(x_test, labels_test)
        if on_epoch is not None:
            on_epoch(epoch, nets, val.cpu(), test.cpu(), (cost / n).cpu())
    return nets


def run(configs: list[Config], epochs: int, data, device="cpu", pack="group", progress=True) -> list[dict]:
    """Train every configuration; return one record per network with its per-epoch accuracies."""
    records = {c: {**asdict(c), "sizes": c.sizes, "name": c.name, "val_correct": [], "test_correct": [],
                   "train_cost": []} for c in configs}
    groups = {}
    for c in configs:  # one batched computation per mini-batch size (and per depth, or per size with --pack group)
        key = (c.batch_size, len(c.hidden)) if pack == "pad" else (c.batch_size, c.hidden)
        groups.setdefault(key, []).append(c)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=epochs * len(groups), unit="epoch", desc=f"{len(configs)} networks", file=sys.stderr,
                   bar_format="{l_bar}{bar}| {n:.1f}/{total} epochs [{elapsed}<{remaining}]{postfix}")
    done = 0
    for members in groups.values():
        def on_epoch(epoch, nets, val, test, cost, members=members):
            for k, c in enumerate(members):
                records[c]["val_correct"].append(int(val[k]))
                records[c]["test_correct"].append(int(test[k]))
                records[c]["train_cost"].append(float(cost[k]))
            if bar is not None:
                bar.set_postfix_str(f"best test {max(test).item() / 100:.2f}%")

        def tick(fraction, base=done):
            if bar is not None:
                bar.n = base + fraction
                bar.refresh()

        train_group(members, data, epochs, device, progress=tick, on_epoch=on_epoch)
        done += epochs
    if bar is not None:
        bar.close()
    return list(records.values())


# --- results ----------------------------------------------------------------------------------

def summarise(records: list[dict]) -> list[dict]:
    """One row per configuration (seeds pooled): final and best test accuracy, mean +- std, stuck runs."""
    by_config = {}
    for r in records:
        by_config.setdefault((tuple(r["hidden"]), r["lr"], r["batch_size"]), []).append(r)
    rows = []
    for (hidden, lr, m), runs in sorted(by_config.items()):
        final = torch.tensor([r["test_correct"][-1] / 100 for r in runs], dtype=torch.float64)
        best = torch.tensor([max(r["test_correct"]) / 100 for r in runs], dtype=torch.float64)
        rows.append({"sizes": [784, *hidden, 10], "hidden": list(hidden), "lr": lr, "batch_size": m,
                     "seeds": len(runs), "final_mean": final.mean().item(),
                     "final_std": final.std().item() if len(runs) > 1 else 0.0,
                     "best_mean": best.mean().item(), "best_std": best.std().item() if len(runs) > 1 else 0.0,
                     "best_min": best.min().item(), "best_max": best.max().item(),
                     "stuck": int((best < 100 * STUCK_BELOW).sum())})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| network | η | m | seeds | final test % (mean ± std) | best test % (mean ± std) | best min–max | stuck < 90% |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['sizes']} | {r['lr']:g} | {r['batch_size']} | {r['seeds']} | "
                     f"{r['final_mean']:.2f} ± {r['final_std']:.2f} | {r['best_mean']:.2f} ± {r['best_std']:.2f} | "
                     f"{r['best_min']:.2f}–{r['best_max']:.2f} | {r['stuck']} |")
    return "\n".join(lines) + "\n"


def plots(records: list[dict], rows: list[dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lrs = sorted({r["lr"] for r in rows})
    hiddens = sorted({tuple(r["hidden"]) for r in rows})
    m = min(r["batch_size"] for r in rows)  # the heat map shows one mini-batch size: the smallest
    heat = torch.full((len(hiddens), len(lrs)), float("nan"))
    for r in rows:
        if r["batch_size"] == m:
            heat[hiddens.index(tuple(r["hidden"])), lrs.index(r["lr"])] = r["best_mean"]
    fig, ax = plt.subplots(figsize=(1.2 * len(lrs) + 2.5, 0.8 * len(hiddens) + 1.8))
    image = ax.imshow(heat.numpy(), cmap="viridis", vmin=max(0.0, float(torch.nan_to_num(heat, 100).min()) - 1),
                      vmax=100, aspect="auto")
    for i, j in itertools.product(range(len(hiddens)), range(len(lrs))):
        if not math.isnan(heat[i, j]):
            ax.text(j, i, f"{heat[i, j]:.1f}", ha="center", va="center", color="w" if heat[i, j] < 80 else "k")
    ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_yticks(range(len(hiddens)), [str(list(h)) if h else "none" for h in hiddens])
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("hidden layer")
    ax.set_title(f"best test accuracy %, mean over seeds (m = {m})")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    save_figure(fig, out / "heatmap.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, len(hiddens), figsize=(4.5 * len(hiddens), 3.6), sharey=True, squeeze=False)
    batch_sizes = sorted({r["batch_size"] for r in rows})
    for ax, h in zip(axes[0], hiddens):
        for lr, size in itertools.product(lrs, batch_sizes):
            runs = [r for r in records if tuple(r["hidden"]) == h and r["lr"] == lr and r["batch_size"] == size]
            if not runs:
                continue
            acc = torch.tensor([r["test_correct"] for r in runs], dtype=torch.float64) / 100
            epochs = range(1, acc.shape[1] + 1)
            label = f"η = {lr:g}" + (f", m = {size}" if len(batch_sizes) > 1 else "")
            line, = ax.plot(epochs, acc.mean(0), label=label)
            if len(runs) > 1:
                ax.fill_between(epochs, acc.min(0).values, acc.max(0).values, color=line.get_color(), alpha=0.15)
        ax.set_title(f"[784, {', '.join(map(str, h)) + ', ' if h else ''}10]")
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy % (mean; band: min–max over seeds)")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save_figure(fig, out / "curves.png")
    plt.close(fig)


def tensorboard_runs(records: list[dict], out: Path) -> None:
    """One TensorBoard run per network, with its hyperparameters, so the HParams dashboard compares them."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    for r in records:
        with SummaryWriter(str(out / "tb" / r["name"])) as writer:
            for epoch, (val, test, cost) in enumerate(zip(r["val_correct"], r["test_correct"], r["train_cost"])):
                writer.add_scalar("val/accuracy", val / 10_000, epoch)
                writer.add_scalar("test/accuracy", test / 10_000, epoch)
                writer.add_scalar("train/cost", cost, epoch)
            params = {"sizes": str(r["sizes"]), "hidden": str(r["hidden"]), "lr": r["lr"], "batch_size": r["batch_size"],
                      "seed": r["seed"], "epochs": len(r["test_correct"])}
            metrics = {"hparams/best_test_accuracy": max(r["test_correct"]) / 10_000,
                       "hparams/best_val_accuracy": max(r["val_correct"]) / 10_000}
            for summary in hparams(params, metrics):
                writer.file_writer.add_summary(summary)
            for tag, value in metrics.items():
                writer.add_scalar(tag, value, len(r["test_correct"]) - 1)


def report(records: list[dict], out: Path, tensorboard: bool = True) -> str:
    """Write results.json, results.csv, table.md, heatmap.png, curves.png (and TensorBoard runs) under ``out``."""
    rows = summarise(records)
    write_atomic(out / "results.json", json.dumps({"networks": records, "configurations": rows}, indent=1))
    csv = ["name,hidden,lr,batch_size,seed,epoch,val_correct,test_correct,train_cost"]
    for r in records:
        for e, (v, t, c) in enumerate(zip(r["val_correct"], r["test_correct"], r["train_cost"])):
            csv.append(f"{r['name']},{'-'.join(map(str, r['hidden']))},{r['lr']},{r['batch_size']},{r['seed']},{e},{v},{t},{c:.6f}")
    write_atomic(out / "results.csv", "\n".join(csv) + "\n")
    text = table(rows)
    write_atomic(out / "table.md", text)
    plots(records, rows, out)
    if tensorboard:
        tensorboard_runs(records, out)
    return text


def merge(out: Path, tensorboard: bool = True) -> str:
    """Combine the ``worker-*.json`` files that ``--worker I/N`` processes wrote under ``out``."""
    parts = sorted(out.glob("worker-*.json"))
    if not parts:
        raise FileNotFoundError(f"no worker-*.json under {out}")
    records, seen = [], set()
    for part in parts:
        try:
            networks = json.loads(part.read_text())["networks"]
            for r in networks:
                if r["name"] not in seen:
                    seen.add(r["name"])
                    records.append(r)
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{part} is not a worker file of nndigits.sweep ({type(error).__name__}: {error})") from None
    if not records or len({len(r["test_correct"]) for r in records}) != 1:
        raise ValueError(f"the worker files under {out} hold no networks, or runs of different lengths "
                         "(give every worker the same --epochs)")
    return report(records, out, tensorboard)


# --- command line -----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    from .cli import Parser, positive

    p = Parser(prog="python -m nndigits.sweep", description="Train a grid of chapter 1 networks at once.")
    p.add_argument("--lr", "--eta", nargs="+", type=positive(float, "--lr (eta)", 0.0, strict=True), default=[3.0])
    p.add_argument("--hidden", nargs="+", type=positive(int, "a hidden size", 0), default=[30],
                   help="hidden layer sizes to try (one hidden layer each; 0 = no hidden layer)")
    p.add_argument("--batch-size", "-m", nargs="+", type=positive(int, "--batch-size", 1), default=[10])
    p.add_argument("--seeds", type=positive(int, "--seeds", 1), default=5, help="seeds 1..S for every configuration")
    p.add_argument("--epochs", type=positive(int, "--epochs", 1), default=30)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--pack", choices=["pad", "group"], default="group",
                   help="networks of different hidden sizes: one batch per size (default; on a CPU the batched "
                        "products are arithmetic-bound and padding adds arithmetic) or one batch padded to the "
                        "largest size with inert units (fewer, larger steps)")
    p.add_argument("--threads", type=positive(int, "--threads", 1), default=None,
                   help="CPU threads (default: torch's choice)")
    p.add_argument("--worker", default=None, metavar="I/N", help="train only every N-th configuration, starting at I")
    p.add_argument("--merge", action="store_true", help="merge the worker-*.json files under --out and report")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="runs/sweep", help="results folder (default: runs/sweep)")
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.merge:
        try:
            print(merge(out, not args.no_tensorboard), end="")
        except (OSError, ValueError) as error:
            print(f"python -m nndigits.sweep: error: {error}", file=sys.stderr)
            return 1
        return 0
    worker = None
    if args.worker is not None:
        parts = args.worker.split("/")
        if len(parts) != 2 or not all(v.isdigit() for v in parts) or not 0 <= int(parts[0]) < int(parts[1]):
            p.error(f"--worker must be I/N with 0 <= I < N, got {args.worker!r}")
        worker = (int(parts[0]), int(parts[1]))
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda, but torch sees no CUDA GPU")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as in train: subnormal floats would slow late epochs down ~2x

    from .data import DataError, MNISTDataModule

    configs = grid(args.lr, [[h] if h else [] for h in args.hidden], args.batch_size, range(1, args.seeds + 1))
    if worker is not None:
        configs = configs[worker[0]::worker[1]]
    data = MNISTDataModule(args.data_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)  # fail now, not after hours of training
        data.prepare_data()
        data.setup("fit")
    except (DataError, OSError) as error:
        print(f"python -m nndigits.sweep: error: {error}", file=sys.stderr)
        return 1
    print(f"Training {len(configs)} networks for {args.epochs} epochs on {args.device}", file=sys.stderr)
    start = time.perf_counter()
    records = run(configs, args.epochs, data, args.device, args.pack, progress=not args.no_progress)
    seconds = time.perf_counter() - start
    print(f"{len(configs)} networks x {args.epochs} epochs in {seconds:.1f} s", file=sys.stderr)
    try:
        if worker is not None:
            part = out / f"worker-{worker[0]}-of-{worker[1]}.json"
            write_atomic(part, json.dumps({"networks": records, "seconds": seconds}, indent=1))
            print(f"wrote {part}; merge with `python -m nndigits.sweep --merge --out {out}`")
            return 0
        print(report(records, out, not args.no_tensorboard), end="")
    except OSError as error:
        print(f"python -m nndigits.sweep: error: could not write the results: {error}", file=sys.stderr)
        return 1
    print(f"Results, plots and TensorBoard runs: {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
