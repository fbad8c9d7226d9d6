"""What the query-side candidates look for in a found image: uniform borders, caption bands, a small turn.

Each detector works on the working image's luma (draft pixels, float32) and says where the original picture
presumably is; :mod:`hashwatch.hashing.candidates` then hashes that guess. Nothing here keeps pixels.

>>> box = find_uniform_border(luma)       # doctest: +SKIP
>>> box                                    # doctest: +SKIP
(12, 12, 500, 364)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CandidateBoxes",
    "find_caption_bands",
    "find_painted_bands",
    "find_skew",
    "find_uniform_border",
    "measure_skew",
]


@dataclass(frozen=True)
class CandidateBoxes:
    """What the detectors found on the working image (draft pixels): boxes are (x0, y0, x1, y1)."""

    trimmed: tuple[int, int, int, int] | None = None
    uncaptioned: tuple[int, int, int, int] | None = None
    skew_degrees: float | None = None  # the copy's rotation (counter-clockwise positive), if measured


def _flat_run(profile_std: np.ndarray, profile_mean: np.ndarray, edge: float, tol_std: float, tol: float):
    """How many lines from the start of the profile are flat and of the edge's value."""
    ok = (profile_std <= tol_std) & (np.abs(profile_mean - edge) <= tol)
    if not ok[0]:
        return 0
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if bad.size else ok.size


def find_uniform_border(
    luma: np.ndarray, *, tol_std: float = 4.0, tol: float = 8.0, min_fraction: float = 0.01
) -> tuple[int, int, int, int] | None:
    """The box inside uniform borders (any colour, each side on its own), or None if there is none.

    A border line (row or column) has a small spread and the value of the outermost line of its side. There
    is a border when some side has at least ``min_fraction`` of the size (and 2 px); then every side of 2 px
    or more is trimmed (a frame's thin sides too). The box keeps at least 30 % of each axis.
    """
    h, w = luma.shape
    if h < 16 or w < 16:
        return None

    def run(lines: np.ndarray) -> int:  # lines: the side's lines, outermost first (rows of this array)
        if lines[0].std() > tol_std:  # the common case, a photo to its edge: one line looked at
            return 0
        part = lines[: int(0.7 * lines.shape[0])]
        return _flat_run(part.std(axis=1), part.mean(axis=1), float(part[0].mean()), tol_std, tol)

    top, bottom = run(luma), run(luma[::-1])
    left, right = run(luma.T), run(luma.T[::-1])
    need_h, need_w = max(2, math.ceil(min_fraction * h)), max(2, math.ceil(min_fraction * w))
    if not (top >= need_h or bottom >= need_h or left >= need_w or right >= need_w):
        return None
    # Once one side is a border, thinner sides of a frame (2 px and up) are trimmed as well.
    top, bottom, left, right = (v if v >= 2 else 0 for v in (top, bottom, left, right))
    x0, y0, x1, y1 = left, top, w - right, h - bottom
    if x1 - x0 < 0.3 * w or y1 - y0 < 0.3 * h:
        return None
    return x0, y0, x1, y1


def find_caption_bands(
    luma: np.ndarray,
    *,
    tol: float = 12.0,
    min_share: float = 0.25,
    min_fraction: float = 0.03,
    max_fraction: float = 0.4,
) -> tuple[int, int] | None:
    """Rows to keep ``(y0, y1)`` after removing caption bands at the top and/or bottom, or None.

    A band starts at the image's edge with a uniform row (the band's background), continues through rows
    in which at least ``min_share`` of the pixels have that colour (the text is the rest), and ends at its
    last uniform row before the picture: the margin between the text and the picture. It holds some text (else
    it is a plain border, which trimming handles) and is between ``min_fraction`` and ``max_fraction`` of the
    height.
    """
    h, w = luma.shape
    if h < 32 or w < 16:
        return None

    def band(rows: np.ndarray) -> int:
        if rows[0].std() > 6.0:
            return 0
        edge = float(np.median(rows[0]))
        share = (np.abs(rows - edge) <= tol).mean(axis=1)
        bad = np.flatnonzero(share < min_share)
        run = int(bad[0]) if bad.size else rows.shape[0]  # the band cannot reach past here
        uniform = np.flatnonzero(share[:run] >= 0.98)
        end = int(uniform[-1]) + 1 if uniform.size else 0  # its inner margin's last row
        if end < max(3, min_fraction * h) or end > max_fraction * h:
            return 0
        if share[:end].min() > 0.98:  # no text: a plain border, which trimming handles
            return 0
        return end

    limit = int(max_fraction * h) + 2
    top = band(luma[:limit])
    bottom = band(luma[::-1][:limit])
    if not (top or bottom):
        return None
    return top, h - bottom


