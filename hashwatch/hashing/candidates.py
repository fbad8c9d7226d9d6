"""Query-side candidates: PDQ and pHash of the found image after undoing what a re-uploader did to it.

A known-hash list holds only hashes of the originals, so nothing can be computed from the known image: if a
copy was bordered, captioned, flipped, turned, slightly rotated or cropped, the only way to find it is to
guess, from the copy alone, what the original looked like, and hash that guess. Each guess is a
*candidate*; each is hashed and matched like the plain hash, the best distance wins, and
:attr:`~hashwatch.hashing.known_hash_index.Match.variant` names the candidate that matched.

Families (:data:`CANDIDATE_FAMILIES`; each can be switched off, see ``HashConfig.candidates`` and
``MatchOptions.candidates``):

- ``trimmed``: uniform borders and letterbox bars of any colour removed, each side on its own.
- ``uncaptioned``: a caption or banner band (rows mostly of one colour, with text) removed at the top and/or
  the bottom, then the rest trimmed (``uncaptioned``); also without that trimming (``uncaptioned-bands``: a
  picture with flat margins of its own keeps them) and, when bands were found on both sides, one side at
  a time (``uncaptioned-top``, ``uncaptioned-bottom``).
- ``dihedral_real``: the 7 flips and quarter turns computed on the pixels (``rot90-real``, ``flipx-real``,
  ...), not derived from the DCT like ``pdq_dihedral``: PDQ's box downscale does not commute with a flip
  (its windows and decimation are not mirror-symmetric), which cost the DCT variants 3-4 % of flipped and
  turned photos with fine texture.
- ``deskew``: a copy rotated by a small angle on an expanded canvas (corner triangles of one colour) rotated
  back by the angle measured from the content's edges (three of the four must agree) and cut to the
  original's extent (``deskew+3.0``).
- ``extended``: a copy cropped by a few percent, re-extended to the original's presumed extent by repeating
  its edge pixels, the added part then smoothed along the edge (``extend-c5``: centred, 5 % per axis;
  ``extend-tl10``: the copy is the top-left part, extended by 10 % to the right and bottom; ...).

Cost: everything works on the decoded working image that the plain hashes use (a JPEG draft), and every
geometric guess that acts on rows and columns separately (trimming, band removal, flips, re-extension) is
folded into the downscaling matrices PDQ applies anyway: a candidate is one banded pass over the draft
and two small matrix products, not a new image. The passes run down the columns of the draft transposed
once per image (vectorised in C), the bands that depend only on the image's size are cached per size, and
the dihedral and re-extension candidates are hashed as stacks (benchmarks/bench_candidates.py;
benchmarks/check_candidate_hashes.py showed those speed-ups bit-identical). Candidates that cannot apply
are skipped (no border found: no ``trimmed``). pHash candidates come from the same 64 x 64 buffer as PDQ's
(a 32 x 32 Lanczos resize of it), an approximation of pHash that costs nothing extra.

Nothing here keeps pixels: the result is a mapping ``"<hash type>:<candidate>" -> hex``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from hashwatch.hashing.candidate_defaults import DEFAULT_CANDIDATE_FAMILIES

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.decode import DecodedImage

__all__ = [
    "CANDIDATE_FAMILIES",
    "DEFAULT_CANDIDATE_FAMILIES",
    "CandidateBoxes",
    "candidate_family",
    "clear_size_caches",
    "compute_candidates",
    "find_caption_bands",
    "find_skew",
    "find_uniform_border",
    "jarosz_band",
]

CANDIDATE_FAMILIES: tuple[str, ...] = ("trimmed", "uncaptioned", "dihedral_real", "deskew", "extended")
# DEFAULT_CANDIDATE_FAMILIES (on by default) lives in hashwatch.hashing.candidate_defaults.

# Names of the real dihedral candidates, in DIHEDRAL_VARIANTS order.
# (TRANSPOSE, "flip_plus1", needs none: PDQ's downscale commutes exactly with a transpose.)
REAL_DIHEDRAL: tuple[str, ...] = (
    "rot90-real",
    "rot180-real",
    "rot270-real",
    "flipx-real",
    "flipy-real",
    "flip_minus1-real",
)

# Re-extension hypotheses: (anchor, percent). The anchor says where the copy sits in the original: "c" the
# centre, "tl" the top-left corner (the crop removed the right and bottom), ...
# The copy lost 5 % or 10 % of each side's length (so it is extended by 1/0.95 - 1 or 1/0.9 - 1). PDQ finds
# a crop only within about 1.5 % of the hypothesis, pHash within about 3 %.
EXTENSIONS: tuple[tuple[str, int], ...] = tuple(
    (anchor, pct) for pct in (5, 10) for anchor in ("c", "tl", "tr", "bl", "br")
)

_PDQ_SIDE = 64
_PDQ_QUALITY_THRESHOLD = 50


def candidate_family(variant: str) -> str | None:
    """The family of a candidate name (``"deskew-2.0"`` -> ``"deskew"``); None for DCT dihedral variants."""
    if variant == "trimmed":
        return "trimmed"
    if variant == "uncaptioned" or variant.startswith("uncaptioned-"):
        return "uncaptioned"
    if variant.endswith("-real"):
        return "dihedral_real"
    if variant.startswith("deskew"):
        return "deskew"
    if variant.startswith("extend-"):
        return "extended"
    return None


def check_families(families: Iterable[str]) -> tuple[str, ...]:
    """Validate candidate family names (a ValueError names the unknown ones and the known)."""
    out = tuple(families)
    unknown = [f for f in out if f not in CANDIDATE_FAMILIES]
    if unknown:
        raise ValueError(
            f"unknown candidate families: {', '.join(unknown)} (known: {', '.join(CANDIDATE_FAMILIES)})"
        )
    return out


# ---------------------------------------------------------------- PDQ's downscale as a band, fast


@lru_cache(maxsize=1024)
def jarosz_band(n: int, out: int = _PDQ_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """PDQ's downscale of an axis of ``n`` pixels to ``out`` samples (two Jarosz box passes, decimation),
    as bands: output ``i`` is ``weights[i] @ x[starts[i] : starts[i] + L]``.

    The same matrix as :func:`hashwatch.hashing.draft_resample.jarosz_matrix` at scale 1, built in closed
    form (each output is a sum of boxes of boxes) in tens of microseconds instead of milliseconds, so a
    candidate of a new size costs little.
    """
    window = (n + 2 * out - 1) // (2 * out)
    half = (window + 2) // 2

    def lo(k):
        return np.maximum(0, k + half - window)

    def hi(k):
        return np.minimum(n - 1, k + half - 1)

    picks = ((np.arange(out) + 0.5) * n / out).astype(np.int64)
    first_lo, first_hi = lo(picks), hi(picks)
    inv_first = 1.0 / (first_hi - first_lo + 1)
    ks = first_lo[:, None] + np.arange(window)[None, :]  # out x window
    valid = ks <= first_hi[:, None]
    ks = np.minimum(ks, n - 1)
    k_lo, k_hi = lo(ks), hi(ks)
    w = np.where(valid, inv_first[:, None] / (k_hi - k_lo + 1), 0.0)
    starts = k_lo[:, 0]
    length = int((k_hi - starts[:, None]).max()) + 2
    base = np.arange(out)[:, None] * (length + 1)
    diff = np.bincount(
        np.concatenate(
            [(base + k_lo - starts[:, None]).ravel(), (base + k_hi + 1 - starts[:, None]).ravel()]
        ),
        weights=np.concatenate([w.ravel(), -w.ravel()]),
        minlength=out * (length + 1),
    ).reshape(out, length + 1)
    weights = np.cumsum(diff[:, :length], axis=1)
    weights[np.abs(weights) < 1e-15] = 0.0
    return starts.astype(np.int64), weights


Band = tuple[np.ndarray, np.ndarray, int]  # (starts int32, weights float64 n_out x width, width)


@lru_cache(maxsize=1024)
def _band_taps(n_cand: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For :func:`axis_band`, what depends only on the candidate axis's length: each output's tap positions
    (64 x L, clipped to the axis), which taps carry weight, the output of each such tap and its weight (in
    row-major order)."""
    starts, weights = jarosz_band(n_cand)
    taps = np.minimum(starts[:, None] + np.arange(weights.shape[1])[None, :], n_cand - 1)
    live = weights != 0.0
    rows = np.nonzero(live)[0]
    out = (taps, live, rows, weights[live])
    for a in out:
        a.flags.writeable = False
    return out


