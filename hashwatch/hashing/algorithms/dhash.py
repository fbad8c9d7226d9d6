"""dHash (imagehash 4.3.2 ``dhash``, hash_size 8): a 9 x 8 Lanczos thumbnail of luma, each pixel brighter than
its left neighbour. Computed like pHash from the JPEG draft; equals ``imagehash.dhash`` on an undrafted image
(tested)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hashwatch.hashing.hash_types import HashResult, HashType, IndexKind, Source, bits_to_hex

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.decode import DecodedImage

__all__ = ["DHashType", "dhash_from_luma"]


class DHashType(HashType):
    """imagehash.dhash of the picture."""

    name = "dhash"
    bits = 64
    index_kind = IndexKind.HAMMING
    # Not matched unless asked: the detection-quality evaluation (docs/evaluation.md) found no threshold
    # without false matches. Flat gradients, glows and stripes share the dHash 0000000000000000 (9 pairs of
    # different images at distance 0); at 10, 7,407 false matches in 8.3 million comparisons. When asked for,
    # exact equality.
    default_threshold = 0
    match_by_default = False
    computed_from = Source.PICTURE
    own_column = True
    description = "dHash (imagehash 4.3.2 dhash, hash_size=8): horizontal gradient signs of a 9x8 thumbnail"

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        if decoded is None or decoded.image is None:
            return HashResult(None)
        return HashResult(dhash_from_luma(decoded.luma, decoded.full_size, decoded.draft_scale))


def dhash_from_luma(luma: np.ndarray, full_size: tuple[int, int], scale: int) -> str:
    """imagehash.dhash (hash_size 8) of the full-resolution image, from its draft luma."""
    from hashwatch.hashing.draft_resample import pillow_resize

    pixels = pillow_resize(luma, full_size, (9, 8), scale)
    return bits_to_hex((pixels[:, 1:] > pixels[:, :-1]).reshape(1, 64))[0]
