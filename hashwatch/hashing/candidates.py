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
- ``regions``: the rectangular picture regions of a larger canvas (a picture pasted into a screenshot, a
  collage's cells, a page with a uniform surround), best first (``region-1`` ... ``region-8``;
  :mod:`hashwatch.hashing.candidate_regions`).
- ``extended``: a copy cropped by a few percent, re-extended to the original's presumed extent by repeating
  its edge pixels, the added part then smoothed along the edge (``extend-c5``: centred, 5 % per axis;
  ``extend-tl10``: the copy is the top-left part, extended by 10 % to the right and bottom; ...).
- ``deskew`` also undoes a small rotation that kept the canvas (the picture's corners cut off, the canvas's
  filled): turned back on the same canvas, the cut wedges filled (``deskew-canvas+3.0``).
- ``rescaled``: a centred crop of 3-20 % resized back to the original's size, re-extended as ``extended``
  does by 8, 13 or 17 % (``rescale-c13``).
- ``unbanded``: a band of text or a caption box painted over the picture, filled from the lines beyond it
  at the picture's own extent (``unband-top``, ``unband-bottom``, ``unband-across``, ``unband-box``).

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
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from hashwatch.hashing.algorithms.pdq import pdq_dct
from hashwatch.hashing.c_extension import mih
from hashwatch.hashing.candidate_bands import (  # noqa: F401 - also this module's API (tests, benchmarks)
    _PDQ_SIDE,
    Band,
    _apply_rows,
    _band_taps,
    _buffer,
    _buffer_t,
    axis_band,
    jarosz_band,
    sized_axis_band,
)
from hashwatch.hashing.candidate_defaults import DEFAULT_CANDIDATE_FAMILIES
from hashwatch.hashing.candidate_detectors import find_caption_bands, find_uniform_border, measure_skew
from hashwatch.hashing.candidate_regions import find_regions, region_family, region_name
from hashwatch.hashing.hash_types import HashType, get_hash_type, hash_types

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.decode import DecodedImage

__all__ = [
    "CANDIDATE_FAMILIES",
    "DEFAULT_CANDIDATE_FAMILIES",
    "candidate_family",
    "candidate_hash_types",
    "clear_size_caches",
    "compute_candidates",
    "jarosz_band",
]

CANDIDATE_FAMILIES: tuple[str, ...] = (
    "trimmed",
    "uncaptioned",
    "dihedral_real",
    "deskew",
    "extended",
    "rescaled",
    "unbanded",
    "regions",
)
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
    if variant.startswith("rescale-"):
        return "rescaled"
    if variant.startswith("unband-"):
        return "unbanded"
    if region_family(variant):
        return "regions"
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


def candidate_hash_types(names: Iterable[str] | None = None) -> list[HashType]:
    """The registered types that hash query-side candidates (``query_candidates``), or those of ``names``
    (a ValueError names one that cannot)."""
    if names is None:
        return [ht for ht in hash_types() if ht.query_candidates]
    chosen = [get_hash_type(name) for name in names]
    unable = [ht.name for ht in chosen if not ht.query_candidates]
    if unable:
        able = ", ".join(ht.name for ht in hash_types() if ht.query_candidates)
        raise ValueError(f"{', '.join(unable)}: no query-side candidates (they exist for {able})")
    return chosen


def clear_size_caches() -> None:
    """Empty the per-size caches (PDQ's downscale bands, re-extension lines): the next image of any size pays
    for building them, as the first image of a new size does (benchmarks/bench_candidates.py measures
    that)."""
    sized_axis_band.cache_clear()
    _band_taps.cache_clear()
    jarosz_band.cache_clear()
    _pad_lines.cache_clear()


# ---------------------------------------------------------------- the candidates


_ANCHORS = {
    "c": ("centre", "centre"),
    "tl": ("start", "start"),
    "tr": ("end", "start"),
    "bl": ("start", "end"),
    "br": ("end", "end"),
}


