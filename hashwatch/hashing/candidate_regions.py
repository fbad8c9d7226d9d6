"""Pictures inside a larger picture: the rectangular picture regions of a canvas, as query-side candidates.

A known picture pasted into a screenshot (a title bar above it, a side panel, text around it), into a collage
(2-4 pictures in a grid, with gaps or without), into a meme template or onto a page with a uniform surround
keeps its pixels but not its extent, so no hash of the whole canvas meets the listed one. Its outline is
what such canvases share: a long straight edge on each side, where the picture meets the frame's flat colour
or another picture. :func:`find_regions` finds the rectangles bounded by such edges (or by the canvas's
own edge) and :mod:`hashwatch.hashing.candidates` hashes each as the candidate ``region-1`` ... (family
``regions``), best first.

How, on the working image's luma (draft pixels; numpy only):

1. **Edge evidence.** Between columns ``x - 1`` and ``x``, a row *crosses an edge* when the step across
   (``|L[y, x] - L[y, x - 2]|``, two pixels, since a JPEG draft smears a seam over one) is above
   :data:`STEP` grey levels and at least :data:`CONTRAST` times the texture on the flatter side (the same
   step one and two pixels further out). A frame's flat colour has no texture; two unrelated pictures
   meeting at a seam step more than either's texture. The same for rows.
2. **Straight lines.** Per column, the share of rows crossing an edge; the best :data:`LINES_PER_AXIS`
   local maxima (at least :data:`MIN_LINE_SHARE`) are the vertical lines, and the same for rows; the
   canvas's edges are lines too.
3. **Rectangles.** Every rectangle of two vertical and two horizontal lines, at least :data:`MIN_SHARE` of
   the canvas and :data:`MIN_SIDE_PX` full-resolution pixels a side, and not the canvas itself, is scored by
   its weakest side: the share of the side's own length that crosses an edge (a side on the canvas's edge
   counts as whole). Those scoring at least :data:`MIN_SUPPORT` are kept, best first: first those that no
   line as strong as their sides splits through (a collage's row is two pictures: its cells come first),
   then by score, then more sides inside the canvas, then larger. Each is trimmed of uniform margins (a collage's outer gap and gutters, not a picture's own flat edge) and
   dropped when each of its sides is within :data:`REPEAT_SIDE` of a better one's (PDQ tells apart boxes
   a few percent apart); at most :data:`MAX_REGIONS`.

>>> boxes = find_regions(luma, scale=4)   # doctest: +SKIP
>>> boxes                                  # doctest: +SKIP
[(40, 30, 240, 180), (0, 0, 128, 96)]

Cost: a few array passes over the working image (whose shorter side is 256-511 px; a larger one is strided
to :data:`MAX_DETECT_PIXELS` first), a few thousand rectangles scored from cumulative sums, then one PDQ
box candidate per region (benchmarks/bench_regions.py). Nothing here keeps pixels.
"""

from __future__ import annotations

import math

import numpy as np

from hashwatch.hashing.candidate_detectors import find_uniform_border

__all__ = [
    "MAX_REGIONS",
    "MIN_SHARE",
    "MIN_SIDE_PX",
    "find_regions",
    "region_family",
    "region_name",
]

# At most this many regions per image, best first (each one is a PDQ box candidate: about one plain hash's
# downscale, so they bound the cost).
MAX_REGIONS = 8
# A region covers at least this share of the canvas's area (a thumbnail in a screenshot is too small to hash
# like the original anyway) ...
MIN_SHARE = 0.06
# ... and at least this many full-resolution pixels on each side.
MIN_SIDE_PX = 64
# Edge evidence (module docstring, step 1): grey levels, and the step's ratio to the flatter side's texture.
STEP = 6.0
CONTRAST = 2.0
# Lines (step 2): per axis, at most this many, each crossing an edge over at least this share of the canvas.
LINES_PER_AXIS = 10
MIN_LINE_SHARE = 0.12
# Rectangles (step 3): the weakest side's share of its length crossing an edge.
MIN_SUPPORT = 0.7
# A region each of whose sides is within this share of the box's width (height) of a better one's is a
# repeat: PDQ finds a crop within about 1.5 % of its extent.
REPEAT_SIDE = 0.015
# Detection works on at most this many working-image pixels (a strided view of a larger one).
MAX_DETECT_PIXELS = 1_000_000

