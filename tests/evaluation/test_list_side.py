"""The list-side matcher of the evaluation (hashwatch.evaluation.list_side): distances over the slots, the
packed list code, hashwatch's rule over a set of variants, the greedy choice, and a synthetic rotated copy
that only the list's variants find. Synthetic pictures only."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from hashwatch.evaluation.edits import KnownSettings
from hashwatch.evaluation.list_side import (
    ListSideMatcher,
    SlotDistances,
    _variant_task,
    greedy_variants,
    rule_hits,
    slot_distances,
)
from hashwatch.evaluation.matchers import HammingMatcher, codes_from_hex
from hashwatch.evaluation.runner import ImageSource
from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes


def _random_hex(rng, bits: int, n: int) -> list[str]:
    return [bytes(rng.integers(0, 256, bits // 8, dtype=np.uint8)).hex() for _ in range(n)]


def test_distance_is_the_smallest_over_query_rows_and_slots():
    rng = np.random.default_rng(3)
    slots = ("original", "rot90", "crop-center@10")
    m = ListSideMatcher("pdq", slots, dihedral=True)
    n_known, n_queries = 5, 4
    values = [dict(zip(slots, _random_hex(rng, 256, 3), strict=True)) for _ in range(n_known)]
    known = np.stack([m.known_code_from(v) for v in values])
    assert known.shape == (n_known, 3 * 4) and m.words == 12
    rows = codes_from_hex(_random_hex(rng, 256, 7), 256)
    owners = np.array([0, 0, 1, 2, 2, 2, 3])
    got = m.distances(rows, owners, n_queries, known)
    for q in range(n_queries):
        for k in range(n_known):
            brute = min(
                int(np.bitwise_count(rows[i] ^ codes_from_hex([values[k][s]], 256)[0]).sum())
                for i in np.flatnonzero(owners == q)
                for s in slots
            )
            assert got[q, k] == brute
    slot_d = m.slot_distances(rows, owners, n_queries, known)
    assert slot_d.shape == (3, n_queries, n_known)
    assert (slot_d.min(axis=0) == got).all()
    # slot 0 alone is the plain matcher's distance
    plain = HammingMatcher("pdq", dihedral=True)
    assert (slot_d[0] == plain.distances(rows, owners, n_queries, known[:, :4])).all()


def test_a_missing_variant_repeats_the_original_and_no_original_is_no_code():
    m = ListSideMatcher("phash", ("original", "rot90"))
    code = m.known_code_from({"original": "00000000000000ff"})
    assert (code[0] == code[1]).all()
    assert m.known_code_from({"rot90": "00000000000000ff"}) is None
    with pytest.raises(ValueError, match="original"):
        ListSideMatcher("phash", ("rot90",))
    with pytest.raises(NotImplementedError):
        m.known_code(compute_image_hashes(b"not an image"))


def _sd(own: np.ndarray, other: np.ndarray, distractor: np.ndarray) -> SlotDistances:
    return SlotDistances(ListSideMatcher("pdq", ("original", "a", "b")), {"e": own}, {"e": other}, distractor)


def _by_type(pdq_own, phash_own=None, dhash_own=None, pdq_distractor=None):
    """Slots (original, a, b); 2 known pictures; one edit ``e``; one distractor."""
    far = np.full((3, 2), 200, np.uint8)
    other = np.full((3, 2, 2), 200, np.uint8)
    dist = np.full((3, 1, 2), 200, np.uint8)
    return {
        "pdq": _sd(pdq_own, other, pdq_distractor if pdq_distractor is not None else dist),
        "phash": _sd(phash_own if phash_own is not None else far, other, dist),
        "dhash": _sd(dhash_own if dhash_own is not None else far, other, dist),
    }


def test_rule_counts_a_copy_found_by_a_variant_only_with_it():
    pdq = np.array([[60, 10], [20, 200], [200, 200]], np.uint8)  # copy 0 near slot a only
    by_type = _by_type(pdq)
    not_counted = np.eye(2, dtype=bool)
    found, fk, fd, fq = rule_hits(by_type, [0], not_counted)
    assert found["e"].tolist() == [False, True]
    found, _, _, _ = rule_hits(by_type, [0, 1], not_counted)
    assert found["e"].tolist() == [True, True]


def test_phash_counts_only_with_the_same_pictures_dhash_within_10():
    pdq = np.full((3, 2), 200, np.uint8)
    phash = np.array([[3, 3], [200, 200], [200, 200]], np.uint8)
    dhash = np.array([[9, 11], [200, 200], [200, 200]], np.uint8)
    found, *_ = rule_hits(_by_type(pdq, phash, dhash), [0], np.eye(2, dtype=bool))
    assert found["e"].tolist() == [True, False]


def test_greedy_takes_the_best_variant_and_refuses_one_with_a_false_match():
    pdq = np.array([[60, 60], [10, 200], [10, 10]], np.uint8)  # b finds both copies, a one
    distractor = np.full((3, 1, 2), 200, np.uint8)
    distractor[2, 0, 1] = 5  # ... but b also matches the distractor
    by_type = _by_type(pdq, pdq_distractor=distractor)
    picked = greedy_variants(by_type, ("original", "a", "b"), np.eye(2, dtype=bool))
    assert picked == [("a", 1)]
    distractor[2, 0, 1] = 200
    assert greedy_variants(by_type, ("original", "a", "b"), np.eye(2, dtype=bool)) == [("b", 2)]


def _picture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray((rng.random((6, 8, 3)) * 255).astype("uint8")).resize((480, 360), Image.BICUBIC)
    fine = Image.fromarray((rng.random((24, 32, 3)) * 255).astype("uint8")).resize((480, 360), Image.BICUBIC)
    return Image.blend(coarse, fine, 0.35)


def test_the_list_variants_find_a_rotated_copy_the_original_alone_does_not():
    sources = []
    for seed in (1, 2):
        buf = io.BytesIO()
        _picture(seed).save(buf, format="PNG")
        sources.append(ImageSource(f"key{seed}", f"p{seed}", "synthetic", data=buf.getvalue()))
    variants = ("rotate-canvas-4", "rotate-canvas+4", "rot90")
    slots = ("original", *variants)
    m = ListSideMatcher("pdq", slots, dihedral=True)
    entries = [_variant_task((s, KnownSettings(), variants, None))[1] for s in sources]
    known = np.stack([m.known_code_from(e["values"]["pdq"]) for e in entries])
    copies = []
    for seed in (1, 2):
        buf = io.BytesIO()
        _picture(seed).rotate(-5, resample=Image.BICUBIC, fillcolor=(0, 0, 0)).save(buf, "JPEG", quality=90)
        hashes = compute_image_hashes(buf.getvalue(), HashConfig(candidates=()))
        copies.append(m.query_codes(hashes, buf.getvalue()))
    sd = slot_distances(m, known, {"rotate-5": copies}, [])
    own = sd.own["rotate-5"]
    assert (own[0] > m.current_threshold).all()  # the plain list misses both copies
    assert (own.min(axis=0) <= m.current_threshold).all()  # the variants find them
    assert sd.other["rotate-5"].shape == (4, 2, 2) and sd.distractor.shape == (4, 0, 2)


def test_the_held_back_plug_in_fuses_list_slots_as_the_product_rule_does():
    """hashwatch.evaluation.list_side:matchers (hashwatch eval --matchers ...): the known code holds every
    variant the list would (from the original's bytes, as the runner hands them), a query row fits its
    any-of slot, and each part's distance is the smallest over the list slots, checked by brute force."""
    from hashwatch.evaluation.list_side import HarnessListSideMatcher, matchers
    from hashwatch.evaluation.matchers import AnyOfMatcher
    from hashwatch.hashing.list_from_images import DEFAULT_VARIANTS, picture_rows
    from hashwatch.sites.synthetic_images import encode, synthetic_photo

    (fused,) = matchers()
    assert isinstance(fused, AnyOfMatcher) and fused.corroborated_by == {1: 2}
    assert all(isinstance(p, HarnessListSideMatcher) for p in fused.parts)
    originals = [encode(synthetic_photo(seed, (480, 360)), "JPEG") for seed in (5, 6)]
    copies = [
        encode(Image.open(io.BytesIO(o)).rotate(3, resample=Image.BICUBIC).crop((30, 30, 450, 330)), "JPEG")
        for o in originals
    ]
    config = HashConfig()
    parts_known = [
        [p.known_code_with_data(compute_image_hashes(o, config), o) for o in originals] for p in fused.parts
    ]
    known = np.stack([fused.known_from_parts([codes[i] for codes in parts_known]) for i in range(2)])
    rows, owners = [], []
    for q, c in enumerate(copies):
        r = fused.query_codes(compute_image_hashes(c, config), c)
        rows.append(r)
        owners += [q] * r.shape[0]
    rows = np.concatenate(rows)
    got = fused.part_distances(rows, np.array(owners), 2, known)
    for part, dist in zip(fused.parts, got, strict=True):
        for i, o in enumerate(originals):
            listed, _ = picture_rows(o, "x", DEFAULT_VARIANTS)
            values = codes_from_hex(
                [r.hash_value for r in listed if r.hash_type == part.hash_type], part.bits
            )
            assert len(values) > 1  # the variants are on the list
            for q, c in enumerate(copies):
                query = part.base.query_codes(compute_image_hashes(c, config), c)
                want = min(int(np.bitwise_count(row ^ value).sum()) for row in query for value in values)
                assert dist[q, i] == want, (part.name, q, i)