def axis_band(source: np.ndarray, scale: int, n_draft: int) -> Band:
    """PDQ's downscale of a candidate axis whose pixel ``t`` is full-resolution pixel ``source[t]`` of the
    decoded image, as a band on the draft (a draft pixel is the mean of ``scale`` full pixels, so weights are
    summed per draft pixel): output ``i`` is ``weights[i] @ draft[starts[i] : starts[i] + width]``."""
    taps, live, rows, live_weights = _band_taps(source.size)
    cols = np.minimum(source[taps] // scale, n_draft - 1)
    first = np.where(live, cols, n_draft).min(axis=1)
    last = np.where(live, cols, -1).max(axis=1)
    first = np.minimum(first, last)
    width = int(max(1, (last - first).max() + 1))
    flat = rows * width + (cols[live] - first[rows])
    band = np.bincount(flat, weights=live_weights, minlength=_PDQ_SIDE * width).reshape(_PDQ_SIDE, width)
    return first.astype(np.int32), band, width


def _axis_source(spec: tuple) -> np.ndarray:
    """The source pixels of a candidate axis named by ``spec``: ``("range", n)`` the axis as it is,
    ``("reversed", n)`` mirrored, ``("extend", n, pct, where)`` re-extended (:func:`_extension_source`)."""
    kind, n = spec[0], spec[1]
    if kind == "range":
        return np.arange(n)
    if kind == "reversed":
        return np.arange(n)[::-1].copy()
    if kind == "extend":
        return _extension_source(n, spec[2], spec[3])
    raise ValueError(f"unknown axis source {spec!r}")


@lru_cache(maxsize=1024)
def sized_axis_band(spec: tuple, scale: int, n_draft: int) -> Band:
    """:func:`axis_band` of a source that depends only on the image's size (``spec``, see
    :func:`_axis_source`), cached: the dihedral and re-extension candidates of every image of one size share
    them (16 bands, about 0.7 ms to build). The arrays are read-only."""
    starts, weights, width = axis_band(_axis_source(spec), scale, n_draft)
    starts.flags.writeable = False
    weights.flags.writeable = False
    return starts, weights, width


def clear_size_caches() -> None:
    """Empty the per-size caches (PDQ's downscale bands, re-extension lines): the next image of any size pays
    for building them, as the first image of a new size does (benchmarks/bench_candidates.py measures
    that)."""
    sized_axis_band.cache_clear()
    _band_taps.cache_clear()
    jarosz_band.cache_clear()
    _pad_lines.cache_clear()


def _apply_rows(x: np.ndarray, band: Band) -> np.ndarray:
    """``x @ M.T`` for the banded ``M`` (x: h x w float32; result h x 64 float64)."""
    starts, weights, width = band
    h, w = x.shape
    x = np.ascontiguousarray(x, dtype=np.float32)
    try:
        from hashwatch.hashing import _mih
    except ImportError:  # pragma: no cover - only without the C extension
        dense = np.zeros((starts.size, w))
        for i, (s0, row) in enumerate(zip(starts.tolist(), weights, strict=True)):
            span = min(width, w - s0)
            dense[i, s0 : s0 + span] = row[:span]
        return x.astype(np.float64) @ dense.T
    out = _mih.band_rows(x, h, w, starts, np.ascontiguousarray(weights), width)
    return np.frombuffer(out, dtype=np.float64).reshape(h, starts.size)


def _buffer(rows_done: np.ndarray, band_y: Band) -> np.ndarray:
    """The 64 x 64 buffer ``My @ R`` from the row pass ``R`` (h x 64) and the vertical band."""
    return _apply_rows(rows_done.T, band_y).T


def _buffer_t(rows_t: np.ndarray, band_y: Band) -> np.ndarray:
    """:func:`_buffer` from the row pass already transposed (``R.T``, 64 x h, as :meth:`_Hasher.rows_t`
    returns it): the same numbers, without transposing ``R``."""
    return _apply_rows(rows_t, band_y).T


# ---------------------------------------------------------------- hashing a 64 x 64 buffer


@lru_cache(maxsize=1)
def _pdq_dct() -> np.ndarray:
    i = np.arange(16)[:, None]
    j = np.arange(64)[None, :]
    return (math.sqrt(2.0 / 64) * np.cos((math.pi / 2.0 / 64) * (i + 1) * (2 * j + 1))).astype(np.float32)


@lru_cache(maxsize=1)
def _phash_resize() -> np.ndarray:
    """Pillow's LANCZOS weights for 64 -> 32 (float)."""
    from hashwatch.hashing.draft_resample import _PRECISION_BITS, _lanczos_full

    return _lanczos_full(64, 32) / 2**_PRECISION_BITS


@lru_cache(maxsize=1)
def _dct32() -> np.ndarray:
    """scipy.fftpack.dct (type II, unnormalised) over 32 samples, first 8 rows, as a matrix."""
    k = np.arange(8)[:, None]
    n = np.arange(32)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / 64)


