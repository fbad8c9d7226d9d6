"""PDQ (Meta; ThreatExchange's reference C++, pdqhash 0.2.8): 256 bits, a quality 0-100, 7 dihedral variants.

The reference's steps (``pdq/cpp/hashing/pdqhashing.cpp``): float luma of the RGB picture
(:func:`pdq_luma_from_rgb`, ``DecodedImage.pdq_luma``), Jarosz downscale to 64 x 64, the quality metric, a
16 x 16 DCT, each coefficient above the median. The downscale is emulated on the JPEG draft
(:func:`hashwatch.hashing.draft_resample.jarosz_buffer64`, on libjpeg's 8-bit Y); on an undrafted image the
result equals ``pdqhash.compute`` on the RGB picture up to float rounding at ties (tested; measured in
docs/hashing.md, "PDQ against pdqhash"). The dihedral variants come from the same DCT by the reference's sign/transpose
rules (``dct16OriginalTo*``), so one computation yields all 8 hashes. Query-side candidates
(:mod:`hashwatch.hashing.candidates`) hand their own 64 x 64 buffers to :meth:`PdqHashType.hash_buffer`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from hashwatch.hashing.hash_types import HashResult, HashType, IndexKind, Source, bits_to_hex

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.decode import DecodedImage

__all__ = [
    "DIHEDRAL_VARIANTS",
    "PDQ_QUALITY_THRESHOLD",
    "PdqHashType",
    "pdq_dct",
    "pdq_dct_and_quality",
    "pdq_dct_matrix",
    "pdq_dihedral_dcts",
    "pdq_hex",
    "pdq_luma_from_rgb",
    "pdq_quality",
]

# Names of PDQ's 7 non-trivial dihedral variants, in the order the pdq_dihedral column stores them. A variant
# is the hash the image would have after that transform: "rot90" = rotated 90 degrees counter-clockwise, as in
# ThreatExchange's reference (pdqhashing.cpp: Rotate90, Rotate180, Rotate270, FlipX, FlipY, FlipPlus1,
# FlipMinus1).
DIHEDRAL_VARIANTS: tuple[str, ...] = (
    "rot90",
    "rot180",
    "rot270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)

PDQ_QUALITY_THRESHOLD = 50
_MIN_HASHABLE_DIM = 5  # pdqhashing.cpp MIN_HASHABLE_DIM


class PdqHashType(HashType):
    """PDQ of the picture, its quality (below 50: no hash) and its 7 dihedral variants (``dihedral``)."""

    name = "pdq"
    bits = 256
    index_kind = IndexKind.HAMMING
    default_threshold = 31  # ThreatExchange's PDQ_CONFIDENT_MATCH_THRESHOLD
    computed_from = Source.PICTURE
    min_quality = PDQ_QUALITY_THRESHOLD
    own_column = True
    quality_column = "pdq_quality"
    variants_column = "pdq_dihedral"
    variant_names = DIHEDRAL_VARIANTS
    query_candidates = True
    description = (
        "PDQ (Meta, via pdqhash 0.2.8), its quality and 7 dihedral variants; quality < 50 gives no hash"
    )

    def __init__(self, dihedral: bool = True) -> None:
        self.dihedral = dihedral

    def without_variants(self) -> PdqHashType:
        return PdqHashType(dihedral=False) if self.dihedral else self

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        if decoded is None or decoded.image is None:
            return HashResult(None)
        dct, quality = pdq_dct_and_quality(decoded.pdq_luma, decoded.full_size, decoded.draft_scale)
        if quality < PDQ_QUALITY_THRESHOLD:
            return HashResult(None, quality)
        if not self.dihedral:
            return HashResult(pdq_hex(dct)[0], quality)
        plain, *variants = pdq_hex(np.stack([dct, *pdq_dihedral_dcts(dct)]))
        return HashResult(plain, quality, dict(zip(DIHEDRAL_VARIANTS, variants, strict=True)))

    def hash_buffer(
        self, buffer64: np.ndarray, *, dct: np.ndarray | None = None, gate: bool = True
    ) -> str | None:
        if gate and pdq_quality(buffer64) < PDQ_QUALITY_THRESHOLD:
            return None
        return pdq_hex(pdq_dct(buffer64) if dct is None else dct)[0]

    def hash_buffers(self, buffers: np.ndarray, dcts: Sequence[np.ndarray | None]) -> list[str]:
        dcts = list(dcts)
        missing = [i for i, dct in enumerate(dcts) if dct is None]
        if missing:
            for i, dct in zip(missing, pdq_dct(buffers[missing]), strict=True):
                dcts[i] = dct
        return pdq_hex(np.stack(dcts))


@lru_cache(maxsize=1)
def pdq_dct_matrix() -> np.ndarray:
    """PDQ's 16 x 64 DCT matrix (pdqhashing.cpp dct_matrix_64), in float32 as the reference computes it."""
    i = np.arange(16)[:, None]
    j = np.arange(64)[None, :]
    m = math.sqrt(2.0 / 64) * np.cos((math.pi / 2.0 / 64) * (i + 1) * (2 * j + 1))
    return m.astype(np.float32)