def _edge_slope(content: np.ndarray) -> float | None:
    """The slope (positions per line) of where content starts along each line, fitted over the middle 60 %
    of the lines that hold content; None if that is not a straight edge."""
    lines = np.flatnonzero(content.any(axis=1))
    if lines.size < 20:
        return None
    lo, hi = lines[0], lines[-1]
    span = hi - lo
    sel = lines[(lines >= lo + 0.2 * span) & (lines <= hi - 0.2 * span)]
    if sel.size < 10:
        return None
    first = content[sel].argmax(axis=1).astype(np.float64)
    slope, icpt = np.polyfit(sel, first, 1)
    keep = np.abs(first - (slope * sel + icpt)) <= 2.0
    if keep.mean() < 0.7:
        return None
    slope, _ = np.polyfit(sel[keep], first[keep], 1)
    return float(slope)


def _side_depths(luma: np.ndarray, bg: float, content_tol: float, cap: int) -> np.ndarray:
    """Per line of ``luma`` (rows), how many pixels from its start are background (``cap`` when all of
    the first ``cap`` are)."""
    off = np.abs(luma[:, :cap] - bg) > content_tol
    return np.where(off.any(axis=1), off.argmax(axis=1), cap)


def _ramp_slope(depth: np.ndarray, cap: int, max_slope: float) -> float | None:
    """The slope (depth per line) of the straight ramp of background along one side of a copy rotated on a
    kept canvas: one corner's fill triangle, whose long leg lies on this side and whose hypotenuse is the
    picture's turned edge. Lines whose content starts at the edge (depth 0) or past ``cap`` (the steep side
    of the other corner's triangle) are left out; the line is fitted by a deterministic RANSAC (pairs of
    points, inliers within 1.5 px) and refined by least squares on its inliers. None if fewer than 8 lines
    or under 15 % of the side support it."""
    n = depth.size
    t = np.flatnonzero((depth > 0) & (depth < cap))
    if t.size < 8:
        return None
    d = depth[t].astype(np.float64)
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, t.size, size=(96, 2))
    dt = (t[pairs[:, 1]] - t[pairs[:, 0]]).astype(np.float64)
    ok = np.abs(dt) >= 8
    if not ok.any():
        return None
    pairs, dt = pairs[ok], dt[ok]
    slopes = (d[pairs[:, 1]] - d[pairs[:, 0]]) / dt
    keep = np.abs(slopes) <= max_slope
    if not keep.any():
        return None
    pairs, slopes = pairs[keep], slopes[keep]
    # Residuals of every point against every hypothesis (at most 96 x a few hundred).
    pred = d[pairs[:, 0]][:, None] + slopes[:, None] * (t[None, :] - t[pairs[:, 0]][:, None])
    inliers = np.abs(d[None, :] - pred) <= 1.5
    inl = inliers[int(inliers.sum(axis=1).argmax())]
    slope = 0.0
    for _ in range(2):
        if inl.sum() < 8:
            return None
        slope, icpt = np.polyfit(t[inl], d[inl], 1)
        inl = np.abs(d - (slope * t + icpt)) <= 1.5
    if inl.sum() < max(8, 0.08 * n) or t[inl].max() - t[inl].min() < 0.15 * n:
        return None
    if np.unique(d[inl]).size < 4:
        # Three depth values or fewer (a turn under about 1 degree): too few steps for a free fit. The turn is
        # about the canvas's centre, so the ramp passes depth 0 at the side's middle (within wθ²/4, under
        # 0.1 px): fit the slope alone through that point. A line counts its partly covered pixel as
        # content, so its depth is the ramp's rounded down: + 0.5.
        c = (n - 1) / 2.0
        x = t[inl] - c
        slope = float((x * (d[inl] + 0.5)).sum() / (x * x).sum())
    return float(slope)