Box = tuple[int, int, int, int]


def region_name(rank: int) -> str:
    """The candidate name of the region of rank ``rank`` (1 = best): ``region-1``."""
    return f"region-{rank}"


def region_family(variant: str) -> bool:
    """Whether a candidate name is one of this family's."""
    return variant.startswith("region-")


def _edge_evidence(luma: np.ndarray, axis: int = 1) -> np.ndarray:
    """``cross[y, x]`` (h x w, bool), for ``axis=1``: row ``y`` crosses an edge between columns ``x - 1``
    and ``x`` (module docstring, step 1); for ``axis=0``: column ``x`` crosses one between rows ``y - 1`` and
    ``y``. The first four and last two lines are False (no room for texture). Slices only, no copies of the
    image (a 512 x 342 working image: about 0.6 ms per axis)."""
    h, w = luma.shape
    out = np.zeros((h, w), dtype=bool)
    n = luma.shape[axis]
    if n < 8:
        return out

    def cut(a: np.ndarray, lo: int, hi: int) -> np.ndarray:
        return a[:, lo:hi] if axis == 1 else a[lo:hi]

    d = np.abs(cut(luma, 2, n) - cut(luma, 0, n - 2))  # d[i] = |L[i + 2] - L[i]|
    # The step across the boundary at x (between x - 1 and x) is |L[x] - L[x - 2]| = d[x - 2]; the texture
    # on one side is |L[x - 2] - L[x - 4]| = d[x - 4], on the other |L[x + 2] - L[x]| = d[x]; x = 4 ... n - 3.
    step = cut(d, 2, n - 4)
    flatter = np.minimum(cut(d, 0, n - 6), cut(d, 4, n - 2))
    cut(out, 4, n - 2)[...] = (step > STEP) & (step > CONTRAST * flatter)
    return out


def _lines(share: np.ndarray, n_lines: int, min_share: float) -> np.ndarray:
    """The positions where most lines cross an edge: local maxima of ``share`` (the share of crossing
    lines per position; 3 px apart), the ``n_lines`` best with at least ``min_share``, sorted."""
    if share.size < 3:
        return np.zeros(0, dtype=np.int64)
    padded = np.pad(share, 2)
    peak = share >= min_share
    for off in (-2, -1, 1, 2):
        neighbour = padded[2 + off : 2 + off + share.size]
        # Ties go to the leftmost of a plateau.
        peak &= share > neighbour if off < 0 else share >= neighbour
    cand = np.flatnonzero(peak)
    best = cand[np.argsort(-share[cand], kind="stable")][:n_lines]
    return np.sort(best)


def _share(cross: np.ndarray, axis: int) -> np.ndarray:
    """The share of ``cross``'s lines along ``axis`` that are True, per position (an int32 sum: numpy's
    mean or count_nonzero of a bool array along an axis costs several times more)."""
    return np.add.reduce(cross, axis=axis, dtype=np.int32) / max(1, cross.shape[axis])


