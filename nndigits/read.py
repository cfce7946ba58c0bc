"""``python -m nndigits.read IMAGE [IMAGE ...]``: read lines of handwritten digits (the algorithm: ``use/segment.py``).

For each image: one line per digit found (its columns and the winning output activation), then the
digits as one string -- the last line of the image's output; with several images that line is
``<image>: <digits>``.
"""

from __future__ import annotations

from .cli.checkpoint import load_checkpoint_or_fail
from .cli.command import command, exit_with
from .cli.flags import Parser, add_checkpoint
from .cli.images import check_image_count, for_each_image

PROG = "python -m nndigits.read"


def build_parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="Read a horizontal line of handwritten digits: try many ways of cutting "
        "it into digits, score each by how confident the network is about every "
        "piece, keep the best. Prints one line per digit found (its columns and "
        "the winning output activation), then the digits as one string on the "
        "last line (`IMAGE: digits` when several images are given).",
        epilog="Exit codes: 0 all read, 1 some image or the checkpoint could not be read, 2 bad flags, "
        "130 interrupted.",
    )
    p.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image file(s), one line of digits each (dark on light or light on dark)",
    )
    add_checkpoint(p)
    return p


@command(PROG)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_image_count(args.images)
    net = load_checkpoint_or_fail(args.checkpoint)

    from .use.segment import read_file

    def show(path: str, digits) -> None:
        for d in digits:
            print(f"  {d.digit}  columns {d.left}-{d.right}  (confidence {d.confidence:.2f})")
        line = "".join(str(d.digit) for d in digits)
        print(f"{path}: {line}" if len(args.images) > 1 else line, flush=True)

    return for_each_image(PROG, args.images, lambda path: read_file(path, net), show)


if __name__ == "__main__":
    exit_with(main())
