"""The downscales our perceptual hashes need, computed from a JPEG draft as if from the full-resolution image.

Each built-in perceptual hash starts by shrinking luma with a separable linear filter:

- pHash: Pillow ``resize((32, 32), LANCZOS)``; dHash: Pillow ``resize((9, 8), LANCZOS)`` (imagehash 4.3.2);
- PDQ: two passes of a Jarosz box filter whose window is ``ceil(side / 128)``, then decimation to 64x64
  (ThreatExchange ``pdq/cpp/downscaling``).

Applied naively to a JPEG draft (decoded at 1/2, 1/4 or 1/8 scale) these filters drift: Pillow's kernels
and PDQ's integer window sizes are computed from the *draft's* size, and a 1/8 draft of a 6 MP photo moved PDQ
by 10-30 bits in our measurements. But each filter is a matrix ``M`` (out x full side), and a draft pixel is
the
mean of an ``s x s`` block of full-resolution pixels (that is what libjpeg's scaled IDCT computes, up to
DCT rounding). So the full-resolution result is ``M @ X_full ~= M_s @ X_draft``, where ``M_s`` sums ``M``'s
columns over each block. We build ``M`` exactly as Pillow and PDQ do for the *full* size, aggregate it for the
draft scale (cached per size), and apply it with two small matrix products. The drift that remains is the
draft's own approximation; docs/hashing.md records it over real photos.

Nothing here sees bytes or keeps pixels; inputs are the decoded draft as a float32 array.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hashwatch.hashing.c_extension import mih

__all__ = [
    "jarosz_buffer64",
    "jarosz_matrix",
    "lanczos_matrix",
    "lanczos_weights",
    "pillow_resize",
]

PDQ_SIDE = 64
PDQ_PASSES = 2
_PIL_LANCZOS_SUPPORT = 3.0


def _sinc(x: np.ndarray) -> np.ndarray:
    return np.sinc(x)  # numpy's sinc is sin(pi x) / (pi x), as Pillow's


# Pillow resamples 8-bit images in fixed point: coefficients are scaled by 2^22 and rounded to integers, the
# accumulator starts at 2^21 and the result is shifted right by 22 and clipped (Resample.c,
# normalize_coeffs_8bpc and clip8). We use the same integer coefficients in float64 matrix products, which are
# exact for these magnitudes (< 2^53), so an undrafted image gives Pillow's pixels bit for bit.
_PRECISION_BITS = 32 - 8 - 2

# Matrices cached per image size: dense (up to 64 x the side, float64), so a crawl of pictures of many sizes
# filled 256-512 entries per cache and kept them. Issue 24, 300 GIMP-manual screenshots: 256/512 entries held
# 75 MB more resident memory than 32 (211 -> 137 MB) for the same hashes at the same speed (51.5 and 51.6 ms
# an image, load about 8): sizes rarely repeat there (1 hit in 504 calls of _lanczos_full), and a site of
# one size hits the same few entries whatever the bound.
_SIZES_CACHED = 32


@lru_cache(maxsize=_SIZES_CACHED)
def _lanczos_full(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's LANCZOS coefficients (Resample.c precompute_coeffs), in its 2^22 fixed point, n_out x n_in."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = _PIL_LANCZOS_SUPPORT * filterscale
    m = np.zeros((n_out, n_in), dtype=np.float64)
    for xx in range(n_out):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), n_in)
        x = np.arange(xmin, xmax)
        t = (x - center + 0.5) * (1.0 / filterscale)
        inside = (t >= -_PIL_LANCZOS_SUPPORT) & (t < _PIL_LANCZOS_SUPPORT)
        w = np.where(inside, _sinc(t) * _sinc(t / _PIL_LANCZOS_SUPPORT), 0.0)
        total = w.sum()
        k = w / total if total != 0.0 else w
        m[xx, xmin:xmax] = np.where(
            k < 0, np.trunc(-0.5 + k * 2**_PRECISION_BITS), np.trunc(0.5 + k * 2**_PRECISION_BITS)
        )
    return m


def _box_rows(n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """For PDQ's box1DFloat over n samples: each output's inclusive input range [lo, hi]."""
    half = (window + 2) // 2
    k = np.arange(n)
    lo = np.maximum(0, k + half - window)
    hi = np.minimum(n - 1, k + half - 1)
    return lo, hi


@lru_cache(maxsize=_SIZES_CACHED)
def _jarosz_full(n: int, out: int = PDQ_SIDE, passes: int = PDQ_PASSES) -> np.ndarray:
    """PDQ's downscale along one axis (``passes`` box filters, then decimation) as an out x n matrix."""
    window = (n + 2 * out - 1) // (2 * out)  # computeJaroszFilterWindowSize
    lo, hi = _box_rows(n, window)
    inv = 1.0 / (hi - lo + 1)
    # Start from the decimation rows (unit vectors at the sampled positions) and apply the box passes from
    # the left: (r @ B)[m'] = sum over outputs m whose window [lo_m, hi_m] contains m' of r[m] / size_m.
    picks = ((np.arange(out) + 0.5) * n / out).astype(np.int64)
    rows = np.zeros((out, n), dtype=np.float64)
    rows[np.arange(out), picks] = 1.0
    for _ in range(passes):
        c = rows * inv  # (out, n)
        diff = np.zeros((out, n + 1), dtype=np.float64)
        np.add.at(diff.T, lo, c.T)
        np.add.at(diff.T, hi + 1, -c.T)
        rows = np.cumsum(diff[:, :n], axis=1)
    return rows


