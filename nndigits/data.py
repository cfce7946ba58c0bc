"""``python -m nndigits.data``: fetch MNIST, verify it, and print where it is (see ``learn/mnist.py``)."""

from __future__ import annotations

from .cli.command import command, exit_with
from .cli.data import add_data_dir, mnist_or_fail
from .cli.flags import Parser

PROG = "python -m nndigits.data"


def build_parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="Fetch MNIST (if it is not there yet), check each file's SHA-256, print where the files are.",
        epilog="Exit codes: 0 verified, 1 missing or corrupt and not fetchable, 2 bad flags, 130 interrupted.",
    )
    add_data_dir(p)
    return p


@command(PROG)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .learn.mnist import SHA256

    raw = mnist_or_fail(args.data_dir)
    for name in SHA256:
        print(f"{raw / name}  sha256 ok")
    return 0


if __name__ == "__main__":
    exit_with(main())
