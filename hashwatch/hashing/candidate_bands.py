"""PDQ's downscale as banded matrices, for the query-side candidates (:mod:`hashwatch.hashing.candidates`).

PDQ shrinks a picture to 64 x 64 with Jarosz box filters; on one axis that is a 64 x n matrix with a band of
non-zero weights. A geometric candidate that acts on rows and columns separately (a trim, a flip, a
re-extension) only changes which source pixel feeds each position of the axis, so its downscale is the
same band re-indexed (:func:`axis_band`), applied in one banded pass in C (:func:`_apply_rows`) instead of
building a new image. Bands that depend only on the image's size are cached (:func:`sized_axis_band`).

    starts, weights, width = axis_band(np.arange(10, 500), scale=1, n_draft=512)   # a trimmed axis
    buffer = _buffer(_apply_rows(luma, band_x), band_y)                             # the 64 x 64 buffer
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hashwatch.hashing.c_extension import mih

__all__ = ["Band", "axis_band", "jarosz_band", "sized_axis_band"]

_PDQ_SIDE = 64


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


def _apply_rows(x: np.ndarray, band: Band) -> np.ndarray:
    """``x @ M.T`` for the banded ``M`` (x: h x w float32; result h x 64 float64)."""
    starts, weights, width = band
    h, w = x.shape
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = mih().band_rows(x, h, w, starts, np.ascontiguousarray(weights), width)
    return np.frombuffer(out, dtype=np.float64).reshape(h, starts.size)


def _buffer(rows_done: np.ndarray, band_y: Band) -> np.ndarray:
    """The 64 x 64 buffer ``My @ R`` from the row pass ``R`` (h x 64) and the vertical band."""
    return _apply_rows(rows_done.T, band_y).T


def _buffer_t(rows_t: np.ndarray, band_y: Band) -> np.ndarray:
    """:func:`_buffer` from the row pass already transposed (``R.T``, 64 x h, as :meth:`_Hasher.rows_t`
    returns it): the same numbers, without transposing ``R``."""
    return _apply_rows(rows_t, band_y).T


def _extension_source(n_full: int, pct: float, where: str) -> np.ndarray:
    """Full-resolution source pixel of each pixel of an axis that lost ``pct`` % of its length, extended back
    (edge pixels repeated); ``where`` is where the copy sat: "start", "centre" or "end"."""
    total = max(1, round(n_full * (100.0 / (100.0 - pct) - 1.0)))
    before = {"start": 0, "centre": total // 2, "end": total}[where]
    t = np.arange(n_full + total) - before
    return np.clip(t, 0, n_full - 1)
