"""``python -m nndigits.predict IMAGE [IMAGE ...]``: the trained network's digit for each image file.

Each image is preprocessed the way MNIST's digits were (``nndigits.use.images``):
grayscale, inverted if the paper is lighter than the ink, cropped to the ink,
scaled to fit 20x20, centred by mass in 28x28.  One line per image::

    examples/digit_7_dark_on_light.png: 7  (confidence 0.97; runner-up 9 0.04)

The confidence is the winning output neuron's activation, sigma(z) in (0, 1):
each output neuron is a separate sigmoid, so the ten activations need not add
up to 1 and a confidence near 0 means no neuron recognises the image.

Errors (an unreadable image, a missing or damaged checkpoint) are one line
``python -m nndigits.predict: error: ...`` on stderr and a non-zero exit; with
several images the good ones are still predicted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROG = "python -m nndigits.predict"
CONFIDENCE_HELP = (
    "Confidence is the winning output neuron's activation sigma(z) in (0, 1); the ten output "
    "neurons are separate sigmoids, so activations need not sum to 1, and a low winner means "
    "no neuron recognises the image. The runner-up is the second most active neuron."
)


def build_parser() -> argparse.ArgumentParser:
    from .cli import Parser

    p = Parser(
        prog=PROG,
        description="Classify images of single handwritten digits with a trained network. " + CONFIDENCE_HELP,
        epilog="Any image format Pillow reads (PNG, JPEG, ...), dark ink on light paper or light on dark; "
        "it is preprocessed like MNIST (cropped, scaled to 20x20, centred by mass in 28x28).",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image file(s), one digit each")
    p.add_argument(
        "--checkpoint",
        metavar="CKPT",
        default=None,
        help="a checkpoint written by `python -m nndigits.train` (default: the newest under runs/)",
    )
    p.add_argument("--show", action="store_true", help="also print the 28x28 image the network sees, as text")
    p.add_argument(
        "--show-dir",
        metavar="DIR",
        default=None,
        help="also save the 28x28 image the network sees as DIR/<image name>.28x28.png (default: not saved)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    from .cli import fail, run_with_network
    from .use.classify import predict
    from .use.images import ImageError, ascii_art, load_digit, save_mnist_png

    args = build_parser().parse_args(argv)

    def predict_each(net) -> int:
        failed = 0
        for path in args.images:
            try:
                x = load_digit(path)
            except ImageError as error:
                fail(PROG, error)
                failed += 1
                continue
            digit, confidence, second, second_a = predict(net, x)[0]
            print(f"{path}: {digit}  (confidence {confidence:.2f}; runner-up {second} {second_a:.2f})", flush=True)
            if args.show:
                print(ascii_art(x))
            if args.show_dir:
                seen = Path(args.show_dir) / (Path(path).name + ".28x28.png")
                try:
                    print(f"  the network saw: {save_mnist_png(x, seen)}", flush=True)
                except OSError as error:
                    fail(PROG, f"cannot write {seen}: {error.strerror or error}")
                    failed += 1
        return 1 if failed else 0

    return run_with_network(args.checkpoint, PROG, predict_each)


if __name__ == "__main__":
    sys.exit(main())
