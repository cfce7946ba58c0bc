"""Gradient descent made visible (the chapter's eq. 7-21), on the project's own pieces.

Everything here is measurement, not a second implementation: the "ball" moves
with plain ``torch.optim.SGD``, gradients come from autograd, and the network
experiments use ``SigmoidNetwork`` and ``quadratic_cost`` as they are.

* ``bowl`` and ``valley``: two-variable costs C(v1, v2) to picture the ball rolling.
* ``descend``: the trajectory of v -> v - eta grad C (eq. 10-11, 15).
* ``first_order_check``: Delta C against grad C . Delta v (eq. 9) for shrinking Delta v.
* ``steepest_descent_check``: -grad C is the best direction for a step of fixed length.
* ``minibatch_gradient_stats``: how well a mini-batch gradient estimates the full one (eq. 18-19).
* ``cost_vs_examples``: training cost against examples processed, full batch vs mini-batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import torch
from torch import nn

from ..learn.network import quadratic_cost

Cost = Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- two-variable costs
VALLEY_MINIMUM = (1.0, 1.0)


def bowl(v: torch.Tensor) -> torch.Tensor:
    """C = v1^2 + 2 v2^2: the chapter's friendly valley, a slightly elongated bowl, minimum at 0.

    Its Hessian is constant, diag(2, 4), so gradient descent is linear:
    v2 -> (1 - 4 eta) v2.  It converges iff |1 - eta lambda| < 1 for every
    eigenvalue lambda, i.e. eta < 2 / lambda_max = 0.5; beyond that the ball
    overshoots further each step.  ``v`` may carry leading batch dimensions.
    """
    return v[..., 0] ** 2 + 2.0 * v[..., 1] ** 2


def valley(v: torch.Tensor) -> torch.Tensor:
    """C = (1 - v1)^2 + 10 (v2 - v1^2)^2: a narrow, curved (Rosenbrock-type) valley, minimum at (1, 1).

    Less friendly than the bowl: the walls are steep (curvature ~100 across the
    floor) while the floor is nearly flat and bends, so an eta small enough not
    to bounce off the walls makes slow progress along the floor -- the
    trade-off the chapter describes after eq. 11.
    """
    return (1.0 - v[..., 0]) ** 2 + 10.0 * (v[..., 1] - v[..., 0] ** 2) ** 2


def gradient(cost: Cost, v: torch.Tensor) -> torch.Tensor:
    """grad C at v (eq. 8 / 13), by autograd."""
    v = v.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(cost(v), v)
    return g


def hessian_eigenvalues(cost: Cost, v: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of the Hessian of C at v: eta must stay below 2 / the largest for a quadratic to converge."""
    h = torch.autograd.functional.hessian(cost, v.detach().to(torch.float64))
    return torch.linalg.eigvalsh(h)


