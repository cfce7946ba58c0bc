"""How well does ``nndigits.read`` read lines of handwritten digits?

Composes lines of 3-8 MNIST *test* digits in four styles (``nndigits.studies.lines.compose_line``):
uneven gaps, touching, overlapping strokes, and digits of different sizes -- and reads
each with a trained checkpoint.  Reports, per style:

* string accuracy: the fraction of lines read exactly right;
* digit accuracy: 1 - (total edit distance between reading and truth) / (total digits),
  so a dropped, extra or wrong digit each counts as one error;
* the oracle: string accuracy if the segmentation were perfect (each digit classified
  from its own MNIST image), the ceiling the classifier alone allows.

The segmentation's knobs (``nndigits.use.cuts.Params``) were tuned on lines of MNIST *training*
digits 50,000-59,999 (the book's validation set), never on the test digits.

    python experiments/read_accuracy.py --checkpoint CKPT [--lines 200] [--examples examples]

``--examples DIR`` also writes the small example images used in the README.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import torch

from nndigits.cli.checkpoint import load_checkpoint_or_fail
from nndigits.cli.command import command, exit_with
from nndigits.cli.data import mnist_or_fail
from nndigits.cli.errors import Failure, UsageError
from nndigits.cli.flags import Parser, add_checkpoint, positive
from nndigits.core.checkpoints import CheckpointError, newest_checkpoint
from nndigits.learn.atomic import write_atomic
from nndigits.learn.mnist import load_split
from nndigits.studies.lines import STYLES, compose_line, to_png
from nndigits.use.segment import read_ink  # noqa: E402

PROG = "read_accuracy.py"


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[:], i
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
    return row[-1]


def make_examples(folder: Path, x: np.ndarray, y: np.ndarray) -> None:
    """A few small PNGs from MNIST test digits: single digits in several guises, and composed lines."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    img = lambda i: x[i].reshape(28, 28)  # noqa: E731

    def save(a, name, dark_on_light=False):
        to_png(a, folder / name, dark_on_light)

    # dark ink on light paper, four times MNIST's size, off centre
    big = np.asarray(Image.fromarray(img(0), mode="F").resize((112, 112), Image.Resampling.BICUBIC)).clip(0, 1)
    canvas = np.zeros((150, 130), np.float32)
    canvas[10:122, 4:116] = big
    save(canvas, f"digit_{y[0]}_dark_on_light.png", dark_on_light=True)
    # light ink on dark, MNIST's own look, in a wide frame
    canvas = np.zeros((40, 70), np.float32)
    canvas[6:34, 35:63] = img(1)
    save(canvas, f"digit_{y[1]}_light_on_dark.png")
    # small: a 14-pixel digit on grey, slightly noisy paper (like a photo), dark ink
    small = np.asarray(Image.fromarray(img(2), mode="F").resize((14, 14), Image.Resampling.LANCZOS)).clip(0, 1)
    canvas = np.zeros((32, 32), np.float32)
    canvas[8:22, 10:24] = small
    paper = 0.82 + 0.03 * rng.standard_normal(canvas.shape)
    gray = np.clip(paper - 0.7 * canvas, 0, 1)
    buffer = io.BytesIO()
    Image.fromarray(np.round(gray * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    write_atomic(folder / f"digit_{y[2]}_small_grey_paper.png", buffer.getvalue())
    # lines: one per style, digits 10-.. of the test set
    start = 10
    for style, n, dark in (("gaps", 5, True), ("touching", 6, False), ("overlap", 4, False), ("sizes", 7, True)):
        idx = np.arange(start, start + n)
        start += n
        line = compose_line(x[idx], style, rng)
        if style == "gaps":  # three times bigger, to show the reader copes with size
            line = np.asarray(
                Image.fromarray(line, mode="F").resize((line.shape[1] * 3, line.shape[0] * 3), Image.Resampling.BICUBIC)
            ).clip(0, 1)
        save(line, f"line_{style}_{''.join(map(str, y[idx]))}.png", dark_on_light=dark)


@command(PROG)
def main(argv=None) -> int:
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    add_checkpoint(p)
    p.add_argument("--lines", type=positive(int, "--lines", 1), default=200, help="lines per style (default 200)")
    p.add_argument(
        "--min-digits", type=positive(int, "--min-digits", 1, maximum=100), default=3, help="digits per line"
    )
    p.add_argument(
        "--max-digits", type=positive(int, "--max-digits", 1, maximum=100), default=8, help="digits per line"
    )
    p.add_argument(
        "--seed", type=positive(int, "--seed", 0, maximum=2**32 - 1), default=2024, help="seed of the composed lines"
    )
    p.add_argument("--out", default="experiments/results/read_accuracy.md", help="markdown table to write")
    p.add_argument("--examples", metavar="DIR", default=None, help="also write example PNGs to DIR")
    args = p.parse_args(argv)
    if args.min_digits > args.max_digits:
        raise UsageError(f"--min-digits ({args.min_digits}) must not exceed --max-digits ({args.max_digits})")
    torch.set_num_threads(1)
    try:  # named here, not inside load_checkpoint_or_fail, because the report says which checkpoint it read
        ckpt = args.checkpoint or newest_checkpoint()
    except CheckpointError as error:
        raise Failure(error) from None
    net = load_checkpoint_or_fail(ckpt)  # Failure (one line, exit 1) if it cannot, or if not 784 -> 10
    mnist_or_fail()
    x, y = load_split(train=False, fetch=False)
    x, y = x.numpy(), y.numpy()
    with torch.no_grad():
        own = net.classify(torch.from_numpy(x)).numpy()
    single = float((own == y).mean())
    if args.examples:
        make_examples(Path(args.examples), x, y)

    rng = np.random.default_rng(args.seed)
    rows = []
    for style in STYLES:
        exact = oracle = edits = digits = fewer = more = 0
        start = time.perf_counter()
        for _ in range(args.lines):
            n = int(rng.integers(args.min_digits, args.max_digits + 1))
            idx = rng.choice(len(x), n, replace=False)
            truth = "".join(map(str, y[idx]))
            reading = "".join(str(d.digit) for d in read_ink(compose_line(x[idx], style, rng), net))
            exact += reading == truth
            oracle += bool((own[idx] == y[idx]).all())
            edits += edit_distance(reading, truth)
            digits += n
            fewer += len(reading) < n
            more += len(reading) > n
        seconds = (time.perf_counter() - start) / args.lines
        rows.append(
            (
                style,
                args.lines,
                digits,
                exact / args.lines,
                1 - edits / digits,
                oracle / args.lines,
                fewer / args.lines,
                more / args.lines,
                seconds,
            )
        )
        print(
            f"{style:9s} string {exact / args.lines:6.1%}  digit {1 - edits / digits:6.1%}  "
            f"(oracle string {oracle / args.lines:6.1%}; too few {fewer}, too many {more}; {seconds:.3f} s/line)",
            flush=True,
        )

    out = Path(args.out)
    lines = [
        "# Reading lines of digits: accuracy per style",
        "",
        f"Command: `python experiments/read_accuracy.py --checkpoint {ckpt} --lines {args.lines} --seed {args.seed}`",
        "",
        f"Checkpoint: {ckpt} -- network {net.sizes}, {single:.2%} on the 10,000 single MNIST test digits.",
        f"{args.lines} lines per style of {args.min_digits}-{args.max_digits} MNIST test digits "
        "(`nndigits.read.compose_line`): *gaps* -- uneven gaps of 2-12 px; *touching* -- each digit's ink starts "
        "in the column after its neighbour's ends; *overlap* -- 1-4 columns (at most a third of the narrower "
        "digit) of overlap, strokes combined by pixel max; *sizes* -- each digit scaled by 0.5-1.0, gaps 1-6 px.",
        "",
        "String accuracy: lines read exactly. Digit accuracy: 1 - total edit distance / total digits. "
        "Oracle: string accuracy with perfect segmentation (each digit classified from its own MNIST "
        "image) -- the ceiling set by the classifier. The segmentation's knobs were tuned on lines of "
        "MNIST training digits 50,000-59,999, not on these test digits.",
        "",
        "| style | lines | digits | string accuracy | digit accuracy | oracle string "
        "| too few digits | too many | s / line |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for style, n, d, s, dg, o, fw, mr, sec in rows:
        lines.append(f"| {style} | {n} | {d} | {s:.1%} | {dg:.1%} | {o:.1%} | {fw:.1%} | {mr:.1%} | {sec:.3f} |")
    write_atomic(out, "\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    exit_with(main())
