"""A sweep's results: tables, plots and TensorBoard runs from the per-network records."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import torch

from ...learn.atomic import save_figure, write_atomic
from .grid import STUCK_BELOW


def summarise(records: list[dict]) -> list[dict]:
    """One row per configuration (seeds pooled): final and best test accuracy, mean +- std, stuck runs."""
    by_config: dict[tuple, list[dict]] = {}
    for r in records:
        by_config.setdefault((tuple(r["hidden"]), r["lr"], r["batch_size"]), []).append(r)
    rows = []
    for (hidden, lr, m), runs in sorted(by_config.items()):
        final = torch.tensor([r["test_correct"][-1] / 100 for r in runs], dtype=torch.float64)
        best = torch.tensor([max(r["test_correct"]) / 100 for r in runs], dtype=torch.float64)
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
                "stuck": int((best < 100 * STUCK_BELOW).sum()),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| network | η | m | seeds | final test % (mean ± std) | best test % (mean ± std) "
        "| best min–max | stuck < 90% |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sizes']} | {r['lr']:g} | {r['batch_size']} | {r['seeds']} | "
            f"{r['final_mean']:.2f} ± {r['final_std']:.2f} | {r['best_mean']:.2f} ± {r['best_std']:.2f} | "
            f"{r['best_min']:.2f}–{r['best_max']:.2f} | {r['stuck']} |"
        )
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
            (line,) = ax.plot(epochs, acc.mean(0), label=label)
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
            params = {
                "sizes": str(r["sizes"]),
                "hidden": str(r["hidden"]),
                "lr": r["lr"],
                "batch_size": r["batch_size"],
                "seed": r["seed"],
                "epochs": len(r["test_correct"]),
            }
            metrics = {
                "hparams/best_test_accuracy": max(r["test_correct"]) / 10_000,
                "hparams/best_val_accuracy": max(r["val_correct"]) / 10_000,
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
            raise ValueError(
                f"{part} is not a worker file of nndigits.sweep ({type(error).__name__}: {error})"
            ) from None
    if not records or len({len(r["test_correct"]) for r in records}) != 1:
        raise ValueError(
            f"the worker files under {out} hold no networks, or runs of different lengths "
            "(give every worker the same --epochs)"
        )
    return report(records, out, tensorboard)
