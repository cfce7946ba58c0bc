"""``python -m nndigits.data``: fetch MNIST, verify it, and print where it is (see ``learn/mnist.py``)."""

from __future__ import annotations

import sys

from .learn.mnist import SHA256, DataError, default_data_dir, fetch_mnist


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nndigits.data", description="Fetch and verify MNIST.")
    parser.add_argument("--data-dir", default=None, help=f"torchvision root (default: {default_data_dir()})")
    args = parser.parse_args(argv)
    try:
        raw = fetch_mnist(args.data_dir)
    except (DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name in SHA256:
        print(f"{raw / name}  sha256 ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
