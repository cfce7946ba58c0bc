"""Trial segmentations of a line of digits: candidate cut positions and the segments between them.

Candidate cut positions are the edges of every blank gap plus every ``step``-th column inside the ink, so
digits that touch or overlap can still be split.  Every stretch between two candidates that is not too wide
is a candidate segment; each is cropped (a neighbour's fragments at its edges blanked) and preprocessed like
MNIST (``images.to_mnist``), ready to go through the network in one batch.  How the segments are scored
and the best segmentation chosen is ``segment.py``; ``Params`` holds the knobs of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .image_files import ImageError
from .images import ink_box, to_mnist
from .ink import INK_THRESHOLD

MAX_LINE_HEIGHT = 48  # lines taller than this are scaled down first: the cuts need no finer grid


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
    clean: bool = True  # blank a neighbour's fragments at a window's edges (drop_side_fragments)


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


def drop_side_fragments(piece: np.ndarray, left_open: bool, right_open: bool) -> np.ndarray:
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
                    piece = drop_side_fragments(piece, lo > 0 and inked[lo - 1], hi < width and inked[hi])
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
