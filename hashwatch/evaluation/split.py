"""The tuning half and the held-back half of the image evaluation (issue 23), fixed by a seed.

Every threshold, candidate and rule is chosen on the *tuning* half; the *held-back* half is only reported
(its figure is the headline). Two things are split:

* **pictures**: the known originals, by group (a photo series of :data:`~hashwatch.evaluation.corpus.SAME_SCENE`
  is one group, so two shots of one scene never straddle the halves; any other picture is a group of its
  own). A group's half is one bit of SHA-256 of ``seed/group``: it never depends on which other pictures
  are in the corpus (a hashing change that gains or loses a known picture moves no other picture), at the
  price of halves balanced only as coin tosses are (274 pictures: 153 and 121 would be an unlucky deal;
  the counts are reported);
* **edit parameters**: an edit draws its parameters from its range with :func:`edit_rng`, seeded by the
  half, the picture and the edit, so a held-back copy's rotation angle, band height or crop was never seen
  while tuning, though both halves draw from the same written ranges.

Example::

    tuning, held_back = split_known(corpus.known)
    rng = edit_rng(HELD_BACK, source.label, "rotate_cropped")
    angle = rng.uniform(0.5, 6.0)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.evaluation.runner import ImageSource

__all__ = ["HALVES", "HELD_BACK", "SPLIT_SEED", "TUNING", "edit_rng", "group_of", "half_of", "split_known"]

TUNING = "tuning"
HELD_BACK = "held-back"
HALVES = (TUNING, HELD_BACK)
# Changing it re-deals both halves: never change it to make a figure look better.
SPLIT_SEED = "hashwatch-eval-split-2026-12"


def group_of(source: ImageSource) -> str:
    """The split's unit: the photo series a picture belongs to, else the picture itself."""
    scene = getattr(source, "scene", None)
    return f"scene:{scene}" if scene else f"picture:{source.label}"


def half_of(source: ImageSource, seed: str = SPLIT_SEED) -> str:
    """The half a known picture belongs to (module docstring)."""
    return HALVES[hashlib.sha256(f"{seed}/{group_of(source)}".encode()).digest()[0] & 1]


def split_known(
    known: Sequence[ImageSource], seed: str = SPLIT_SEED
) -> tuple[list[ImageSource], list[ImageSource]]:
    """(tuning, held_back), each in the order given. Deterministic for a seed; a picture's half depends on
    its group alone."""
    halves = [half_of(s, seed) for s in known]
    tuning = [s for s, h in zip(known, halves, strict=True) if h == TUNING]
    held = [s for s, h in zip(known, halves, strict=True) if h == HELD_BACK]
    return tuning, held


def edit_rng(half: str, picture: str, edit: str, seed: str = SPLIT_SEED) -> np.random.Generator:
    """The random draws of one edit of one picture in one half (module docstring)."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {', '.join(HALVES)}, not {half!r}")
    digest = hashlib.sha256(f"{seed}/{half}/{picture}/{edit}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))