def _quality(buffer64: np.ndarray) -> int:
    from hashwatch.hashing.draft_resample import pdq_quality

    return pdq_quality(buffer64)


def _pdq_dct_of(buffer64: np.ndarray) -> np.ndarray:
    d = _pdq_dct()
    return d @ buffer64.astype(np.float32) @ d.T


def _pdq_bits_hex(dct: np.ndarray) -> str:
    from hashwatch.hashing.hash_types import _pdq_bits

    return _pdq_bits(dct)


def _pdq_hex(buffer64: np.ndarray) -> str:
    return _pdq_bits_hex(_pdq_dct_of(buffer64))


@lru_cache(maxsize=1)
def _phash_projection() -> tuple[np.ndarray, np.ndarray]:
    """``_dct32() @ _phash_resize()`` (8 x 64) and its transpose, computed once (read-only)."""
    dr = _dct32() @ _phash_resize()
    dr_t = dr.T
    dr.flags.writeable = False
    dr_t.flags.writeable = False
    return dr, dr_t


def _hex_rows(bits: np.ndarray) -> list[str]:
    """Each row of a 2-D bool array as hex, most significant bit first (as :func:`_bits_to_hex`)."""
    packed = np.packbits(bits, axis=1)
    return [row.tobytes().hex() for row in packed]


