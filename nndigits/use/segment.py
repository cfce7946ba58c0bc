"""Segmentation: reading a horizontal line of handwritten digits with the digit classifier.

The chapter's answer to the segmentation problem: "trial many different ways
of segmenting the image, using the individual digit classifier to score each
trial segmentation.  A trial segmentation gets a high score if the individual
digit classifier is confident of its classification in all segments."

Here a segmentation is a set of vertical cuts.  Candidate cut positions are
the edges of every blank gap plus every ``step``-th column inside the ink, so
digits that touch or overlap can still be split.  Every stretch between two
candidates that is not too wide is a candidate segment; each is preprocessed
like MNIST (``images.to_mnist``) and all of them go through the network in
one batch.  A segment's cost is

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

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .classify import activations
from .images import INK_THRESHOLD, ImageError, ink_box, to_mnist

MAX_LINE_HEIGHT = 48  # lines taller than this are scaled down first: the cuts need no finer grid
STYLES = ("gaps", "touching", "overlap", "sizes")


@dataclass(frozen=True)
class Params:
    """The knobs of the segmentation score (tuned on lines of MNIST *training* digits)."""

    step_per_height: float = 1 / 14  # spacing of candidate cuts inside ink, as a fraction of line height
    max_width: float = 1.5  # widest segment, in line heights
    share_weight: float = 2.0  # weight of -log(winner's activation / sum of activations)
    activation_weight: float = 2.0  # weight of -log(winner's activation)
    digit_cost: float = 0.0  # fixed cost of each digit
    cut_cost: float = 4.0  # cost per line-height of ink a cut goes through
    aspect_limit: float = 0.9  # segments wider than this x their own height pay ...
    aspect_cost: float = 4.0  # ... this much per unit of excess
    short_limit: float = 0.6  # segments shorter than this x the line height pay ...
    short_cost: float = 24.0  # ... this much per unit of shortfall
    narrow_limit: float = 0.2  # segments narrower than this x the line height pay ...
    narrow_cost: float = 10.0  # ... this much per unit of shortfall
    wide_limit: float = 0.9  # segments wider than this x the line height pay ...
    wide_cost: float = 4.0  # ... this much per unit of excess
    gap_cost: float = 40.0  # cost per line-height of blank columns inside a segment
    max_overlap: float = 0.15  # how far (line heights) a segment may start before the last one ended
    overlap_cost: float = 6.0  # cost per line-height of such overlap
    overlap_cut: float = 0.5  # factor on the two boundary cuts' ink cost where segments overlap
    clean: bool = True  # blank a neighbour's fragments at a window's edges (_drop_side_fragments)


@dataclass
class Digit:
    digit: int
    confidence: float  # the winner's output activation, as in predict
    left: int  # columns of the input image, half-open
    right: int


@dataclass
class Candidates:
    """Everything the DP needs about one line: cut positions, segments, and the network's outputs."""

    line: np.ndarray  # the line's ink, cropped (and maybe scaled), white on black
    height: int  # its height (rows)
    scale: float  # input columns per line column
    offset: int  # input column of line column 0
    nodes: list[int]  # candidate cut positions (line columns), sorted
    cut_ink: np.ndarray  # ink a cut at each position goes through, per line height
    blank: np.ndarray  # (len(nodes)-1,) True where the stretch between nodes is blank
    edges: list[tuple[int, int, int]] = field(default_factory=list)  # (node i, node j, segment index)
    boxes: list[tuple[int, int]] = field(default_factory=list)  # segment ink extent (lo, hi), line columns
    shape: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 4))
    )  # (K, 4): width / line height, width / own height, own height / line height,
    #         blank columns inside / line height
    inputs: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 784), np.float32)
    )  # (K, 784) float32: each segment as the network sees it (28x28, flat)
    activations: np.ndarray | None = None  # (K, 10) float64: the network's outputs for ``inputs``, set by ``score``