# --------------------------------------------------------------------------- the ball rolling
def descend(cost: Cost, v0: Iterable[float] | torch.Tensor, eta: float, steps: int) -> torch.Tensor:
    """Positions v_0, v_1, ..., v_steps of gradient descent v -> v - eta grad C (eq. 11 / 15).

    The step is literally one ``torch.optim.SGD(lr=eta)`` step on a parameter
    tensor holding v, so "the book's update rule is one SGD step" holds by
    construction (and the tests check it against the explicit formula).
    Returns a float64 tensor of shape (steps + 1, len(v0)).  A diverging run
    is not stopped: its positions grow to inf/nan, which plots simply clip.
    """
    v = nn.Parameter(torch.as_tensor(v0, dtype=torch.float64).detach().clone())
    optimizer = torch.optim.SGD([v], lr=eta)
    path = [v.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        cost(v).backward()
        optimizer.step()
        path.append(v.detach().clone())
    return torch.stack(path)


def first_order_check(
    cost: Cost, v: torch.Tensor, direction: torch.Tensor, scales: Iterable[float]
) -> list[dict[str, float]]:
    """Actual Delta C against the first-order prediction grad C . Delta v (eq. 9), for Delta v = s * direction.

    Eq. 9 drops the second-order terms, so the error |Delta C - grad C . Delta v|
    should fall like ||Delta v||^2: a quarter each time Delta v halves.  That is
    why a small enough eta guarantees Delta C < 0 and a large one does not.
    """
    v = v.detach().to(torch.float64)
    direction = direction.detach().to(torch.float64)
    g = gradient(cost, v)
    c0 = cost(v).item()
    rows = []
    for s in scales:
        dv = s * direction
        actual = cost(v + dv).item() - c0
        predicted = torch.dot(g, dv).item()
        rows.append(
            {"norm_dv": dv.norm().item(), "actual": actual, "predicted": predicted, "error": abs(actual - predicted)}
        )
    return rows


def steepest_descent_check(
    cost_fn: Cost, params: torch.Tensor, eps: float, n_directions: int, generator: torch.Generator | None = None
) -> dict:
    """Is Delta v = -eps grad C / ||grad C|| the best step of length eps?  Compare it with random ones.

    The chapter (after eq. 15) says that among all moves with ||Delta v|| = eps,
    the first-order change grad C . Delta v is smallest (most negative) for
    Delta v along -grad C, where it equals -eps ||grad C|| (Cauchy-Schwarz).
    ``cost_fn`` maps a flat vector ``params`` to a scalar (for the network, see
    ``network_cost_fn``).  Returns first-order and actual changes of C for the
    steepest step and for ``n_directions`` random unit directions of the same length.
    """
    params = params.detach()
    g = gradient(cost_fn, params)
    c0 = cost_fn(params).item()
    steepest_dv = -eps * g / g.norm()
    u = torch.randn(n_directions, params.numel(), generator=generator, dtype=params.dtype)
    u = u / u.norm(dim=1, keepdim=True)
    with torch.no_grad():
        random_first = eps * (u @ g)
        random_actual = torch.stack([cost_fn(params + eps * d) for d in u]) - c0
        steepest_actual = cost_fn(params + steepest_dv).item() - c0
    return {
        "grad_norm": g.norm().item(),
        "steepest_first_order": torch.dot(g, steepest_dv).item(),
        "steepest_actual": steepest_actual,
        "random_first_order": random_first,
        "random_actual": random_actual,
    }


def network_cost_fn(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, cost: Callable = quadratic_cost
) -> tuple[torch.Tensor, Cost]:
    """The network's cost C(w, b) on (x, y) as a function of one flat vector of all weights and biases.

    Eq. 16-17 treat the weights and biases as the components of one position v;
    this makes that literal, via ``torch.func.functional_call``, so the
    two-variable tools above apply unchanged.  Returns (v, C).
    """
    names = [name for name, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    sizes = [p.numel() for _, p in net.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def cost_fn(v: torch.Tensor) -> torch.Tensor:
        pieces = {n: piece.reshape(s) for n, piece, s in zip(names, v.split(sizes), shapes)}
        return cost(torch.func.functional_call(net, pieces, (x,)), y)

    return flat, cost_fn


# --------------------------------------------------------------------------- mini-batch gradients
def flat_gradient(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, cost: Callable = quadratic_cost, chunk: int = 10_000
) -> torch.Tensor:
    """grad C over (x, y) as one flat vector: (1/n) sum_x grad C_x (eq. 18, right-hand side).

    Computed in chunks (weighted by their size) so 50,000 rows need little memory.
    """
    params = list(net.parameters())
    total = [torch.zeros_like(p) for p in params]
    n = len(x)
    for start in range(0, n, chunk):
        xb, yb = x[start : start + chunk], y[start : start + chunk]
        grads = torch.autograd.grad(cost(net(xb), yb), params)
        for t, gr in zip(total, grads):
            t.add_(gr, alpha=len(xb) / n)
    return torch.cat([t.reshape(-1) for t in total])


def minibatch_gradient_stats(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    m: int,
    n_batches: int,
    generator: torch.Generator | None = None,
    full_gradient: torch.Tensor | None = None,
    cost: Callable = quadratic_cost,
) -> dict[str, float]:
    """How good is the mini-batch estimate g_m = (1/m) sum_j grad C_{X_j} of g = grad C (eq. 18-19)?

    Draws ``n_batches`` mini-batches of m distinct examples at random, as SGD
    does, and returns means over them of the relative error ||g_m - g|| / ||g||,
    the cosine between g_m and g (what matters for "moving in a general
    direction that will help decrease C"), and the mean squared error
    ||g_m - g||^2, which for independent draws falls like 1/m:
    E||g_m - g||^2 = (sigma^2 / m) (n - m) / (n - 1), sigma^2 the per-example
    variance.  Works for any module whose output ``cost`` compares with y.
    """
    n = len(x)
    if not 1 <= m <= n:
        raise ValueError(f"mini-batch size must be between 1 and n={n}, got {m}")
    g = full_gradient if full_gradient is not None else flat_gradient(net, x, y, cost)
    params = list(net.parameters())
    g_norm = g.norm()
    rel, cos, sq = [], [], []
    for _ in range(n_batches):
        index = torch.randperm(n, generator=generator)[:m]
        grads = torch.autograd.grad(cost(net(x[index]), y[index]), params)
        g_m = torch.cat([gr.reshape(-1) for gr in grads])
        diff = (g_m - g).norm()
        rel.append((diff / g_norm).item())
        sq.append((diff**2).item())
        cos.append(torch.nn.functional.cosine_similarity(g_m, g, dim=0).item())

    def mean(xs):
        return sum(xs) / len(xs)

    def std(xs):  # sample standard deviation (n - 1); 0 for a single value
        mu = mean(xs)
        return math.sqrt(sum((v - mu) ** 2 for v in xs) / max(len(xs) - 1, 1))

    return {
        "m": m,
        "n_batches": n_batches,
        "grad_norm": g_norm.item(),
        "rel_error": mean(rel),
        "rel_error_std": std(rel),
        "rms_rel_error": math.sqrt(mean(sq)) / g_norm.item(),
        "cosine": mean(cos),
        "cosine_std": std(cos),
        "cosine_min": min(cos),
        "sq_error": mean(sq),
    }


# --------------------------------------------------------------------------- training curves
def cost_vs_examples(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    m: int,
    eta: float,
    examples: int,
    n_evals: int = 30,
    generator: torch.Generator | None = None,
    eval_x: torch.Tensor | None = None,
    eval_y: torch.Tensor | None = None,
    cost: Callable = quadratic_cost,
) -> dict:
    """Train ``net`` in place by SGD (eq. 20-21) with mini-batches of m and return C against examples processed.

    m = len(x) is full-batch gradient descent (eq. 16-17): every step costs a
    whole pass.  Each epoch visits the examples in a fresh random order, as the
    book's SGD does.  The cost recorded is C over (eval_x, eval_y), by default
    the whole training set, at ~``n_evals`` log-spaced points plus the start;
    ``seconds`` is the training time spent up to each point, evaluations excluded.
    A step is plain ``torch.optim.SGD(lr=eta)`` on ``quadratic_cost``.
    """
    eval_x = x if eval_x is None else eval_x
    eval_y = y if eval_y is None else eval_y
    n = len(x)
    steps = max(1, examples // m)
    marks = {int(round(s)) for s in torch.logspace(0, math.log10(steps), n_evals).tolist()} | {steps}

    def evaluate() -> float:
        with torch.no_grad():
            return sum(
                cost(net(eval_x[i : i + 10_000]), eval_y[i : i + 10_000]).item() * len(eval_x[i : i + 10_000])
                for i in range(0, len(eval_x), 10_000)
            ) / len(eval_x)

    optimizer = torch.optim.SGD(net.parameters(), lr=eta)
    seen, costs, seconds = [0], [evaluate()], [0.0]
    order, position = torch.randperm(n, generator=generator), 0
    clock = time.perf_counter()
    for step in range(1, steps + 1):
        if position + m > n:
            order, position = torch.randperm(n, generator=generator), 0
        index = order[position : position + m] if m < n else slice(None)
        position += m
        optimizer.zero_grad(set_to_none=True)
        cost(net(x[index]), y[index]).backward()
        optimizer.step()
        if step in marks:
            seconds.append(seconds[-1] + time.perf_counter() - clock)
            seen.append(step * m)
            costs.append(evaluate())
            clock = time.perf_counter()
            if not math.isfinite(costs[-1]):
                break
    return {"m": m, "eta": eta, "examples": seen, "cost": costs, "seconds": seconds}
