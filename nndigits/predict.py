"""``python -m nndigits.predict IMAGE [IMAGE ...]``: the trained network's digit for each image file.

Each image is preprocessed the way MNIST's digits were (``use/images.py``):
grayscale, inverted if the paper is lighter than the ink, cropped to the ink,
scaled to fit 20x20, centred by mass in 28x28.  One line per image::

    examples/digit_7_dark_on_light.png: 7  (confidence 0.97; runner-up 9 0.04)

The confidence is the winning output neuron's activation, sigma(z) in (0, 1):
each output neuron is a separate sigmoid, so the ten activations need not add
up to 1 and a confidence near 0 means no neuron recognises the image.

Errors (an unreadable image, a missing or damaged checkpoint) are one line
``python -m nndigits.predict: error: ...`` on stderr and a non-zero exit; with
several images the good ones are still predicted.  Only NumPy and Pillow are
imported, not torch (whose import alone costs seconds on a small CPU): the
checkpoint is read by ``core/checkpoints.py`` and the digit computed by the
book's NumPy network (``core/scratch.py``), so one image from process start
takes a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

from .cli.checkpoint import load_checkpoint_or_fail
from .cli.command import command, exit_with
from .cli.errors import Failure
from .cli.flags import Parser, add_checkpoint
from .cli.images import check_image_count, for_each_image

PROG = "python -m nndigits.predict"
CONFIDENCE_HELP = (
    "Confidence is the winning output neuron's activation sigma(z) in (0, 1); the ten output "
    "neurons are separate sigmoids, so activations need not sum to 1, and a low winner means "
    "no neuron recognises the image. The runner-up is the second most active neuron."
)


def build_parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="Classify images of single handwritten digits with a trained network. " + CONFIDENCE_HELP,
        epilog="Any image format Pillow reads (PNG, JPEG, ...), dark ink on light paper or light on dark; "
        "it is preprocessed like MNIST (cropped, scaled to 20x20, centred by mass in 28x28). "
        "Exit codes: 0 all predicted, 1 some image or the checkpoint could not be read, 2 bad flags, "
        "130 interrupted.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image file(s), one digit each")
    add_checkpoint(p)
    p.add_argument("--show", action="store_true", help="also print the 28x28 image the network sees, as text")
    p.add_argument(
        "--show-dir",
        metavar="DIR",
        default=None,
        help="also save the 28x28 image the network sees as DIR/<image name>.28x28.png (default: not saved)",
    )
    return p


@command(PROG)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_image_count(args.images)
    net = load_checkpoint_or_fail(args.checkpoint)

    from .use.classify import predict
    from .use.images import ascii_art, load_digit, save_mnist_png

    def show(path: str, x) -> None:
        digit, confidence, second, second_a = predict(net, x)[0]
        print(f"{path}: {digit}  (confidence {confidence:.2f}; runner-up {second} {second_a:.2f})", flush=True)
        if args.show:
            print(ascii_art(x), flush=True)
        if args.show_dir:
            target = Path(args.show_dir) / f"{Path(path).name}.28x28.png"
            try:
                save_mnist_png(x, target)
            except OSError as error:
                raise Failure(f"cannot write {target}: {error.strerror or error}") from None
            print(f"  the 28x28 the network saw: {target}", flush=True)

    return for_each_image(PROG, args.images, load_digit, show)


if __name__ == "__main__":
    exit_with(main())