def _aggregate(m_full: np.ndarray, scale: int, n_draft: int, dtype=np.float32) -> np.ndarray:
    """Sum the columns of ``m_full`` over blocks of ``scale`` full pixels: the matrix for the draft."""
    n_full = m_full.shape[1]
    if scale == 1:
        return np.ascontiguousarray(m_full, dtype=dtype)
    padded = np.zeros((m_full.shape[0], n_draft * scale), dtype=np.float64)
    padded[:, : min(n_full, n_draft * scale)] = m_full[:, : n_draft * scale]
    return padded.reshape(m_full.shape[0], n_draft, scale).sum(axis=2).astype(dtype)


def lanczos_weights(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's LANCZOS weights for ``n_in -> n_out`` as floats (its fixed-point coefficients / 2^22)."""
    return _lanczos_full(n_in, n_out) / 2**_PRECISION_BITS


@lru_cache(maxsize=_SIZES_CACHED)
def lanczos_matrix(n_full: int, n_out: int, scale: int, n_draft: int) -> np.ndarray:
    """Pillow LANCZOS resize of a full-resolution axis of ``n_full`` to ``n_out``, applied to its draft.

    Undrafted (``scale == 1``): float64 holding Pillow's integer fixed-point coefficients, for bit-exact
    results. Drafted: float32 weights (the draft is an approximation anyway, and float32 is twice as fast).
    """
    if scale == 1:
        return _aggregate(_lanczos_full(n_full, n_out), 1, n_draft, np.float64)
    return _aggregate(_lanczos_full(n_full, n_out) / 2**_PRECISION_BITS, scale, n_draft, np.float32)


@lru_cache(maxsize=_SIZES_CACHED)
def jarosz_matrix(n_full: int, scale: int, n_draft: int) -> np.ndarray:
    """PDQ's 64-sample downscale of a full-resolution axis of ``n_full``, applied to its draft."""
    return _aggregate(_jarosz_full(n_full), scale, n_draft)


@lru_cache(maxsize=_SIZES_CACHED)
def _jarosz_matrix64(n_full: int, scale: int, n_draft: int) -> np.ndarray:
    return jarosz_matrix(n_full, scale, n_draft).astype(np.float64)


@lru_cache(maxsize=_SIZES_CACHED)
def _jarosz_band(n_full: int, scale: int, n_draft: int) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`jarosz_matrix` as bands: per output its first input column and its weights (n_out x L)."""
    m = jarosz_matrix(n_full, scale, n_draft).astype(np.float64)
    # The cumulative sums that build the matrix leave ~1e-17 residues outside the band: not part of it.
    return _bands(m, np.abs(m) > 1e-9 * np.abs(m).max(axis=1, keepdims=True))


def _bands(m: np.ndarray, nz: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """A matrix as bands: per row its first column where ``nz`` holds and the ``width`` weights from there
    (the widest row's span; shorter rows padded with 0)."""
    first = np.where(nz.any(axis=1), nz.argmax(axis=1), 0)
    last = np.where(nz.any(axis=1), m.shape[1] - nz[:, ::-1].argmax(axis=1), 1)
    width = int(max(1, (last - first).max()))
    weights = np.zeros((m.shape[0], width), dtype=np.float64)
    for j in range(m.shape[0]):
        span = m[j, first[j] : first[j] + width]
        weights[j, : span.size] = span
    return first.astype(np.int32), weights, width


def _rows_downscale(luma: np.ndarray, n_full: int, scale: int) -> np.ndarray:
    """``luma @ jarosz_matrix(...).T``, banded in C (the extension is required: :mod:`.c_extension`)."""
    h, w = luma.shape
    starts, weights, width = _jarosz_band(n_full, scale, w)
    x = np.ascontiguousarray(luma, dtype=np.float32)
    out = mih().band_rows(x, h, w, starts, weights, width)
    return np.frombuffer(out, dtype=np.float64).reshape(h, starts.size)


def pillow_resize(
    luma: np.ndarray, full_size: tuple[int, int], out: tuple[int, int], scale: int
) -> np.ndarray:
    """Pillow's two-pass resize (one axis, round to 8 bits, the other axis, round) emulated on the draft.

    Pillow 13 runs the vertical pass first when the height shrinks by more than twice as many pixels as the
    width (Resample.c ImagingResampleInner), otherwise the horizontal one; the order changes the intermediate
    rounding, so we follow it, deciding on the full-resolution size as Pillow would.
    """
    full_w, full_h = full_size
    h, w = luma.shape
    if scale == 1 and (w, h) == (full_w, full_h):
        return _pillow_resize_exact(luma, out, _vertical_first(full_size, out))
    mx = lanczos_matrix(full_w, out[0], scale, w)
    my = lanczos_matrix(full_h, out[1], scale, h)
    if scale == 1:  # exact fixed-point arithmetic, as Pillow
        half, unit = float(2 ** (_PRECISION_BITS - 1)), float(2**_PRECISION_BITS)
        x = luma.astype(np.float64)
    else:
        half, unit = np.float32(0.5), np.float32(1.0)
        x = luma
    if _vertical_first(full_size, out):
        tmp = np.clip(np.floor((my @ x + half) / unit), 0, 255)
        return np.clip(np.floor((tmp @ mx.T + half) / unit), 0, 255)
    tmp = np.clip(np.floor((x @ mx.T + half) / unit), 0, 255)
    return np.clip(np.floor((my @ tmp + half) / unit), 0, 255)


def _vertical_first(full_size: tuple[int, int], out: tuple[int, int]) -> bool:
    shrink_h, shrink_w = full_size[1] - out[1], full_size[0] - out[0]
    return shrink_h > 0 and shrink_h > shrink_w * 2


@lru_cache(maxsize=_SIZES_CACHED)
def _lanczos_band(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`_lanczos_full` as bands (per output its first input and its L coefficients, n_out x L): a
    coefficient is an integer (2^22 fixed point) or exactly 0 outside its window."""
    m = _lanczos_full(n_in, n_out)
    return _bands(m, m != 0)


def _pillow_resize_exact(luma: np.ndarray, out: tuple[int, int], vertical_first: bool) -> np.ndarray:
    """:func:`pillow_resize` of an undrafted image with banded sums in C instead of dense matrix products.

    Bit-identical to the dense form: every product is an 8-bit pixel times an integer coefficient, and every
    sum of them stays far below 2^53, so float64 adds them exactly in any order (the dense product added
    the zeros outside each coefficient window too). Issue 24: a GIMP-manual screenshot's pHash spent most of
    its time in the dense product of the whole image with a 32-row matrix."""
    half, unit = float(2 ** (_PRECISION_BITS - 1)), float(2**_PRECISION_BITS)
    ext = mih()

    def rows(x: np.ndarray, n_out: int) -> np.ndarray:  # x @ m.T, m: n_out x x.shape[1]
        h, w = x.shape
        starts, weights, width = _lanczos_band(w, n_out)
        sums = ext.band_rows(np.ascontiguousarray(x, dtype=np.float32), h, w, starts, weights, width)
        return np.clip(
            np.floor((np.frombuffer(sums, dtype=np.float64).reshape(h, n_out) + half) / unit), 0, 255
        )

    def cols(x: np.ndarray, n_out: int) -> np.ndarray:  # m @ x, m: n_out x x.shape[0]
        n, m = x.shape
        starts, weights, width = _lanczos_band(n, n_out)
        sums = ext.band_cols(np.ascontiguousarray(x, dtype=np.float32), n, m, starts, weights, width)
        return np.clip(
            np.floor((np.frombuffer(sums, dtype=np.float64).reshape(n_out, m) + half) / unit), 0, 255
        )

    if vertical_first:
        return rows(cols(luma, out[1]), out[0])
    return cols(rows(luma, out[0]), out[1])


def jarosz_buffer64(luma: np.ndarray, full_size: tuple[int, int], scale: int) -> np.ndarray:
    """PDQ's 64 x 64 buffer (two Jarosz box passes and decimation per axis) of the full-resolution image, from
    its draft luma, in float32."""
    full_w, full_h = full_size
    h, w = luma.shape
    if full_w == PDQ_SIDE and full_h == PDQ_SIDE and scale == 1:
        return luma.astype(np.float32)
    my = _jarosz_matrix64(full_h, scale, h)
    return (my @ _rows_downscale(luma, full_w, scale)).astype(np.float32)