def _pdq_hex_many(dcts: np.ndarray) -> list[str]:
    """:func:`_pdq_bits_hex` of each of a stack of 16 x 16 DCTs (n x 16 x 16): the same bits, one partition."""
    flat = dcts.reshape(dcts.shape[0], 256)
    median = np.partition(flat, 127, axis=1)[:, 127:128]  # torben(): the lower median of 256 values
    return _hex_rows((flat > median)[:, ::-1])


def _phash_hex_many(buffers: np.ndarray) -> list[str]:
    """:func:`_phash_hex` of each of a stack of 64 x 64 buffers (n x 64 x 64 float64)."""
    dr, dr_t = _phash_projection()
    flat = (dr @ buffers @ dr_t).reshape(buffers.shape[0], 64)
    mid = np.partition(flat, (31, 32), axis=1)
    return _hex_rows(flat > ((mid[:, 31] + mid[:, 32]) / 2)[:, None])


def _phash_hex(buffer64: np.ndarray) -> str:
    dr, dr_t = _phash_projection()
    low = dr @ buffer64 @ dr_t  # the 8 x 8 low frequencies of the 32 x 32 thumbnail
    flat = low.ravel()
    mid = np.partition(flat, (31, 32))
    return np.packbits(flat > (mid[31] + mid[32]) / 2).tobytes().hex()


# ---------------------------------------------------------------- finding borders, bands and skew


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


# ---------------------------------------------------------------- the candidates