class _Hasher:
    """Candidate buffers for one decoded image; caches the row passes shared by several candidates."""

    def __init__(self, luma: np.ndarray, full_size: tuple[int, int], scale: int, types: Sequence[HashType]):
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
        faster than a row pass. The extension is required (``c_extension.mih``: a one-line error without it)."""
        ext = mih()
        h, w = self.luma.shape
        if self._luma_t is None:
            x = np.ascontiguousarray(self.luma, dtype=np.float32)
            self._luma_t = np.frombuffer(ext.transpose_f32(x, h, w), dtype=np.float32).reshape(w, h)
        starts, weights, width = band_x
        out = ext.band_cols(self._luma_t, w, h, starts, np.ascontiguousarray(weights), width)
        return np.frombuffer(out, dtype=np.float64).reshape(starts.size, h)

    def add(
        self, name: str, buffer64: np.ndarray, *, gate: bool = True, dct: np.ndarray | None = None
    ) -> None:
        """Hash one candidate's 64 x 64 buffer with each type. ``gate``: apply the type's quality gate (PDQ's;
        not needed when the candidate has the plain image's pixels, e.g. a flip); ``dct``: its PDQ DCT, if
        already known."""
        for ht in self.types:
            value = ht.hash_buffer(buffer64, dct=dct, gate=gate)
            if value is not None:
                self.out[f"{ht.name}:{name}"] = value

    def add_many(self, items: Sequence[tuple[str, np.ndarray, np.ndarray | None]]) -> None:
        """:meth:`add` with ``gate=False`` for several candidates at once: ``(name, buffer, dct or None)``.
        The same hashes, computed on stacks (one matrix product and one partition per stack instead of
        one per candidate)."""
        if not items:
            return
        names = [name for name, _, _ in items]
        buffers = np.stack([b for _, b, _ in items])
        dcts = [dct for _, _, dct in items]
        for ht in self.types:
            for name, hex_ in zip(names, ht.hash_buffers(buffers, dcts), strict=True):
                self.out[f"{ht.name}:{name}"] = hex_

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
    types: Sequence[str] | None = None,
) -> dict[str, str]:
    """Every applicable candidate's hashes, as ``{"pdq:trimmed": hex, "phash:trimmed": hex, ...}``.

    ``decoded`` is the working image the plain hashes were computed from (see
    :func:`hashwatch.hashing.decode.decode_image`); nothing is decoded again. ``types``: the hash types to
    hash the candidates with (default: every registered type with ``query_candidates``, i.e. pdq and phash),
    each through its own ``hash_buffer``. A PDQ candidate under PDQ's quality gate is left out, as the plain
    PDQ would be.
    """
    families = set(check_families(families))
    hashers = candidate_hash_types(types)
    if decoded.image is None or not families or not hashers:
        return {}
    luma = decoded.luma
    full_size = decoded.full_size or (
        luma.shape[1] * decoded.draft_scale,
        luma.shape[0] * decoded.draft_scale,
    )
    luma, scale = reduce_working_image(luma, decoded.draft_scale)
    h = _Hasher(luma, full_size, scale, hashers)
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
    # The re-extensions of both families are hashed as one stack.
    _re_extended(
        h,
        [("extend", *e) for e in EXTENSIONS if "extended" in families]
        + [("rescale", "c", pct) for pct in RESCALE_PCTS if "rescaled" in families],
    )
    if "unbanded" in families:
        from hashwatch.hashing.candidate_fills import unbanded

        unbanded(h)
    if "regions" in families:
        _regions(h)
    return h.out


def _regions(h: _Hasher) -> None:
    """The ``regions`` family: each picture region of the canvas (:func:`find_regions`) as a box."""
    for rank, box in enumerate(find_regions(h.luma, h.scale), start=1):
        h.box(region_name(rank), box)


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
    dcts = {"lr": pdq_dct(flip_lr), "tb": pdq_dct(flip_tb), "both": pdq_dct(both)}
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

    found = measure_skew(h.luma)
    if found is None:
        return
    angle, kept_canvas = found
    if kept_canvas:
        from hashwatch.hashing.candidate_fills import deskew_kept_canvas

        deskew_kept_canvas(h, angle)
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


# Crop-and-rescale (issue 23): a centred crop of 3-20 % resized back to the original's size is, for PDQ
# (whose downscale ignores the size), the same as the crop itself: each hypothesis is a centred
# re-extension by that percentage, named ``rescale-c<pct>``, beside the ``extended`` family's 5 and 10 %.
# Chosen on the tuning half (378 copies, crop drawn from 3-20 %; plain PDQ with extend-c5 and -c10 found
# 123): every hypothesis from 2 to 22 % was hashed and added greedily: 13 % +26, 8 % +11, 17 % +11, then
# 14 % +4, 3 % +3, 7 % +3 (each further one costs a pass over the image for 1 % of these copies).
RESCALE_PCTS: tuple[int, ...] = (8, 13, 17)


def _re_extended(h: _Hasher, hypotheses: Sequence[tuple[str, str, int]]) -> None:
    """Hash each (prefix, anchor, percent) re-extension as ``<prefix>-<anchor><percent>``, as one stack
    (the ``extended`` family's ``extend-c5``, the ``rescaled`` family's ``rescale-c13``)."""
    if not hypotheses:
        return
    rows_cache: dict[tuple[int, str], np.ndarray] = {}
    cols_cache: dict[tuple[int, str], Band] = {}
    items: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for prefix, anchor, pct in hypotheses:
        where_x, where_y = _ANCHORS[anchor]
        key_x, key_y = (pct, where_x), (pct, where_y)
        if key_x not in rows_cache:
            rows_cache[key_x] = h.rows_t(h.sized_axis("extend", False, pct, where_x))
        if key_y not in cols_cache:
            cols_cache[key_y] = h.sized_axis("extend", True, pct, where_y)
        buffer = _smoothed_extension(
            _buffer_t(rows_cache[key_x], cols_cache[key_y]), pct, where_x, where_y, h
        )
        items.append((f"{prefix}-{anchor}{pct}", buffer, None))
    h.add_many(items)


def candidates_for_type(candidate_hashes: Mapping[str, str], hash_type: str) -> dict[str, str]:
    """``{"trimmed": hex, ...}`` for one hash type, from an ``ImageHashes.candidate_hashes`` mapping."""
    prefix = f"{hash_type}:"
    return {k[len(prefix) :]: v for k, v in candidate_hashes.items() if k.startswith(prefix)}
