"""The chapter's two pictures -- the sigmoid and the step function -- and why they meet.

Left: sigma(z) = 1 / (1 + e^-z) (eq. 3).  Middle: the perceptron's step
(eq. 2: 0 for z <= 0, 1 for z > 0).  Right: sigma(c z) for growing c, which
is what a sigmoid neuron with weights and bias scaled by c computes: it
tends to the step for every z != 0, but stays at exactly 1/2 at z = 0
(the exercise "sigmoid neurons simulating perceptrons", part II).

    python experiments/sigmoid_vs_step.py [--out experiments/figures/sigmoid_vs_step.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from nndigits.cli.flags import Parser
from nndigits.learn.atomic import save_figure

DEFAULT_OUT = Path(__file__).resolve().parent / "figures" / "sigmoid_vs_step.png"
SCALES = (1, 2, 5, 20, 100)


def draw_step(ax, z_min: float, z_max: float, **style) -> None:
    """The step of eq. 2, with its value at 0 (0, not 1) shown by a filled dot."""
    ax.plot([z_min, 0], [0, 0], **style)
    ax.plot([0, z_max], [1, 1], **style)
    ax.plot([0], [0], "o", color=style.get("color", "k"), markersize=5)
    ax.plot([0], [1], "o", markerfacecolor="white", color=style.get("color", "k"), markersize=5)


def make_figure(z_min: float = -5.0, z_max: float = 5.0):
    z = torch.linspace(z_min, z_max, 2001, dtype=torch.float64)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)

    ax = axes[0]
    ax.plot(z, torch.sigmoid(z), color="tab:blue")
    ax.set_title(r"sigmoid function $\sigma(z) = 1/(1+e^{-z})$")

    ax = axes[1]
    draw_step(ax, z_min, z_max, color="tab:red")
    ax.set_title("step function (perceptron, eq. 2)")

    ax = axes[2]
    colors = plt.cm.viridis(torch.linspace(0.1, 0.85, len(SCALES)).numpy())
    for c, color in zip(SCALES, colors):
        ax.plot(z, torch.sigmoid(c * z), color=color, label=f"c = {c}")
    draw_step(ax, z_min, z_max, color="tab:red", linestyle="--", linewidth=1)
    ax.plot([0], [0.5], "s", color="k", markersize=6, label=r"$\sigma(c\cdot 0) = 1/2$")
    ax.set_title(r"$\sigma(cz)$ tends to the step as $c\to\infty$, except at $z=0$")
    ax.legend(loc="upper left", fontsize=8)

    for ax in axes:
        ax.set_xlabel("z")
        ax.set_xlim(z_min, z_max)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


PROG = "sigmoid_vs_step.py"


def main(argv=None) -> Path | int:
    """The PNG written, or exit code 1 after one line on stderr if it cannot be written."""
    parser = Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG to write (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.out.is_dir():
        print(f"{PROG}: error: --out {args.out} is a folder; give the PNG's file name", file=sys.stderr)
        return 1
    fig = make_figure()
    try:
        save_figure(fig, args.out, dpi=120)  # atomic: a temporary name beside it, then a rename
    except OSError as error:
        print(f"{PROG}: error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return 1
    finally:
        plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    result = main()
    sys.exit(result if isinstance(result, int) else 0)