def _cumulative(cross: np.ndarray, lines: np.ndarray, n: int, m: int) -> np.ndarray:
    """``(n + 1) x (m + 1)`` counts: ``[k, x]`` is about how many of the first ``k`` lines cross at ``x``
    (``cross`` holds every other one of the ``n`` lines; only the columns ``lines`` are filled)."""
    out = np.zeros((n + 1, m + 1), dtype=np.int32)
    if lines.size:
        sampled = np.zeros((cross.shape[0] + 1, lines.size), dtype=np.int32)
        sampled[1:] = np.cumsum(cross[:, lines], axis=0, dtype=np.int32)
        # Full lines 0 .. k - 1 hold the sampled lines 0, 2, ... below k: ceil(k / 2) of them.
        out[:, lines] = 2 * sampled[(np.arange(n + 1) + 1) // 2]
    return out


def _pairs(lines: np.ndarray, n: int, min_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (start, end) of two lines (canvas edges 0 and ``n`` included) at least ``min_len`` apart."""
    pos = np.unique(np.concatenate([[0, n], lines]))
    a, b = np.meshgrid(pos, pos, indexing="ij")
    keep = (b - a) >= min_len
    return a[keep], b[keep]


def find_regions(
    luma: np.ndarray,
    scale: int = 1,
    *,
    max_regions: int = MAX_REGIONS,
    min_share: float = MIN_SHARE,
    min_side_px: int = MIN_SIDE_PX,
    min_support: float = MIN_SUPPORT,
) -> list[Box]:
    """The picture regions of a canvas, best first, as ``(x0, y0, x1, y1)`` boxes of ``luma`` (the working
    image, each pixel ``scale`` full-resolution pixels a side); empty when there is none (a plain photo, a
    uniform canvas) or the canvas is too small. Never raises on an odd size (0, 1 or a few pixels)."""
    luma = np.asarray(luma, dtype=np.float32)
    if luma.ndim != 2 or max_regions <= 0:
        return []
    h_full, w_full = luma.shape
    stride = max(1, math.ceil(math.sqrt(h_full * w_full / MAX_DETECT_PIXELS)))
    work = luma[::stride, ::stride] if stride > 1 else luma
    h, w = work.shape
    min_side = max(8, math.ceil(min_side_px / (max(1, scale) * stride)))
    if h < 16 or w < 16:
        return []
    # Every other line along a line's direction is enough to measure its support (half the work).
    cross_v = _edge_evidence(work[::2], 1)  # ceil(h / 2) x w: vertical lines, every other row
    cross_h0 = _edge_evidence(work[:, ::2], 0)  # h x ceil(w / 2): horizontal lines, every other column
    xs = _lines(_share(cross_v, 0), LINES_PER_AXIS, MIN_LINE_SHARE)
    ys = _lines(_share(cross_h0, 1), LINES_PER_AXIS, MIN_LINE_SHARE)
    cross_h = cross_h0.T
    if xs.size == 0 and ys.size == 0:
        return []
    # Cumulative evidence along each line, in full lines (a sampled line counts twice; only the lines' own
    # columns are filled, the canvas's edges are never looked up): support of a segment in O(1).
    cum_v = _cumulative(cross_v, xs, h, w)  # cum_v[y, x]: about the rows < y crossing at column x
    cum_h = _cumulative(cross_h, ys, w, h)  # cum_h[x, y]: about the columns < x crossing at row y

    x0, x1 = _pairs(xs, w, min_side)
    y0, y1 = _pairs(ys, h, min_side)
    if x0.size == 0 or y0.size == 0:
        return []
    # All rectangles: (len(x pairs), len(y pairs)) grids.
    X0, Y0 = np.meshgrid(x0, y0, indexing="ij")
    X1, Y1 = np.meshgrid(x1, y1, indexing="ij")
    area = (X1 - X0) * (Y1 - Y0)
    ok = (area >= min_share * h * w) & (area < 0.97 * h * w)
    if not ok.any():
        return []
    X0, Y0, X1, Y1 = X0[ok], Y0[ok], X1[ok], Y1[ok]
    height, width = (Y1 - Y0).astype(np.float64), (X1 - X0).astype(np.float64)

    def side_v(x: np.ndarray) -> np.ndarray:  # support of the vertical side at x over [Y0, Y1)
        inside = (x > 0) & (x < w)
        xc = np.clip(x, 0, w)
        s = (cum_v[Y1, xc] - cum_v[Y0, xc]) / height
        return np.where(inside, s, np.inf), inside

    def side_h(y: np.ndarray) -> np.ndarray:
        inside = (y > 0) & (y < h)
        yc = np.clip(y, 0, h)
        s = (cum_h[X1, yc] - cum_h[X0, yc]) / width
        return np.where(inside, s, np.inf), inside

    sides = [side_v(X0), side_v(X1), side_h(Y0), side_h(Y1)]
    score = np.minimum.reduce([s for s, _ in sides])
    n_inside = np.sum([i for _, i in sides], axis=0)
    good = np.flatnonzero((n_inside > 0) & (score >= min_support))
    if good.size == 0:
        return []
    # A rectangle split through by a line as strong as its sides, a line that goes on outside it, is two
    # pictures (a collage's row: the seam between its cells goes on between the next row's): its parts come
    # first. A line that stops at the rectangle's sides is the picture's own (a wall, a horizon, stripes).
    # Among split ones, the weaker the split the better.
    strength = np.zeros(good.size)
    gx0, gx1, gy0, gy1 = X0[good], X1[good], Y0[good], Y1[good]
    gh, gw = height[good], width[good]

    def split_by(cum: np.ndarray, pos: int, a: np.ndarray, b: np.ndarray, n: int, span: np.ndarray):
        inside = (cum[b, pos] - cum[a, pos]) / span
        outside_len = n - span
        outside = (cum[n, pos] - (cum[b, pos] - cum[a, pos])) / np.maximum(outside_len, 1)
        goes_on = (outside_len < min_side) | (outside >= 0.5 * min_support)
        return np.where(goes_on, inside, 0.0)

    for x in xs:
        within = (gx0 + min_side // 2 <= x) & (x <= gx1 - min_side // 2)
        strength = np.maximum(strength, np.where(within, split_by(cum_v, x, gy0, gy1, h, gh), 0.0))
    for y in ys:
        within = (gy0 + min_side // 2 <= y) & (y <= gy1 - min_side // 2)
        strength = np.maximum(strength, np.where(within, split_by(cum_h, y, gx0, gx1, w, gw), 0.0))
    split = np.where(strength >= min_support, np.round(strength, 2), 0.0)
    # Best first: not split (else weakly split), then the weakest side, then more sides inside the canvas,
    # then larger.
    order = good[np.lexsort((-(area[ok][good]), -n_inside[good], -score[good], split))]
    out: list[Box] = []
    for i in order[: 16 * max_regions]:
        box = _trimmed(work, (int(X0[i]), int(Y0[i]), int(X1[i]), int(Y1[i])), xs, ys)
        if box is None or any(_repeats(box, b) for b in out):
            continue
        out.append(box)
        if len(out) >= max_regions:
            break
    if stride > 1:
        out = [
            (a * stride, b * stride, min(w_full, c * stride), min(h_full, d * stride)) for a, b, c, d in out
        ]
    return out


def _trimmed(work: np.ndarray, box: Box, xs: np.ndarray, ys: np.ndarray) -> Box | None:
    """``box`` without uniform margins: along a side on the canvas's edge (a collage's outer gap, the window
    below a screenshot's picture) always, along a side on a found line only where the margin ends at another
    line (a collage's gutter, between one cell's edge and the next's). Elsewhere the flat margin is the
    picture's own (a dark sky, a studio backdrop) and stays."""
    h, w = work.shape
    x0, y0, x1, y1 = box
    inner = find_uniform_border(work[y0:y1, x0:x1])
    if inner is not None:

        def moved(old: int, new: int, edge: bool, lines: np.ndarray) -> int:
            near_line = lines.size > 0 and int(np.abs(lines - new).min()) <= 1
            return new if edge or near_line else old

        x0, y0, x1, y1 = (
            moved(x0, box[0] + inner[0], x0 == 0, xs),
            moved(y0, box[1] + inner[1], y0 == 0, ys),
            moved(x1, box[0] + inner[2], x1 == w, xs),
            moved(y1, box[1] + inner[3], y1 == h, ys),
        )
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return x0, y0, x1, y1


def _repeats(a: Box, b: Box) -> bool:
    """Whether ``a`` is ``b`` within :data:`REPEAT_SIDE` on every side."""
    tol_x = REPEAT_SIDE * max(a[2] - a[0], b[2] - b[0])
    tol_y = REPEAT_SIDE * max(a[3] - a[1], b[3] - b[1])
    return (
        abs(a[0] - b[0]) <= tol_x
        and abs(a[2] - b[2]) <= tol_x
        and abs(a[1] - b[1]) <= tol_y
        and abs(a[3] - b[3]) <= tol_y
    )