def _agreeing(angles: list[float], min_edges: int, within: float = 0.5) -> float | None:
    """The mean of the largest group of estimates within ``within`` degrees of each other, if it has at
    least ``min_edges``."""
    angles = sorted(angles)
    best: list[float] = []
    for i in range(len(angles)):
        group = [a for a in angles[i:] if a - angles[i] <= within]
        if len(group) > len(best):
            best = group
    if len(best) < min_edges:
        return None
    return float(np.mean(best))


# A copy rotated on its own canvas (corners cut off) has content at the canvas edge along about half of
# every side; one rotated on an expanded canvas touches each side near one point only (a few lines at 6
# degrees, a third of a side at 0.5 degrees on a 512-px working image). Above this share of edge lines
# whose first pixel is content, the copy is taken as rotated on a kept canvas.
KEPT_CANVAS_SHARE = 0.25


def measure_skew(
    luma: np.ndarray, *, tol: float = 16.0, content_tol: float = 6.0, min_edges: int = 3
) -> tuple[float, bool] | None:
    """``(angle, kept_canvas)`` of a copy rotated by a small angle (degrees, counter-clockwise positive, as
    Pillow's ``rotate``), or None. ``kept_canvas`` is True for a copy rotated on its own canvas (the
    picture's corners cut off, the canvas's corners filled), False for one rotated on an expanded canvas.

    Both forms have the four canvas corners of one fill colour (within ``tol``). On a kept canvas each
    corner holds a thin triangle of fill whose long leg lies along one side and whose hypotenuse is the
    picture's turned edge: per side, the depth of fill per line is a straight ramp of slope tan(angle)
    from one corner (:func:`_ramp_slope`), and at least ``min_edges`` sides must agree within half a
    degree. On an expanded canvas the content's four edges are fitted (:func:`find_skew`'s method).

    >>> measure_skew(luma)   # doctest: +SKIP
    (3.02, True)
    """
    h, w = luma.shape
    if h < 32 or w < 32:
        return None
    corners = np.array([luma[0, 0], luma[0, -1], luma[-1, 0], luma[-1, -1]], dtype=np.float64)
    bg = float(np.median(corners))
    if np.abs(corners - bg).max() > tol:
        return None
    views = (luma, luma[:, ::-1], luma.T, luma.T[:, ::-1])  # left, right, top, bottom: lines from the edge
    caps = (max(4, w // 4), max(4, w // 4), max(4, h // 4), max(4, h // 4))
    depths = [_side_depths(v, bg, content_tol, cap) for v, cap in zip(views, caps, strict=True)]
    at_edge = sum(int((d == 0).sum()) for d in depths) / sum(d.size for d in depths)
    if at_edge < KEPT_CANVAS_SHARE:
        angle = _expanded_skew(luma, bg, content_tol, min_edges)
        return None if angle is None else (angle, False)
    max_slope = math.tan(math.radians(12.0))
    signs = (1.0, -1.0, -1.0, 1.0)  # as in _expanded_skew
    angles = []
    for d, cap, sign in zip(depths, caps, signs, strict=True):
        slope = _ramp_slope(d, cap, max_slope)
        if slope is not None:
            angles.append(float(np.degrees(np.arctan(slope * sign))))
    if len(angles) < min_edges:
        return None
    angle = _agreeing(angles, min_edges)
    if angle is None or not 0.3 <= abs(angle) <= 12.0:
        return None
    return angle, True


def find_skew(
    luma: np.ndarray, *, tol: float = 16.0, content_tol: float = 6.0, min_edges: int = 3
) -> float | None:
    """The angle (degrees, counter-clockwise positive, as Pillow's ``rotate``) of a copy rotated by a
    small angle, on an expanded canvas or on its own (:func:`measure_skew`), or None."""
    found = measure_skew(luma, tol=tol, content_tol=content_tol, min_edges=min_edges)
    return None if found is None else found[0]


def _expanded_skew(luma: np.ndarray, bg: float, content_tol: float, min_edges: int) -> float | None:
    """The angle of a copy rotated on an expanded canvas of background ``bg``, or None.

    Content is what differs from the background by more than ``content_tol`` (the corner triangles of a
    rotated copy are flat, so a small margin suffices and a dark picture's edge still counts as content).
    The content's left, right, top and bottom edges are fitted as straight lines; at least ``min_edges``
    of them must fit and agree within half a degree (a picture whose own edge is the background's colour
    along one side loses that side only).
    """
    content = np.abs(luma - bg) > content_tol
    slopes = [
        _edge_slope(content),  # left edge: x of the first content pixel per row
        _edge_slope(content[:, ::-1]),  # right edge, seen from the right
        _edge_slope(content.T),  # top edge: y of the first content pixel per column
        _edge_slope(content.T[:, ::-1]),  # bottom edge, from the bottom
    ]
    # A counter-clockwise turn moves the left edge right going down, the right edge left (seen from the
    # right: right), the top edge up going right (seen from the top: its first row falls), the bottom down.
    signs = (1.0, -1.0, -1.0, 1.0)
    angles = [
        float(np.degrees(np.arctan(g * s))) for g, s in zip(signs, slopes, strict=True) if s is not None
    ]
    if len(angles) < min_edges:
        return None
    angle = _agreeing(angles, min_edges)
    if angle is None or not 0.5 <= abs(angle) <= 12.0:
        return None
    return angle


def _longest_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a boolean array, the start and end (exclusive) of its longest run of True (0, 0 if
    none)."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)
    rs, cs = np.nonzero(steps == 1)
    _, ce = np.nonzero(steps == -1)  # same rows, same order: every run that starts ends
    starts, ends = np.zeros(h, np.int64), np.zeros(h, np.int64)
    if rs.size:
        lengths = ce - cs
        order = np.lexsort((-lengths, rs))  # by row, longest first
        first = np.ones(order.size, bool)
        first[1:] = rs[order][1:] != rs[order][:-1]
        pick = order[first]
        starts[rs[pick]], ends[rs[pick]] = cs[pick], ce[pick]
    return starts, ends


def find_painted_bands(
    luma: np.ndarray,
    *,
    step: float = 12.0,
    min_run: float = 0.3,
    prominence: float = 0.25,
    min_fraction: float = 0.03,
    max_fraction: float = 0.3,
) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x0, y0, x1, y1)`` of bands or caption boxes painted over the picture, opaque or
    translucent, at most three: one reaching the top, one the bottom, one across (or a box inside).

    A painted band's long edge is a straight horizontal step: in a long run of columns (at least
    ``min_run`` of the width) the row after it differs from the row before it by more than ``step``
    (every other column, smoothed over 9 so that text or a flat patch of picture does not break the run),
    and the row's count of stepping columns stands out from the rows around it by half ``prominence`` of
    the width (a picture's own texture steps everywhere). A band reaching the top or bottom needs one such edge between ``min_fraction`` and
    ``max_fraction`` of the height from it; a band or box across needs two, of overlapping runs, that far
    apart. Where a box's run is shorter than the width, only its columns are kept. A box is kept only if
    its inside looks painted over (:func:`_looks_painted`): a horizon or a drawn shape has such edges too.

    >>> find_painted_bands(luma)   # doctest: +SKIP
    [(0, 0, 512, 51)]
    """
    h, w = luma.shape
    if h < 32 or w < 32:
        return []
    # Every other column is enough for a horizontal edge (and halves the cost).
    cols = luma[:, ::2]
    w2 = cols.shape[1]
    diff = np.abs(cols[2:] - cols[:-2]) > step  # row y + 1's step, over two rows (a blurred edge)
    count = diff.sum(axis=1)
    # Prominence first on the count of stepping columns per row (a run of n smoothed columns needs about
    # n / 2 stepping ones), against the median of the rows 3-8 away on both sides: only rows that pass are
    # searched for a run. On photos that is a handful of rows.
    pad = np.pad(count, 8, mode="edge")
    near = np.stack([pad[8 + k : 8 + k + count.size] for k in (-8, -7, -6, -5, -4, -3, 3, 4, 5, 6, 7, 8)])
    rows = np.flatnonzero(
        (count >= 0.5 * min_run * w2) & (count - np.median(near, axis=0) >= 0.5 * prominence * w2)
    )
    starts, ends = np.zeros(h - 2, np.int64), np.zeros(h - 2, np.int64)
    if rows.size:
        # The share of stepping columns in a window of 9 around each column (centred, zero beyond the edges).
        c = np.cumsum(np.pad(diff[rows], ((0, 0), (5, 4))), axis=1, dtype=np.int32)
        starts[rows], ends[rows] = _longest_runs(c[:, 9:] - c[:, :-9] >= 4.5)
    starts, ends = np.minimum(2 * starts, w), np.minimum(2 * ends, w)  # back to the image's columns
    run = (ends - starts) / w
    strong = run >= min_run
    # Keep the strongest row of each cluster of adjacent edge rows.
    edges: list[tuple[int, int, int]] = []  # (y, x0, x1): the band's edge lies between rows y and y + 1
    for y in np.flatnonzero(strong):
        row = (int(y) + 1, int(starts[y]), int(ends[y]))
        if edges and row[0] - edges[-1][0] <= 2:
            if run[y] > (edges[-1][2] - edges[-1][1]) / w:
                edges[-1] = row
            continue
        edges.append(row)
    lo, hi = max(3, min_fraction * h), max_fraction * h
    out: list[tuple[int, int, int, int]] = []

    def full(x0: int, x1: int) -> tuple[int, int]:  # a run nearly the width is the whole width
        return (0, w) if x1 - x0 >= 0.9 * w else (x0, x1)

    tops = [e for e in edges if lo <= e[0] <= hi]
    if tops:
        y, x0, x1 = max(tops, key=lambda e: e[2] - e[1])
        out.append((*full(x0, x1)[:1], 0, full(x0, x1)[1], y))
    bottoms = [e for e in edges if lo <= h - e[0] <= hi]
    if bottoms:
        y, x0, x1 = max(bottoms, key=lambda e: e[2] - e[1])
        out.append((full(x0, x1)[0], y, full(x0, x1)[1], h))
    best = None
    for i, (ya, a0, a1) in enumerate(edges):
        for yb, b0, b1 in edges[i + 1 :]:
            if not lo <= yb - ya <= hi:
                continue
            overlap = min(a1, b1) - max(a0, b0)
            if overlap < 0.7 * max(a1 - a0, b1 - b0):
                continue
            if best is None or overlap > best[0]:
                best = (overlap, (*full(max(a0, b0), min(a1, b1)),), ya, yb)
    if best is not None:
        _, (x0, x1), ya, yb = best
        out.append((x0, ya, x1, yb))
    return [b for b in out if _looks_painted(luma, b)]


def _looks_painted(luma: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether the inside of ``box`` looks painted over: mostly one colour (an opaque band, its text thin),
    or with the picture's detail damped (a translucent band: alpha x colour + (1 - alpha) x picture), as the
    median horizontal gradient inside against that of the rows just outside."""
    h = luma.shape[0]
    x0, y0, x1, y1 = box
    inside = luma[y0 + 1 : max(y0 + 2, y1 - 1), x0:x1]
    if inside.size == 0 or x1 - x0 < 8:
        return False
    if (np.abs(inside - np.median(inside)) <= 8.0).mean() >= 0.5:
        return True
    depth = max(3, (y1 - y0) // 2)
    outside = np.concatenate(
        [
            luma[max(0, y0 - depth) : max(0, y0 - 1), x0:x1].ravel(),
            luma[min(h, y1 + 1) : y1 + depth, x0:x1].ravel(),
        ]
    )
    if outside.size < 16:
        return True
    grad_in = np.median(np.abs(np.diff(inside, axis=1)))
    band_out = outside.reshape(-1, x1 - x0)
    grad_out = np.median(np.abs(np.diff(band_out, axis=1)))
    return bool(grad_in <= 0.6 * grad_out)
