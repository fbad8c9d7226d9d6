"""Which query-side candidate families (:mod:`hashwatch.hashing.candidates`) hashwatch computes and matches by
default: those the detection-quality evaluation showed to add no false match (docs/evaluation.md, "Beyond the
reference hashes").

Kept out of :mod:`hashwatch.hashing.candidates` on purpose: the evaluation's hash cache is keyed by that
module's source, and the defaults do not change any code it computes (the evaluation names its families
explicitly), so changing them must not throw the cache away.
"""

from __future__ import annotations

__all__ = ["DEFAULT_CANDIDATE_FAMILIES", "DEFAULT_CANDIDATE_HASH_TYPES"]

# Issue 23, chosen on the tuning half of the held-back evaluation (docs/evaluation.md, "Held-back
# evaluation"): `unbanded` (bands painted over the picture: band family 38.7 -> 56.1 % on tuning, no false
# match) and `regions` (pictures inside a screenshot or a collage: 0 -> 91.8 % and 0 -> 91.0 % on tuning; its
# only matches on negatives were OpenCV tutorial figures that contain a known sample, relabelled
# DERIVED_FROM_KNOWN) are on; `rescaled` is off (crop+rescale 11.7 -> 11.7 % on tuning: no gain for its cost).
DEFAULT_CANDIDATE_FAMILIES: tuple[str, ...] = (
    "trimmed",
    "uncaptioned",
    "dihedral_real",
    "deskew",
    "extended",
    "unbanded",
    "regions",
)

# The hash types whose candidates are matched by default. PDQ only: with every family, PDQ at 31 added no
# false match over 44.5 million comparisons, while pHash's candidates at 4 added 20 (its plain hash had 3);
# pHash candidates are still computed and kept in images/ for whoever asks.
DEFAULT_CANDIDATE_HASH_TYPES: tuple[str, ...] = ("pdq",)
