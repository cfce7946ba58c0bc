"""Segmentation: reading a horizontal line of handwritten digits with the digit classifier.

The chapter's answer to the segmentation problem: "trial many different ways
of segmenting the image, using the individual digit classifier to score each
trial segmentation.  A trial segmentation gets a high score if the individual
digit classifier is confident of its classification in all segments."

Here a segmentation is a set of vertical cuts (``cuts.py``: candidate cut
positions, the edges of every blank gap plus every ``step``-th column inside
the ink, so digits that touch or overlap can still be split; every stretch
between two candidates that is not too wide is a candidate segment, each
preprocessed like MNIST).  All of them go through the network in one batch.
A segment's cost is

    -2 log(winner's activation / sum of activations) - 2 log(winner's activation)
    + shape penalties (wider than tall, or than the line is high; much shorter or
      narrower than the line; blank columns inside it)
    + a cost per pixel of ink each of its cuts goes through,

and dynamic programming finds the segmentation of least total cost (blank
gaps are free).  Digits whose strokes overlap (the next one starts before the
last one ends) cannot be split by one straight cut, so consecutive segments'
windows may overlap by up to ``max_overlap`` line heights: each window is
cropped and preprocessed on its own, so each digit keeps its whole strokes.
Such a boundary pays ``overlap_cost`` per line height of overlap, but only
``overlap_cut`` times the ink of its two cuts (the cuts there go through the
neighbour's strokes by necessity).  Before preprocessing, every connected piece
of ink in a window that touches an edge where the line's ink continues, other
than the window's heaviest piece, is blanked: it is most likely the tip of the
neighbour.  Both were tuned on lines of MNIST training digits 50,000-59,999:
overlap alone (no blanking), or cheaper overlap, split digits of the other
styles into overlapping pieces (accuracy per style: ``experiments/read_accuracy.py``,
results in ``experiments/results/read_accuracy.md``).  The digits of that segmentation, left to right, are the
reading; the last line of the output is the string.

``studies.lines.compose_line`` builds test lines from MNIST digits, with gaps, touching,
overlapping (pixel max of overlapping strokes) or in different sizes; see
``experiments/read_accuracy.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classify import activations
from .cuts import Candidates, Params, candidates
from .image_files import ImageError
from .images import load_ink


@dataclass
class Digit:
    digit: int
    confidence: float  # the winner's output activation, as in predict
    left: int  # columns of the input image, half-open
    right: int


def score(cand: Candidates, net) -> Candidates:
    """Run every candidate segment (``cand.inputs``) through the network at once; fills ``cand.activations``.

    ``net``: the NumPy ``Network`` or the torch ``SigmoidNetwork`` (``classify.activations``)."""
    cand.activations = activations(net, cand.inputs) if len(cand.inputs) else np.zeros((0, 10))
    return cand


def segment_costs(cand: Candidates, params: Params = Params()) -> np.ndarray:
    if cand.activations is None:
        raise ValueError("score(candidates, net) first: the segments have no network outputs yet")
    a = np.clip(cand.activations, 1e-12, 1.0)
    win = a.max(axis=1)
    cost = -params.share_weight * np.log(win / a.sum(axis=1)) - params.activation_weight * np.log(win)
    cost += params.digit_cost
    w, aspect, tall, gaps = cand.shape.T
    cost += params.aspect_cost * np.maximum(aspect - params.aspect_limit, 0.0)
    cost += params.short_cost * np.maximum(params.short_limit - tall, 0.0)
    cost += params.narrow_cost * np.maximum(params.narrow_limit - w, 0.0)
    cost += params.wide_cost * np.maximum(w - params.wide_limit, 0.0)
    cost += params.gap_cost * gaps
    return cost


def best_path(cand: Candidates, params: Params = Params()) -> list[int]:
    """The segment indices, left to right, of the segmentation of least total cost (dynamic programming).

    ``best[j]`` is the least cost of reading everything left of cut ``j``.  A digit
    segment from cut ``i`` to cut ``j`` may start up to ``max_overlap`` line heights
    before the previous segment ended (at a cut ``e`` through ink), so digits whose
    strokes overlap can each keep their whole width; each overlapped column costs
    ``overlap_cost`` / line height, and the two cuts of such a boundary (the previous
    segment's end ``e`` and this one's start ``i``) pay ``overlap_cut`` times their ink
    cost instead of the full cost, since there they must cross the neighbour's strokes.
    """
    n, pos, height = len(cand.nodes), np.asarray(cand.nodes), cand.height
    seg = segment_costs(cand, params)
    cut = params.cut_cost * cand.cut_ink
    overlap = params.max_overlap * height
    best = np.full(n, np.inf)
    best[0] = 0.0
    back: list[tuple[int, int]] = [(-1, -1)] * n  # (previous cut, segment index or -1 for a gap)
    incoming: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, j, k in cand.edges:
        incoming[j].append((i, k))
    for j in range(1, n):
        if cand.blank[j - 1] and best[j - 1] < best[j]:
            best[j], back[j] = best[j - 1], (j - 1, -1)
        for i, k in incoming[j]:
            base = seg[k] + cut[j]
            e = i
            while e < j and pos[e] - pos[i] <= overlap:
                if e == i:
                    total = best[e] + base + cut[i]
                elif cand.cut_ink[e] > 0:  # overlap only where the previous segment ended in ink
                    total = (
                        best[e]
                        - cut[e]
                        + base
                        + params.overlap_cut * (cut[e] + cut[i])
                        + params.overlap_cost * (pos[e] - pos[i]) / height
                    )
                else:
                    total = np.inf
                if total < best[j]:
                    best[j], back[j] = total, (e, k)
                e += 1
    path, j = [], n - 1
    while j > 0:
        e, k = back[j]
        if k >= 0:
            path.append(k)
        j = e
    return path[::-1]


def read_ink(ink: np.ndarray, net, params: Params = Params()) -> list[Digit]:
    """The digits, left to right, in an ink map (white on black) of a line of handwriting."""
    cand = score(candidates(ink, params), net)
    assert cand.activations is not None  # score() sets them
    digits = []
    for k in best_path(cand, params):
        lo, hi = cand.boxes[k]
        a = cand.activations[k]
        digits.append(
            Digit(
                int(a.argmax()),
                float(a.max()),
                cand.offset + int(np.floor(lo * cand.scale)),
                cand.offset + int(np.ceil(hi * cand.scale)),
            )
        )
    return digits


def read_file(path, net, params: Params = Params()) -> list[Digit]:
    try:
        return read_ink(load_ink(path), net, params)
    except ImageError as error:
        message = str(error)
        raise ImageError(message if message.startswith(str(path)) else f"{path}: {message}") from None
