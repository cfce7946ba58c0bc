"""``python -m nndigits.read IMAGE``: read a line of handwritten digits (the algorithm: ``use/segment.py``)."""

from __future__ import annotations

import argparse
import sys

from .use.images import ImageError
from .use.segment import read_file

PROG = "python -m nndigits.read"


def build_parser() -> argparse.ArgumentParser:
    from .cli import Parser

    p = Parser(
        prog=PROG,
        description="Read a horizontal line of handwritten digits: try many ways of cutting "
        "it into digits, score each by how confident the network is about every "
        "piece, keep the best. Prints one line per digit found (its columns and "
        "the winning output activation), then the digits as one string on the "
        "last line.",
    )
    p.add_argument("image", metavar="IMAGE", help="image file of one line of digits (dark on light or light on dark)")
    p.add_argument(
        "--checkpoint",
        metavar="CKPT",
        default=None,
        help="a checkpoint written by `python -m nndigits.train` (default: the newest under runs/)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    from .cli import fail, run_with_network

    args = build_parser().parse_args(argv)

    def read_line(net) -> int:
        try:
            digits = read_file(args.image, net)
        except ImageError as error:
            fail(PROG, error)
            return 1
        for d in digits:
            print(f"  {d.digit}  columns {d.left}-{d.right}  (confidence {d.confidence:.2f})")
        print("".join(str(d.digit) for d in digits), flush=True)
        return 0

    return run_with_network(args.checkpoint, PROG, read_line)


if __name__ == "__main__":
    sys.exit(main())
