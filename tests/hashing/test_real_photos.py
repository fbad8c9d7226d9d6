"""Slow tests on real photos from Debian packages (fetched and cached by hashwatch/evaluation/photo_corpus.py).

They skip, with the reason, where the photos cannot be fetched (no apt-get or no mirror). CI runs them.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

pytestmark = pytest.mark.slow

TRANSPOSE = {  # PDQ's dihedral variant names as Pillow transposes (checked in test_variant_names_...)
    "rot90": Image.Transpose.ROTATE_90,
    "rot180": Image.Transpose.ROTATE_180,
    "rot270": Image.Transpose.ROTATE_270,
    "flipx": Image.Transpose.FLIP_TOP_BOTTOM,
    "flipy": Image.Transpose.FLIP_LEFT_RIGHT,
    "flip_plus1": Image.Transpose.TRANSPOSE,
    "flip_minus1": Image.Transpose.TRANSVERSE,
}


def _corpus(**kwargs):
    from hashwatch.evaluation.photo_corpus import PhotoCorpusUnavailable, photos

    try:
        return photos(**kwargs)
    except PhotoCorpusUnavailable as exc:
        pytest.skip(f"photo corpus unavailable: {exc}")


def test_draft_tolerance_on_real_photos():
    """pHash/dHash within 2 bits and PDQ within 10 bits of the full-resolution hashes (issue 2's tolerance)
    for at least 98 % of the photos (measured: 441 of 442 over all six packages, 83 of 84 in this default
    subset; the exception is after-the-rain.jpg, dHash 3 bits), and never far off for any."""
    from benchmarks.draft_tolerance import measure_drift

    paths = [p.path for p in _corpus(formats=["JPEG"], min_side=256) if p.width * p.height <= 12_000_000]
    assert len(paths) >= 40
    drifts = measure_drift(paths, [256])
    within = [d.phash <= 2 and d.dhash <= 2 and (d.pdq or 0) <= 10 for d in drifts]
    assert sum(within) / len(within) >= 0.98, [d for d in drifts if not (d.phash <= 2 and d.dhash <= 2)]
    assert max(d.phash for d in drifts) <= 4
    assert max(d.dhash for d in drifts) <= 4
    assert max(d.pdq or 0 for d in drifts) <= 16


def test_variant_names_are_the_pillow_transposes():
    from hashwatch.hashing.image_hashes import compute_image_hashes

    photo = _corpus(packages=["python3-skimage"], formats=["JPEG", "PNG"], min_side=300)[0]
    img = Image.open(photo.path).convert("RGB")
    base = compute_image_hashes(_png(img))
    for name, op in TRANSPOSE.items():
        moved = compute_image_hashes(_png(img.transpose(op)))
        assert _bits(moved.pdq, base.variants("pdq")[name]) <= 16, name
        assert _bits(moved.pdq, base.pdq) > 31 or name in ("rot180",), name  # the plain hash alone misses


def test_dihedral_matching_adds_no_false_matches_between_different_images():
    """Among hundreds of distinct real images, every pair that matches only through a dihedral variant is a
    real rotation/flip of the other (re-hashing the transformed image confirms it): no new false matches."""
    from hashwatch.hashing.hamming_search import brute_force_search
    from hashwatch.hashing.hash_codes import hex_to_codes
    from hashwatch.hashing.image_hashes import compute_image_hashes

    corpus = _corpus(formats=None, min_side=64)
    hashed = []
    for p in corpus:
        with open(p.path, "rb") as fh:
            h = compute_image_hashes(fh.read())
        if h.pdq:
            hashed.append((p.path, h))
    assert len(hashed) >= 300
    plain = hex_to_codes([h.pdq for _, h in hashed], 256)
    variants = hex_to_codes([v for _, h in hashed for v in h.pdq_dihedral], 256)
    qi, ci, _ = brute_force_search(plain, plain, 31)
    plain_pairs = {(min(a, b), max(a, b)) for a, b in zip(qi.tolist(), ci.tolist(), strict=True) if a != b}
    qi, ci, _ = brute_force_search(plain, variants, 31)
    new = {}
    for q, c in zip(qi.tolist(), ci.tolist(), strict=True):
        a, variant = divmod(q, 7)
        if a != c and (min(a, c), max(a, c)) not in plain_pairs:
            new[(a, c)] = variant
    from hashwatch.hashing.algorithms.pdq import DIHEDRAL_VARIANTS

    for (a, c), v in new.items():
        name = DIHEDRAL_VARIANTS[v]
        moved = Image.open(hashed[a][0]).convert("RGB").transpose(TRANSPOSE[name])
        rehashed = compute_image_hashes(_png(moved))
        assert _bits(rehashed.pdq, hashed[c][1].pdq) <= 31 + 8, (hashed[a][0], hashed[c][0], name)
    assert len(new) <= len(hashed) // 50  # a handful, not a flood


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