def _extension_source(n_full: int, pct: float, where: str) -> np.ndarray:
    """Full-resolution source pixel of each pixel of an axis that lost ``pct`` % of its length, extended back
    (edge pixels repeated); ``where`` is where the copy sat: "start", "centre" or "end"."""
    total = max(1, round(n_full * (100.0 / (100.0 - pct) - 1.0)))
    before = {"start": 0, "centre": total // 2, "end": total}[where]
    t = np.arange(n_full + total) - before
    return np.clip(t, 0, n_full - 1)


_ANCHORS = {
    "c": ("centre", "centre"),
    "tl": ("start", "start"),
    "tr": ("end", "start"),
    "bl": ("start", "end"),
    "br": ("end", "end"),
}


class _Hasher:
    """Candidate buffers for one decoded image; caches the row passes shared by several candidates."""

    def __init__(self, luma: np.ndarray, full_size: tuple[int, int], scale: int, types: Sequence[str]):
        self.luma = luma
        self.full_w, self.full_h = full_size
        self.scale = scale
        self.types = types
        self.out: dict[str, str] = {}
        self._luma_t: np.ndarray | None = None

    def rows_t(self, band_x: Band) -> np.ndarray:
        """The row pass ``luma @ Mx.T`` transposed (64 x h float64), bit-identical to
        ``_apply_rows(luma, band_x).T``. With the C extension it runs down the columns of the transposed
        luma (made once per image and shared by every candidate), where the sums vectorise: about 2.5x
        faster than a row pass."""
        try:
            from hashwatch.hashing import _mih
        except ImportError:  # pragma: no cover - only without the C extension
            return _apply_rows(self.luma, band_x).T
        h, w = self.luma.shape
        if self._luma_t is None:
            x = np.ascontiguousarray(self.luma, dtype=np.float32)
            self._luma_t = np.frombuffer(_mih.transpose_f32(x, h, w), dtype=np.float32).reshape(w, h)
        starts, weights, width = band_x
        out = _mih.band_cols(self._luma_t, w, h, starts, np.ascontiguousarray(weights), width)
        return np.frombuffer(out, dtype=np.float64).reshape(starts.size, h)

    def add(
        self, name: str, buffer64: np.ndarray, *, gate: bool = True, dct: np.ndarray | None = None
    ) -> None:
        """Hash one candidate's 64 x 64 buffer. ``gate``: apply PDQ's quality gate (not needed when the
        candidate has the plain image's pixels, e.g. a flip); ``dct``: its PDQ DCT, if already known."""
        if "pdq" in self.types and (not gate or _quality(buffer64) >= _PDQ_QUALITY_THRESHOLD):
            self.out[f"pdq:{name}"] = _pdq_hex(buffer64) if dct is None else _pdq_bits_hex(dct)
        if "phash" in self.types:
            self.out[f"phash:{name}"] = _phash_hex(buffer64)

    def add_many(self, items: Sequence[tuple[str, np.ndarray, np.ndarray | None]]) -> None:
        """:meth:`add` with ``gate=False`` for several candidates at once: ``(name, buffer, dct or None)``.
        The same hashes, computed on stacks (one matrix product and one partition per stack instead of
        one per candidate)."""
        if not items:
            return
        names = [name for name, _, _ in items]
        buffers = np.stack([b for _, b, _ in items])
        if "pdq" in self.types:
            dcts = [dct for _, _, dct in items]
            missing = [i for i, dct in enumerate(dcts) if dct is None]
            if missing:
                d = _pdq_dct()
                computed = d @ buffers[missing].astype(np.float32) @ d.T
                for i, dct in zip(missing, computed, strict=True):
                    dcts[i] = dct
            for name, hex_ in zip(names, _pdq_hex_many(np.stack(dcts)), strict=True):
                self.out[f"pdq:{name}"] = hex_
        if "phash" in self.types:
            for name, hex_ in zip(names, _phash_hex_many(buffers), strict=True):
                self.out[f"phash:{name}"] = hex_

    def axis(self, source: np.ndarray, vertical: bool) -> Band:
        n_draft = self.luma.shape[0] if vertical else self.luma.shape[1]
        return axis_band(source, self.scale, n_draft)

    def sized_axis(self, kind: str, vertical: bool, *params) -> Band:
        """A band whose source depends only on the image's size (cached per size, :func:`sized_axis_band`)."""
        n_draft = self.luma.shape[0] if vertical else self.luma.shape[1]
        n_full = self.full_h if vertical else self.full_w
        return sized_axis_band((kind, n_full, *params), self.scale, n_draft)

    def full_axis(self, lo: int, hi: int, vertical: bool) -> np.ndarray:
        """Full-resolution pixels of draft pixels [lo, hi) along an axis."""
        n_full = self.full_h if vertical else self.full_w
        a, b = lo * self.scale, min(n_full, hi * self.scale)
        return np.arange(a, b)

    def box(self, name: str, box: tuple[int, int, int, int]) -> None:
        x0, y0, x1, y1 = box
        mx = self.axis(self.full_axis(x0, x1, False), False)
        my = self.axis(self.full_axis(y0, y1, True), True)
        self.add(name, _buffer_t(self.rows_t(mx), my))


def compute_candidates(
    decoded: DecodedImage,
    families: Iterable[str] = DEFAULT_CANDIDATE_FAMILIES,
    types: Sequence[str] = ("pdq", "phash"),
) -> dict[str, str]:
    """Every applicable candidate's hashes, as ``{"pdq:trimmed": hex, "phash:trimmed": hex, ...}``.

    ``decoded`` is the working image the plain hashes were computed from (see
    :func:`hashwatch.hashing.decode.decode_image`); nothing is decoded again. A PDQ candidate under PDQ's
    quality gate is left out, as the plain PDQ would be.
    """
    families = set(check_families(families))
    if decoded.image is None or not families or not types:
        return {}
    luma = decoded.luma
    full_size = decoded.full_size or (
        luma.shape[1] * decoded.draft_scale,
        luma.shape[0] * decoded.draft_scale,
    )
    luma, scale = reduce_working_image(luma, decoded.draft_scale)
    h = _Hasher(luma, full_size, scale, tuple(types))
    trim_box = None
    if "trimmed" in families or "uncaptioned" in families:
        trim_box = find_uniform_border(luma)
    if "trimmed" in families and trim_box is not None:
        h.box("trimmed", trim_box)
    if "uncaptioned" in families:
        # Bands are found on the whole image (their outer margin is uniform, so trimming would take it), then
        # the sides are trimmed as well.
        bands = find_caption_bands(luma)
        if bands is not None:
            for name, box in _uncaptioned_boxes(luma, bands, trim_box):
                h.box(name, box)
    if "dihedral_real" in families:
        _real_dihedral(h)
    if "deskew" in families:
        _deskew(h)
    if "extended" in families:
        _extended(h)
    return h.out


def _uncaptioned_boxes(
    luma: np.ndarray, bands: tuple[int, int], trim_box: tuple[int, int, int, int] | None
) -> list[tuple[str, tuple[int, int, int, int]]]:
    """The boxes of the ``uncaptioned`` family for the rows ``bands`` keeps (:func:`find_caption_bands`):

    - ``uncaptioned``: the bands removed and the rest trimmed of uniform borders (a caption on a framed
      copy);
    - ``uncaptioned-bands``: the bands removed, nothing else: a picture with flat dark or light margins of
      its own (a studio shot on black) loses them to that trimming;
    - ``uncaptioned-top`` and ``uncaptioned-bottom``, when a band was found on both sides: one side only,
      since a flat sky or floor at the picture's other edge can pass for a band.

    Boxes equal to one already listed are left out."""
    h, w = luma.shape
    top, bottom = bands
    x0, _, x1, _ = trim_box or (0, 0, w, h)
    y0, y1 = top, bottom
    sub = find_uniform_border(luma[top:bottom, x0:x1])
    if sub is not None:
        x0, y0, x1, y1 = x0 + sub[0], top + sub[1], x0 + sub[2], top + sub[3]
    boxes = [("uncaptioned", (x0, y0, x1, y1)), ("uncaptioned-bands", (0, top, w, bottom))]
    if top > 0 and bottom < h:
        boxes += [("uncaptioned-top", (0, top, w, h)), ("uncaptioned-bottom", (0, 0, w, bottom))]
    out: list[tuple[str, tuple[int, int, int, int]]] = []
    for name, box in boxes:
        if all(box != b for _, b in out):
            out.append((name, box))
    return out


# Candidates work on an image whose shorter side is at least this (like the JPEG draft's 256 px).
WORKING_MIN_SIDE = 256


def reduce_working_image(luma: np.ndarray, scale: int) -> tuple[np.ndarray, int]:
    """Block means of ``k x k`` pixels, ``k`` as large as keeps the shorter side >= ``WORKING_MIN_SIDE``:
    a bigger "draft" of the full image (scale ``scale * k``), so a large PNG costs what a JPEG draft does.
    Rows and columns past the last whole block are dropped.

    The block sums are ``k * k`` strided additions in float64 (about 10x faster than numpy's mean over
    two axes of a 4-D view); for 8-bit luma, which the decoder always gives, every sum is exact, so the
    result is bit-identical to ``reshape(h2, k, w2, k).mean(axis=(1, 3), dtype=np.float32)``."""
    h, w = luma.shape
    k = min(h, w) // WORKING_MIN_SIDE
    if k < 2:
        return luma, scale
    h2, w2 = h // k, w // k
    blocks = luma[: h2 * k, : w2 * k]
    total = np.zeros((h2, w2), dtype=np.float64)
    for i in range(k):
        for j in range(k):
            total += blocks[i::k, j::k]
    return (total / (k * k)).astype(np.float32), scale * k


def _real_dihedral(h: _Hasher) -> None:
    mx_rev = h.sized_axis("reversed", False)
    my = h.sized_axis("range", True)
    my_rev = h.sized_axis("reversed", True)
    rows, rows_rev = h.rows_t(h.sized_axis("range", False)), h.rows_t(mx_rev)
    flip_lr = _buffer_t(rows_rev, my)  # mirrored left-right (Pillow FLIP_LEFT_RIGHT; PDQ's "flipy")
    flip_tb = _buffer_t(rows, my_rev)  # upside down (FLIP_TOP_BOTTOM; PDQ's "flipx")
    both = _buffer_t(rows_rev, my_rev)  # rot180
    dcts = {"lr": _pdq_dct_of(flip_lr), "tb": _pdq_dct_of(flip_tb), "both": _pdq_dct_of(both)}
    # PDQ's downscale and DCT commute exactly with a transpose, so the quarter turns are transposes of the
    # flips (TRANSPOSE itself equals the DCT variant flip_plus1 and is not repeated).
    variants = {
        "rot90-real": (flip_lr.T, dcts["lr"].T),  # ROTATE_90 (counter-clockwise) = transposed mirror
        "rot180-real": (both, dcts["both"]),
        "rot270-real": (flip_tb.T, dcts["tb"].T),
        "flipx-real": (flip_tb, dcts["tb"]),
        "flipy-real": (flip_lr, dcts["lr"]),
        "flip_minus1-real": (both.T, dcts["both"].T),
    }
    h.add_many([(name, *variants[name]) for name in REAL_DIHEDRAL])


def _deskew(h: _Hasher) -> None:
    from PIL import Image

    angle = find_skew(h.luma)
    if angle is None:
        return
    img = Image.fromarray(np.ascontiguousarray(h.luma, dtype=np.float32), "F")
    back = img.rotate(-angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=0.0)
    width, height = img.size
    c, s = math.cos(math.radians(abs(angle))), math.sin(math.radians(abs(angle)))
    det = c * c - s * s
    w0 = (width * c - height * s) / det
    h0 = (height * c - width * s) / det
    if w0 < 16 or h0 < 16:
        return
    x0, y0 = round((width - w0) / 2) + 1, round((height - h0) / 2) + 1
    x1, y1 = round((width + w0) / 2) - 1, round((height + h0) / 2) - 1
    crop = np.asarray(back, dtype=np.float32)[y0:y1, x0:x1]
    sub = _Hasher(crop, (crop.shape[1] * h.scale, crop.shape[0] * h.scale), h.scale, h.types)
    sub.box(f"deskew{-angle:+.1f}", (0, 0, crop.shape[1], crop.shape[0]))
    h.out.update(sub.out)


@lru_cache(maxsize=256)
def _pad_lines(n_full: int, pct: float, where: str) -> np.ndarray:
    """The indices of the 64 buffer lines of a re-extended axis that fall in the added part (their sample
    centre outside the copy)."""
    total = max(1, round(n_full * (100.0 / (100.0 - pct) - 1.0)))
    before = {"start": 0, "centre": total // 2, "end": total}[where]
    centre = (np.arange(_PDQ_SIDE) + 0.5) * (n_full + total) / _PDQ_SIDE
    out = np.flatnonzero((centre < before) | (centre >= before + n_full))
    out.flags.writeable = False
    return out


@lru_cache(maxsize=16)
def _gaussian_matrix(sigma: float) -> np.ndarray:
    """A Gaussian blur of 64 samples as a matrix (edge samples repeated, cut at 4 sigma)."""
    radius = int(4.0 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    g = np.zeros((_PDQ_SIDE, _PDQ_SIDE))
    for i in range(_PDQ_SIDE):
        np.add.at(g[i], np.clip(np.arange(i - radius, i + radius + 1), 0, _PDQ_SIDE - 1), taps)
    g.flags.writeable = False
    return g


# How much the added part of a re-extended crop is smoothed: sigma = this x its width on one side, in buffer
# pixels (64 per axis). Repeated edge pixels make streaks across the added part that the original does not
# have; its lost content is unknown, and smoothing the streaks along the edge brings PDQ closer to the
# original's on average (measured on 88 photos: 10 % centred crops found 37 -> 48, corner 31 -> 43, 5 %
# corner 66 -> 74, 5 % centred 81 -> 82; sigma 1 to 4 tried, this rule was best or near it for each).
EXTEND_SMOOTHING = 0.6


def _smoothed_extension(
    buffer64: np.ndarray, pct: float, where_x: str, where_y: str, h: _Hasher
) -> np.ndarray:
    """The re-extended buffer with its added part replaced by a blur of it (:data:`EXTEND_SMOOTHING`);
    only the added lines are blurred (the products are restricted to them)."""
    per_side = _PDQ_SIDE * pct / 100.0 / (2.0 if where_x == "centre" else 1.0)
    g = _gaussian_matrix(round(EXTEND_SMOOTHING * per_side, 2))
    pad_y, pad_x = _pad_lines(h.full_h, pct, where_y), _pad_lines(h.full_w, pct, where_x)
    out = buffer64.copy()
    out[:, pad_x] = g @ (buffer64 @ g[pad_x].T)
    out[pad_y, :] = (g[pad_y] @ buffer64) @ g.T
    return out


def _extended(h: _Hasher) -> None:
    rows_cache: dict[tuple[int, str], np.ndarray] = {}
    cols_cache: dict[tuple[int, str], Band] = {}
    items: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for anchor, pct in EXTENSIONS:
        where_x, where_y = _ANCHORS[anchor]
        key_x, key_y = (pct, where_x), (pct, where_y)
        if key_x not in rows_cache:
            rows_cache[key_x] = h.rows_t(h.sized_axis("extend", False, pct, where_x))
        if key_y not in cols_cache:
            cols_cache[key_y] = h.sized_axis("extend", True, pct, where_y)
        buffer = _smoothed_extension(
            _buffer_t(rows_cache[key_x], cols_cache[key_y]), pct, where_x, where_y, h
        )
        items.append((f"extend-{anchor}{pct}", buffer, None))
    h.add_many(items)


def candidates_for_type(candidate_hashes: Mapping[str, str], hash_type: str) -> dict[str, str]:
    """``{"trimmed": hex, ...}`` for one hash type, from an ``ImageHashes.candidate_hashes`` mapping."""
    prefix = f"{hash_type}:"
    return {k[len(prefix) :]: v for k, v in candidate_hashes.items() if k.startswith(prefix)}
