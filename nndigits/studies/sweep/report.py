"""A sweep's results: tables, plots and TensorBoard runs from the per-network records."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import torch

from ...learn.atomic import save_figure, write_atomic
from .grid import JUDGE_AFTER, STUCK_BELOW


def _percent(r: dict, key: str) -> list[float]:
    """A record's per-epoch accuracies in %, out of the examples it was evaluated on."""
    size = r.get(key.replace("correct", "size")) or 10_000
    return [100 * c / size for c in r[key]]


def summarise(records: list[dict]) -> list[dict]:
    """One row per configuration (seeds pooled): final and best test accuracy, mean +- std, stuck runs.

    "stuck" is judged only on runs of at least ``JUDGE_AFTER`` epochs (``None`` otherwise): the book's
    own runs sit at ~87% for up to 11 epochs before some escape, so two epochs cannot tell.
    """
    by_config: dict[tuple, list[dict]] = {}
    for r in records:
        by_config.setdefault((tuple(r["hidden"]), r["lr"], r["batch_size"]), []).append(r)
    rows = []
    for (hidden, lr, m), runs in sorted(by_config.items()):
        final = torch.tensor([_percent(r, "test_correct")[-1] for r in runs], dtype=torch.float64)
        best = torch.tensor([max(_percent(r, "test_correct")) for r in runs], dtype=torch.float64)
        long_enough = min(len(r["test_correct"]) for r in runs) >= JUDGE_AFTER
        rows.append(
            {
                "sizes": [784, *hidden, 10],
                "hidden": list(hidden),
                "lr": lr,
                "batch_size": m,
                "seeds": len(runs),
                "final_mean": final.mean().item(),
                "final_std": final.std().item() if len(runs) > 1 else 0.0,
                "best_mean": best.mean().item(),
                "best_std": best.std().item() if len(runs) > 1 else 0.0,
                "best_min": best.min().item(),
                "best_max": best.max().item(),
                "epochs": min(len(r["test_correct"]) for r in runs),
                "stuck": int((best < 100 * STUCK_BELOW).sum()) if long_enough else None,
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| network | η | m | seeds | epochs | final test % (mean ± std) | best test % (mean ± std) "
        f"| best min–max | stuck < {100 * STUCK_BELOW:g}% |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        stuck = r["stuck"] if r["stuck"] is not None else "too short to judge"
        lines.append(
            f"| {r['sizes']} | {r['lr']:g} | {r['batch_size']} | {r['seeds']} | {r['epochs']} | "
            f"{r['final_mean']:.2f} ± {r['final_std']:.2f} | {r['best_mean']:.2f} ± {r['best_std']:.2f} | "
            f"{r['best_min']:.2f}–{r['best_max']:.2f} | {stuck} |"
        )
    if any(r["stuck"] is None for r in rows):
        lines.append(
            f'\n"stuck" (best test accuracy under {100 * STUCK_BELOW:g}%) is judged only on runs of at least '
            f"{JUDGE_AFTER} epochs: the book's network can sit at ~87% for ten epochs and then escape."
        )
    return "\n".join(lines) + "\n"


def plots(records: list[dict], rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    lrs = sorted({r["lr"] for r in rows})
    hiddens = sorted({tuple(r["hidden"]) for r in rows})
    m = min(r["batch_size"] for r in rows)  # the heat map shows one mini-batch size: the smallest
    heat = torch.full((len(hiddens), len(lrs)), float("nan"))
    for r in rows:
        if r["batch_size"] == m:
            heat[hiddens.index(tuple(r["hidden"])), lrs.index(r["lr"])] = r["best_mean"]
    fig, ax = plt.subplots(figsize=(1.2 * len(lrs) + 2.5, 0.8 * len(hiddens) + 1.8))
    image = ax.imshow(
        heat.numpy(),
        cmap="viridis",
        vmin=max(0.0, float(torch.nan_to_num(heat, 100).min()) - 1),
        vmax=100,
        aspect="auto",
    )
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

    fig, axes = plt.subplots(1, len(hiddens), figsize=(4.5 * len(hiddens) + 0.6, 4.2), sharey=True, squeeze=False)
    batch_sizes = sorted({r["batch_size"] for r in rows})
    for ax, h in zip(axes[0], hiddens):
        for lr, size in itertools.product(lrs, batch_sizes):
            runs = [r for r in records if tuple(r["hidden"]) == h and r["lr"] == lr and r["batch_size"] == size]
            if not runs:
                continue
            acc = torch.tensor([_percent(r, "test_correct") for r in runs], dtype=torch.float64)
            epochs = range(acc.shape[1])  # numbered from 0, as `python -m nndigits.train` prints them
            label = f"η = {lr:g}" + (f", m = {size}" if len(batch_sizes) > 1 else "")
            (line,) = ax.plot(epochs, acc.mean(0), label=label)
            if len(runs) > 1:
                ax.fill_between(epochs, acc.min(0).values, acc.max(0).values, color=line.get_color(), alpha=0.15)
        ax.set_title(f"[784, {', '.join(map(str, h)) + ', ' if h else ''}10]")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy %")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.suptitle("test accuracy after each epoch: line = mean over seeds, band = min–max", fontsize=10)
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
                writer.add_scalar("val/accuracy", val / r.get("val_size", 10_000), epoch)
                writer.add_scalar("test/accuracy", test / r.get("test_size", 10_000), epoch)
                writer.add_scalar("train/cost", cost, epoch)
            params = {
                "sizes": str(r["sizes"]),
                "hidden": str(r["hidden"]),
                "lr": r["lr"],
                "batch_size": r["batch_size"],
                "seed": r["seed"],
                "epochs": len(r["test_correct"]),
            }
            metrics = {
                "hparams/best_test_accuracy": max(r["test_correct"]) / r.get("test_size", 10_000),
                "hparams/best_val_accuracy": max(r["val_correct"]) / r.get("val_size", 10_000),
            }
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
            csv.append(
                f"{r['name']},{'-'.join(map(str, r['hidden']))},{r['lr']},{r['batch_size']},{r['seed']},"
                f"{e},{v},{t},{c:.6f}"
            )
    write_atomic(out / "results.csv", "\n".join(csv) + "\n")
    text = table(rows)
    write_atomic(out / "table.md", text)
    plots(records, rows, out)
    if tensorboard:
        tensorboard_runs(records, out)
    return text