def pdq_dct(buffer64: np.ndarray) -> np.ndarray:
    """The 16 x 16 DCT of a 64 x 64 buffer (or of each of a stack), in float32."""
    d = pdq_dct_matrix()
    return d @ np.asarray(buffer64, dtype=np.float32) @ d.T


def pdq_hex(dcts: np.ndarray) -> list[str]:
    """PDQ's bits of each 16 x 16 DCT (a stack, or one): above the median (pdqBuffer16x16ToBits)."""
    flat = np.asarray(dcts).reshape(-1, 256)
    # The hex string's first bit is coefficient (15, 15), its last (0, 0): reverse the row-major order.
    if flat.shape[0] == 1:  # one DCT (a single candidate): 1-D calls, 8 us instead of 12
        row = flat[0]
        return [np.packbits(row[::-1] > np.partition(row, 127)[127]).tobytes().hex()]
    median = np.partition(flat, 127, axis=1)[:, 127:128]  # torben(): the lower median of 256 values
    return bits_to_hex(flat[:, ::-1] > median)


def pdq_quality(buffer64: np.ndarray) -> int:
    """pdqImageDomainQualityMetric: summed vertical and horizontal gradients, scaled to 0..100."""
    b = buffer64.astype(np.float32)
    dv = np.trunc((b[:-1, :] - b[1:, :]) * np.float32(100) / np.float32(255)).astype(np.int64)
    dh = np.trunc((b[:, :-1] - b[:, 1:]) * np.float32(100) / np.float32(255)).astype(np.int64)
    total = int(np.abs(dv).sum() + np.abs(dh).sum())
    return min(total // 90, 100)


# pdqhash 0.2.8 (bindings.pyx compute): ``(image[:, :, 0]*0.299 + image[:, :, 1]*0.587 + image[:, :, 2]*0.114)
# .astype('float32')`` on the uint8 RGB array, i.e. float64 products summed left to right, then float32. The
# C++ reference's fillFloatLumaFromBufferImage uses the same weights.
_LUMA_BLOCK = 1 << 16  # pixels per block: 512 KB float64 temporaries (the fastest of 2^14-2^20 measured)


def pdq_luma_from_rgb(rgb) -> np.ndarray:
    """PDQ's float luma of an RGB picture (PIL image or uint8 array, channels after the third ignored),
    bit-identical to pdqhash's: ``float32(0.299 R + 0.587 G + 0.114 B)`` summed in float64, not rounded to
    8 bits as Pillow's ``convert("L")`` is::

        >>> pdq_luma_from_rgb(np.array([[[255, 0, 0], [10, 20, 30]]], np.uint8))
        array([[76.245, 18.15 ]], dtype=float32)

    The same operations in the same order as numpy on the whole array, in blocks of pixels, so a 40 MP
    picture needs no 960 MB of float64 temporaries; 3 ms for 0.63 MP where ``convert("L")`` takes 0.5 ms
    (10-20 % of hashing a PNG or WebP: docs/benchmarks.md, "PDQ colour path")."""
    arr = np.asarray(rgb)
    h, w = arr.shape[:2]
    flat = arr.reshape(h * w, arr.shape[2])
    out = np.empty(h * w, np.float32)
    for start in range(0, h * w, _LUMA_BLOCK):
        block = flat[start : start + _LUMA_BLOCK].astype(np.float64)
        y = block[:, 0] * 0.299
        y += block[:, 1] * 0.587
        y += block[:, 2] * 0.114
        out[start : start + _LUMA_BLOCK] = y
    return out.reshape(h, w)


def pdq_dct_and_quality(luma: np.ndarray, full_size: tuple[int, int], scale: int) -> tuple[np.ndarray, int]:
    """PDQ's 16 x 16 DCT output and quality for the full-resolution image, from its draft luma (ungated: the
    references print a hash at any quality)."""
    from hashwatch.hashing.draft_resample import jarosz_buffer64

    if min(full_size) < _MIN_HASHABLE_DIM:
        return np.zeros((16, 16), np.float32), 0
    buffer64 = jarosz_buffer64(luma, full_size, scale)
    return pdq_dct(buffer64), pdq_quality(buffer64)


def pdq_dihedral_dcts(a: np.ndarray) -> list[np.ndarray]:
    """The 16 x 16 DCT of each dihedral variant, in :data:`DIHEDRAL_VARIANTS` order, from the original's
    (pdqhashing.cpp dct16OriginalTo*): sign changes and transposes, exact."""
    i = np.arange(16)[:, None]
    j = np.arange(16)[None, :]
    odd_i = (i & 1).astype(bool)
    odd_j = (j & 1).astype(bool)
    odd_ij = ((i + j) & 1).astype(bool)
    return [
        np.where(odd_j, a, -a).T,  # rot90: B[j][i] = A[i][j] if j odd else -A[i][j]
        np.where(odd_ij, -a, a),  # rot180
        np.where(odd_i, a, -a).T,  # rot270
        np.where(odd_i, a, -a),  # flipx
        np.where(odd_j, a, -a),  # flipy
        a.T,  # flip_plus1
        np.where(odd_ij, -a, a).T,  # flip_minus1
    ]
