"""The chapter's numbers, reproduced over seeds, beside the book's figures.

    python experiments/chapter_numbers.py                     # everything, 5 seeds x 30 epochs (~30 min on 2 cores)
    python experiments/chapter_numbers.py --seeds 2 --epochs 2  # a quick check
    python experiments/chapter_numbers.py --only book hidden100 # some rows

Rows (each network row: S seeds, mean +- std of the best-epoch test accuracy, min, max, stuck runs):
  book        [784, 30, 10], eta = 3, m = 10            book: 95.42% at its best epoch
  hidden100   [784, 100, 10], eta = 3, m = 10           book: 96.59%
  eta0.001    [784, 30, 10], eta = 0.001                book: learning crawls
  eta100      [784, 30, 10], eta = 100                  book: learning fails
  nohidden    [784, 10], eta = 3                        the chapter's exercise
  m1, m100    [784, 30, 10], eta = 3, m = 1 and 100     the chapter's exercise (online vs mini-batch), same epochs
  binary4     [784, 30, 4], outputs = the digit's 4 bits  "why 10 output neurons?", settled by experiment
  baselines   random guessing, "average darkness" (book: 22.25%), scikit-learn SVC() (book: 94.35%)

The 10-output networks are trained with ``nndigits.sweep`` (seeds side by side, batched); tests/test_sweep.py
shows each is step for step the network ``python -m nndigits.train`` trains.  binary4 is a BookNetwork
through pl.Trainer with 4-bit targets.  Results: experiments/results/chapter_numbers.{md,json} (``--out``) and
experiments/figures/chapter_numbers.png (``--figure``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import torch

from nndigits.cli.command import command, exit_with
from nndigits.cli.data import add_data_dir, mnist_or_fail
from nndigits.cli.flags import Parser, add_epochs, add_seeds, add_threads, seed_range
from nndigits.core.machine import usable_cpus
from nndigits.learn.atomic import save_figure, write_atomic
from nndigits.learn.datamodule import MNISTDataModule
from nndigits.studies.sweep import STUCK_BELOW, Config, pixels, plan, run
from nndigits.studies.sweep.progress import Progress
from nndigits.studies.sweep.tasks import datamodule

HERE = Path(__file__).resolve().parent
ROWS = {  # name: (hidden, eta, m, the book's figure)
    "book": ((30,), 3.0, 10, "95.42% (best epoch)"),
    "hidden100": ((100,), 3.0, 10, "96.59%"),
    "eta0.001": ((30,), 0.001, 10, "learning crawls"),
    "eta100": ((30,), 100.0, 10, "learning fails"),
    "nohidden": ((), 3.0, 10, "(exercise)"),
    "m1": ((30,), 3.0, 1, "(exercise: online learning)"),
    "m100": ((30,), 3.0, 100, "(exercise)"),
}


def log(msg):
    print(f"[chapter_numbers] {msg}", file=sys.stderr, flush=True)


def stats(best: list[float]) -> dict:
    t = torch.tensor(best, dtype=torch.float64)
    return {
        "mean": t.mean().item(),
        "std": t.std().item() if len(t) > 1 else 0.0,
        "min": t.min().item(),
        "max": t.max().item(),
        "stuck": int((t < 100 * STUCK_BELOW).sum()),
        "n": len(t),
    }


def network_rows(names, seeds, epochs, split, threads):
    results = {}
    for name in names:
        hidden, eta, m, _ = ROWS[name]
        configs = [Config(hidden, eta, m, s) for s in seed_range(seeds)]
        start = time.perf_counter()
        log(f"{name}: {configs[0].sizes}, eta = {eta:g}, m = {m}, {seeds} seeds x {epochs} epochs")
        records = run(plan(configs), split, epochs, progress=Progress(len(configs), 0, 1), threads=threads)
        curves = [[c / 100 for c in r["test_correct"]] for r in records]
        results[name] = {
            "curves": curves,
            "best": [max(c) for c in curves],
            "final": [c[-1] for c in curves],
            "seconds": time.perf_counter() - start,
        }
    return results


def binary4(seeds, epochs, data):
    """[784, 30, 4] trained on the 4 bits of the digit; the answer is the number the rounded outputs spell.

    ``data`` is the set-up MNISTDataModule of the other rows: its images are reused (not read and hashed
    again per seed); only the training targets change, and each seed gets its own training order.
    """
    from nndigits.learn.book import BookNetwork
    from nndigits.learn.datamodule import Chunks
    from nndigits.learn.run import bare_trainer, quiet_lightning

    bits = 2 ** torch.arange(4)

    class BinaryDigits(MNISTDataModule):
        """``data``'s images with the digit's 4 bits as training targets; setup() finds them already there."""

        def __init__(self):
            super().__init__(
                data.data_dir,
                batch_size=data.batch_size,
                chunk_steps=data.chunk_steps,
                eval_batch_size=data.eval_batch_size,
            )
            labels = data.train.y.argmax(1)
            self.train = Chunks(data.train.x, ((labels[:, None] & bits) > 0).float())
            self.val, self.test = data.val, data.test

        def prepare_data(self):
            pass  # MNIST was fetched and verified when ``data`` was set up

    class BinaryNetwork(BookNetwork):
        def evaluate(self, x, labels):
            """Right when the 4 outputs, each read as a bit (> 0.5), spell the digit; the cost is against its bits."""
            a = self.net(x)
            decoded = ((a > 0.5).long() * bits.to(x.device)).sum(1)
            targets = ((labels[:, None] & bits.to(x.device)) > 0).to(a.dtype)
            return (decoded == labels).sum(), (targets - a).square().sum() / 2

    quiet_lightning()
    binary = BinaryDigits()
    curves = []
    for seed in seed_range(seeds):
        log(f"binary4: seed {seed}")
        binary.seed = seed  # the seed of the training order (EpochOrder), as MNISTDataModule(seed=seed) sets it
        model = BinaryNetwork([784, 30, 4], lr=3.0, batch_size=10, seed=seed)
        trainer = bare_trainer(epochs)
        with open(os.devnull, "w") as null, redirect_stdout(null):
            trainer.fit(model, datamodule=binary)
        curves.append([h["test/accuracy"] * 100 for h in model.history])
    return {"curves": curves, "best": [max(c) for c in curves], "final": [c[-1] for c in curves]}


def baselines(data, svc: bool):
    x, y = data.train.x, data.train.y.argmax(1)
    x_test, y_test = data.test.x, data.test.y
    out = {}
    # Random guessing: expected 10%; one draw shown.
    guesses = torch.randint(0, 10, (len(y_test),), generator=torch.Generator().manual_seed(0))
    out["random"] = (guesses == y_test).float().mean().item() * 100
    # Average darkness: the digit whose training images' mean total ink is closest to the image's.
    darkness = torch.stack([x[y == d].sum(1).mean() for d in range(10)])
    guess = (x_test.sum(1, keepdim=True) - darkness).abs().argmin(1)
    out["darkness"] = (guess == y_test).float().mean().item() * 100
    if svc:
        from sklearn import svm

        # SVC() today, and SVC() as it was when the book was written: scikit-learn's default gamma was
        # 'auto' (1 / n_features) until 0.22, when it became 'scale' (1 / (n_features * X.var())).
        for key, params in (("svc", {}), ("svc_auto", {"gamma": "auto"})):
            log(f"SVC({params or ''}): fitting on 50,000 images (this takes a few minutes)")
            start = time.perf_counter()
            clf = svm.SVC(**params)
            clf.fit(x.numpy(), y.numpy())
            out[key] = (clf.predict(x_test.numpy()) == y_test.numpy()).mean() * 100
            out[f"{key}_seconds"] = time.perf_counter() - start
            out[f"{key}_params"] = {k: str(v) for k, v in clf.get_params().items() if k in ("C", "gamma", "kernel")}
    return out


def figure(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, r in results.items():
        acc = torch.tensor(r["curves"], dtype=torch.float64)
        epochs = range(1, acc.shape[1] + 1)
        (line,) = ax.plot(epochs, acc.mean(0), label=name)
        ax.fill_between(epochs, acc.min(0).values, acc.max(0).values, color=line.get_color(), alpha=0.12)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy % (mean over seeds; band: min–max)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Chapter 1's experiments")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


@command("chapter_numbers.py")
def main(argv=None):
    p = Parser(prog="chapter_numbers.py", description=__doc__.split("\n\n")[0])
    add_seeds(p, 5)
    add_epochs(p, 30)
    p.add_argument(
        "--only", nargs="+", choices=[*ROWS, "binary4", "baselines"], default=None, help="rows to redo (default: all)"
    )
    p.add_argument("--no-svc", action="store_true", help="skip the (slow) SVC baseline")
    add_threads(p, min(2, usable_cpus()))
    add_data_dir(p)
    p.add_argument(
        "--out",
        default=str(HERE / "results" / "chapter_numbers"),
        help="writes OUT.md and OUT.json (default: experiments/results/chapter_numbers)",
    )
    p.add_argument(
        "--figure",
        type=Path,
        default=HERE / "figures" / "chapter_numbers.png",
        help="accuracy-per-epoch PNG (default: experiments/figures/chapter_numbers.png)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    wanted = args.only or [*ROWS, "binary4", "baselines"]
    mnist_or_fail(args.data_dir)
    split = pixels(args.data_dir)  # read once: the sweep's rows and the DataModule of the others share it
    data = datamodule(split)

    out = Path(args.out)
    previous = {"results": {}, "baselines": {}}
    if args.only and out.with_suffix(".json").exists():  # --only redoes some rows and keeps the others
        previous = json.loads(out.with_suffix(".json").read_text())
    results = previous["results"] | network_rows(
        [n for n in wanted if n in ROWS], args.seeds, args.epochs, split, args.threads
    )
    if "binary4" in wanted:
        results["binary4"] = binary4(args.seeds, args.epochs, data)
    base = baselines(data, svc=not args.no_svc) if "baselines" in wanted else previous["baselines"]
    results = {name: results[name] for name in [*ROWS, "binary4"] if name in results}  # the table's order

    commands = previous.get("commands", []) + [
        f"python experiments/chapter_numbers.py --seeds {args.seeds} --epochs {args.epochs}"
        f"{' --only ' + ' '.join(args.only) if args.only else ''}{' --no-svc' if args.no_svc else ''}"
    ]
    lines = [
        "Commands: " + "; then ".join(f"`{c}`" for c in commands),
        "",
        "| experiment | network | η | m | book | best-epoch test accuracy %, mean ± std | min | max "
        "| final epoch, mean | stuck < 90% |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        s = stats(r["best"])
        hidden, eta, m, book = ROWS.get(name, ((30,), 3.0, 10, "(the chapter's question)"))
        sizes = [784, *hidden, 4 if name == "binary4" else 10]
        final = sum(r["final"]) / len(r["final"])
        lines.append(
            f"| {name} | {sizes} | {eta:g} | {m} | {book} | {s['mean']:.2f} ± {s['std']:.2f} (n={s['n']}) | "
            f"{s['min']:.2f} | {s['max']:.2f} | {final:.2f} | {s['stuck']} / {s['n']} |"
        )
    if base:
        lines.append(f"| random guessing | – | – | – | 10% | {base['random']:.2f} (one draw) | | | | |")
        lines.append(f"| average darkness | – | – | – | 22.25% | {base['darkness']:.2f} | | | | |")
        for key, name in (
            ("svc", "scikit-learn SVC() (today's defaults)"),
            ("svc_auto", "SVC(gamma='auto') (the default in the book's day)"),
        ):
            if key in base:
                lines.append(
                    f"| {name} | {base[key + '_params']} | – | – | 94.35% | {base[key]:.2f} "
                    f"({base[key + '_seconds']:.0f} s to fit and predict) | | | | |"
                )
    text = "\n".join(lines) + "\n"
    print(text)
    write_atomic(out.with_suffix(".md"), text)
    write_atomic(
        out.with_suffix(".json"), json.dumps({"commands": commands, "results": results, "baselines": base}, indent=1)
    )
    if results:
        figure(results, args.figure)
    return 0


if __name__ == "__main__":
    exit_with(main())
