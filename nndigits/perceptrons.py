"""``python -m nndigits.perceptrons``: the NAND truth table, the half adder, the cheese festival, sigma(c z)."""

from __future__ import annotations

import itertools

from .cli.command import command, exit_with
from .cli.flags import Parser

PROG = "python -m nndigits.perceptrons"


def build_parser() -> Parser:
    return Parser(
        prog=PROG,
        description="Print the NAND perceptron's truth table, the half adder built from NAND perceptrons, "
        "the cheese-festival decision for thresholds 5 and 3, and sigma(c z) against the step "
        "(chapter 1, sections 2-3). It takes no flags but --help.",
    )


def _bits(n: int):
    import torch

    return torch.tensor(list(itertools.product((0, 1), repeat=n)), dtype=torch.get_default_dtype())


@command(PROG)
def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    import torch

    from .studies.neurons import CHEESE_FACTORS, cheese_festival, half_adder, nand

    x2 = _bits(2)
    print("NAND perceptron (weights -2, -2; bias 3)")
    print("x1 x2 | out")
    for (a, b), out in zip(x2.int().tolist(), nand()(x2).int().tolist()):
        print(f" {a}  {b} |  {out}")

    print("\nHalf adder from NAND perceptrons (sum = x1 XOR x2, carry = x1 AND x2)")
    print("x1 x2 | sum carry | sum carry (merged -4 weight)")
    (s, c), (sm, cm) = half_adder()(x2), half_adder(merged=True)(x2)
    for (a, b), *outs in zip(x2.int().tolist(), *(t.int().tolist() for t in (s, c, sm, cm))):
        print(f" {a}  {b} |  {outs[0]}    {outs[1]}   |  {outs[2]}    {outs[3]}")

    print("\nCheese festival: weights 6, 2, 2 for", ", ".join(CHEESE_FACTORS))
    print("weather partner transit | go (threshold 5) | go (threshold 3)")
    x3 = _bits(3)
    go5, go3 = cheese_festival(5)(x3).int().tolist(), cheese_festival(3)(x3).int().tolist()
    for (w, p, t), a, b in zip(x3.int().tolist(), go5, go3):
        print(f"   {w}       {p}       {t}    |        {a}         |        {b}")

    print("\nsigma(c z) against the step (sigma(0) = 1/2 for every c)")
    zs = [-1.0, -0.1, 0.0, 0.1, 1.0]
    print("     c | " + " ".join(f"z={z:<6g}" for z in zs))
    for c in [1, 10, 100, 1000]:
        row = torch.sigmoid(c * torch.tensor(zs, dtype=torch.float64)).tolist()
        print(f"{c:6d} | " + " ".join(f"{v:8.4f}" for v in row))
    step = (torch.tensor(zs) > 0).int().tolist()
    print("  step | " + " ".join(f"{v:8d}" for v in step))
    return 0


if __name__ == "__main__":
    exit_with(main())
