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

__all__ = ["CandidateBoxes", "find_caption_bands", "find_skew", "find_uniform_border"]


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


def find_skew(
    luma: np.ndarray, *, tol: float = 16.0, content_tol: float = 6.0, min_edges: int = 3
) -> float | None:
    """The angle (degrees, counter-clockwise positive, as Pillow's ``rotate``) of a copy rotated on an
    expanded canvas, or None when the image does not look like that.

    The four corners must be background of one colour (within ``tol``); content is what differs from it by
    more than ``content_tol`` (the corner triangles of a rotated copy are flat, so a small margin suffices
    and a dark picture's edge still counts as content). The content's left, right, top and bottom edges
    are fitted as straight lines; at least ``min_edges`` of them must fit and agree within half a degree
    (a picture whose own edge is the background's colour along one side loses that side only).
    """
    h, w = luma.shape
    if h < 32 or w < 32:
        return None
    corners = np.array([luma[0, 0], luma[0, -1], luma[-1, 0], luma[-1, -1]], dtype=np.float64)
    bg = float(np.median(corners))
    if np.abs(corners - bg).max() > tol:
        return None
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
    angles = sorted(
        float(np.degrees(np.arctan(g * s))) for g, s in zip(signs, slopes, strict=True) if s is not None
    )
    if len(angles) < min_edges:
        return None
    # The largest group of estimates within half a degree of each other (all of them, or all but one).
    best: list[float] = []
    for i in range(len(angles)):
        group = [a for a in angles[i:] if a - angles[i] <= 0.5]
        if len(group) > len(best):
            best = group
    if len(best) < min_edges:
        return None
    angle = float(np.mean(best))
    if not 0.5 <= abs(angle) <= 12.0:
        return None
    return angle
