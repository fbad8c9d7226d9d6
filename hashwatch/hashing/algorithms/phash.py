"""pHash (imagehash 4.3.2 ``phash``, hash_size 8): a 32 x 32 Lanczos thumbnail of luma, its 2-D DCT, the 8 x 8
lowest frequencies above their median.

Of a picture (:func:`phash_from_luma`): the thumbnail is Pillow's resize emulated on the JPEG draft
(:mod:`hashwatch.hashing.draft_resample`); on an undrafted image it equals ``imagehash.phash`` bit for bit
(tested). Of a query-side candidate (:meth:`PHashType.hash_buffer`): from PDQ's 64 x 64 buffer of the
candidate, resized to 32 x 32 by the same Lanczos weights and transformed by the same DCT, both folded into
one 8 x 64 matrix: an approximation of pHash that costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from hashwatch.hashing.hash_types import HashResult, HashType, IndexKind, Source, bits_to_hex

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.decode import DecodedImage

__all__ = ["PHashType", "phash_bits_hex", "phash_dct_matrix", "phash_from_luma"]


class PHashType(HashType):
    """imagehash.phash of the picture; also hashes query-side candidates."""

    name = "phash"
    bits = 64
    index_kind = IndexKind.HAMMING
    # The detection-quality evaluation (docs/evaluation.md): at 10, 5 false matches in 8.3 million
    # comparisons (clip art against wallpapers); the nearest non-matching pair is at 6. At 4: none, and 96.5 %
    # recall on the edits hashes are made for (99.5 % at 10).
    default_threshold = 4
    computed_from = Source.PICTURE
    own_column = True
    query_candidates = True
    description = "pHash (imagehash 4.3.2 phash, hash_size=8): DCT of a 32x32 luma thumbnail"

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        if decoded is None or decoded.image is None:
            return HashResult(None)
        return HashResult(phash_from_luma(decoded.luma, decoded.full_size, decoded.draft_scale))

    def hash_buffer(self, buffer64: np.ndarray, *, dct: np.ndarray | None = None, gate: bool = True) -> str:
        dr, dr_t = _buffer_projection()
        return phash_bits_hex(dr @ buffer64 @ dr_t)[0]  # the 8 x 8 low frequencies of the 32 x 32 thumbnail

    def hash_buffers(self, buffers: np.ndarray, dcts: Sequence[np.ndarray | None]) -> list[str]:
        dr, dr_t = _buffer_projection()
        return phash_bits_hex(dr @ buffers @ dr_t)


def phash_bits_hex(low: np.ndarray) -> list[str]:
    """pHash's bits: each 8 x 8 block of low frequencies (a stack, or one block) above its median."""
    flat = np.asarray(low).reshape(-1, 64)
    if flat.shape[0] == 1:  # one block (a picture, a single candidate): 1-D calls, 6 us instead of 11
        row = flat[0]
        mid = np.partition(row, (31, 32))  # the median of 64 values, as numpy's median computes it
        return [np.packbits(row > (mid[31] + mid[32]) / 2).tobytes().hex()]
    mid = np.partition(flat, (31, 32), axis=1)
    return bits_to_hex(flat > ((mid[:, 31] + mid[:, 32]) / 2)[:, None])


@lru_cache(maxsize=1)
def phash_dct_matrix() -> np.ndarray:
    """The first 8 rows of the unnormalised type-II DCT over 32 samples (``scipy.fftpack.dct``), as a matrix."""
    k = np.arange(8)[:, None]
    n = np.arange(32)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / 64)


def phash_from_luma(luma: np.ndarray, full_size: tuple[int, int], scale: int) -> str:
    """imagehash.phash (hash_size 8) of the full-resolution image, from its draft luma (float32, h x w)."""
    import scipy.fftpack

    from hashwatch.hashing.draft_resample import pillow_resize

    pixels = pillow_resize(luma, full_size, (32, 32), scale)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
    return phash_bits_hex(dct[:8, :8])[0]


@lru_cache(maxsize=1)
def _buffer_projection() -> tuple[np.ndarray, np.ndarray]:
    """``phash_dct_matrix() @ (Lanczos 64 -> 32)`` (8 x 64) and its transpose, computed once (read-only)."""
    from hashwatch.hashing.draft_resample import lanczos_weights

    dr = phash_dct_matrix() @ lanczos_weights(64, 32)
    dr_t = dr.T
    dr.flags.writeable = False
    dr_t.flags.writeable = False
    return dr, dr_t