def prepare_line(ink: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Crop the ink map to its ink (rows and columns) and scale it to at most MAX_LINE_HEIGHT rows."""
    from PIL import Image

    box = ink_box(ink, threshold=INK_THRESHOLD)
    if box is None:
        raise ImageError("the image has no ink")
    top, bottom, left, right = box
    line = ink[top:bottom, left:right]
    scale = 1.0
    if line.shape[0] > MAX_LINE_HEIGHT:
        scale = line.shape[0] / MAX_LINE_HEIGHT
        size = (max(1, round(line.shape[1] / scale)), MAX_LINE_HEIGHT)
        line = np.clip(
            np.asarray(Image.fromarray(np.ascontiguousarray(line), mode="F").resize(size, Image.Resampling.LANCZOS)),
            0.0,
            1.0,
        )
        scale = (right - left) / line.shape[1]
    return np.ascontiguousarray(line, dtype=np.float32), scale, left


def _drop_side_fragments(piece: np.ndarray, left_open: bool, right_open: bool) -> np.ndarray:
    """The window's ink without pieces of a neighbour: blank every connected piece of ink (other than
    the heaviest) that touches a window edge beyond which the line's ink goes on.

    When digits overlap, a window holding one digit whole also holds the tip of its neighbour's
    strokes; unless the strokes cross, that tip is a separate piece at the window's edge, and
    leaving it in makes the network less sure (or wrong) about the digit."""
    if not (left_open or right_open):
        return piece
    # 8-connected pieces (diagonal neighbours join), labelled 1..count, 0 the background
    labels, count = ndimage.label(piece > INK_THRESHOLD * float(piece.max()), structure=np.ones((3, 3)))
    if count <= 1:
        return piece
    mass = np.bincount(labels.ravel(), weights=piece.ravel(), minlength=count + 1)[1:]
    edge = set()
    if left_open:
        edge |= set(np.unique(labels[:, 0]).tolist())
    if right_open:
        edge |= set(np.unique(labels[:, -1]).tolist())
    dropped = edge - {0, 1 + int(mass.argmax())}
    if not dropped:
        return piece
    keep = np.ones(count + 1, dtype=bool)  # label 0 (no ink) is kept as it is
    keep[list(dropped)] = False
    return np.where(keep[labels], piece, 0.0).astype(np.float32)


def candidates(ink: np.ndarray, params: Params = Params()) -> Candidates:
    """Cut positions and candidate segments of a line (no network yet)."""
    line, scale, offset = prepare_line(ink)
    height, width = line.shape
    inked = line.max(axis=0) > INK_THRESHOLD * float(line.max())
    profile = line.sum(axis=0)
    step = max(1, round(height * params.step_per_height))
    cuts = {0, width}
    for c in range(1, width):
        if inked[c] != inked[c - 1]:
            cuts.add(c)  # edges of blank gaps
    run_start = None
    for c in range(width + 1):  # every step-th column inside each run of ink
        if c < width and inked[c]:
            run_start = c if run_start is None else run_start
            if (c - run_start) % step == 0:
                cuts.add(c)
        else:
            run_start = None
    nodes = sorted(cuts)
    cut_ink = np.array([0.0 if n in (0, width) else min(profile[n - 1], profile[n]) / height for n in nodes])
    blank = np.array([not inked[a:b].any() for a, b in zip(nodes[:-1], nodes[1:])])
    cand = Candidates(line, height, scale, offset, nodes, cut_ink, blank)

    # First and last inked column at or after / before each position, to trim segments to their ink.
    next_ink = np.full(width + 1, width, dtype=int)
    for c in range(width - 1, -1, -1):
        next_ink[c] = c if inked[c] else next_ink[c + 1]
    prev_ink = np.full(width + 1, -1, dtype=int)
    for c in range(1, width + 1):
        prev_ink[c] = c - 1 if inked[c - 1] else prev_ink[c - 1]

    index: dict[tuple[int, int], int] = {}
    xs: list[np.ndarray] = []
    shapes: list[tuple[float, ...]] = []
    max_width = params.max_width * height
    for i, a in enumerate(nodes):
        for j in range(i + 1, len(nodes)):
            b = nodes[j]
            lo, hi = next_ink[a], prev_ink[b] + 1
            if lo >= hi:
                continue  # blank stretch: handled by the free gap edges
            if hi - lo > max_width:
                break
            k = index.get((lo, hi))
            if k is None:
                piece = line[:, lo:hi]
                if params.clean:
                    piece = _drop_side_fragments(piece, lo > 0 and inked[lo - 1], hi < width and inked[hi])
                try:
                    x = to_mnist(piece)
                except ImageError:
                    continue
                rows = ink_box(piece)
                assert rows is not None  # to_mnist accepted the piece, so it has ink
                own = rows[1] - rows[0]
                k = index[(lo, hi)] = len(xs)
                xs.append(x)
                gaps = np.count_nonzero(~inked[lo:hi]) / height
                shapes.append(((hi - lo) / height, (hi - lo) / own, own / height, gaps))
                cand.boxes.append((lo, hi))
            cand.edges.append((i, j, k))
    cand.shape = np.array(shapes, dtype=np.float64).reshape(-1, 4)
    cand.inputs = np.stack(xs) if xs else np.zeros((0, 784), np.float32)
    return cand


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
    from .images import load_ink

    try:
        return read_ink(load_ink(path), net, params)
    except ImageError as error:
        message = str(error)
        raise ImageError(message if message.startswith(str(path)) else f"{path}: {message}") from None
