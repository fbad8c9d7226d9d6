"""The evaluation in small: synthetic photos through one or two strengths of every edit family.

Pins minimum recall per edit family and zero false matches at hashwatch's default thresholds, so a regression
in decoding or hashing fails CI; cross-checks the harness's brute-force distances against the real compiled
index (KnownHashIndex.match_many); checks the hash cache holds hashes only and is used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from hashwatch.evaluation.edits import QUICK_EDIT_IDS, KnownSettings, make_known_original, select_edits
from hashwatch.evaluation.matchers import AnyOfMatcher, CandidateMatcher, HammingMatcher, default_matchers
from hashwatch.evaluation.metrics import choose_threshold, false_matches, recall_at
from hashwatch.evaluation.product import ISSUE_9_EDITS
from hashwatch.evaluation.report import family_edits, write_report
from hashwatch.evaluation.runner import (
    ImageSource,
    hash_known_set,
    hash_plain,
    summarise,
)
from hashwatch.hashing.candidates import CANDIDATE_FAMILIES
from hashwatch.sites.synthetic_images import encode, synthetic_photo

KNOWN_SEEDS = range(8)
# The quick suite, plus edits only query-side candidates find (issue 9): a white frame, a caption band, a
# 5 % crop and a 5-degree turn.
CANDIDATE_EDIT_IDS = ("border_white@10", "caption@10", "crop_center@5", "rotate@5")
EDITS = select_edits([*QUICK_EDIT_IDS, *CANDIDATE_EDIT_IDS])

# Minimum recall per edit family (measured on these images; 1.0 = every copy found), at hashwatch's default
# thresholds, except dHash: it is not matched by default (docs/evaluation.md), so it is pinned at 10 bits as a
# reference. Families the reference hashes are not built for (border, overlay, small rotations) are measured
# by the full evaluation (docs/evaluation.md), not pinned here for the plain hashes; the candidate matchers
# (issue 9) are pinned on them.
MIN_RECALL = {
    "pdq": {
        "original": 1.0,
        "resize": 1.0,
        "re-encode": 1.0,
        "crop": 0.5,  # every 2 % crop, no 5 % crop
        "colour": 1.0,
        "blur/sharpen": 1.0,
        "noise": 1.0,
        "stretch": 1.0,
        "screenshot": 1.0,
        "flip": 0.0,
        "rotate 90": 0.0,
    },
    "pdq-dihedral": {"resize": 1.0, "re-encode": 1.0, "colour": 1.0, "flip": 1.0, "rotate 90": 1.0},
    "phash": {
        "resize": 1.0,
        "re-encode": 1.0,
        "colour": 0.85,
        "blur/sharpen": 1.0,
        "noise": 1.0,
        "screenshot": 1.0,
    },
    # Query-side candidates (issue 9): frames, a caption band, a 5 % crop, flips, turns and small rotations.
    # "overlay" holds a logo (no candidate undoes it) and a caption band; "rotate small" misses one copy.
    "pdq+all": {
        "resize": 1.0,
        "re-encode": 1.0,
        "colour": 1.0,
        "crop": 1.0,
        "border": 1.0,
        "overlay": 0.5,
        "flip": 1.0,
        "rotate 90": 1.0,
        "rotate small": 0.85,
    },
    "phash+all": {
        "crop": 1.0,
        "border": 1.0,
        "overlay": 0.75,
        "flip": 1.0,
        "rotate 90": 1.0,
        "rotate small": 0.85,
    },
    "dhash": {
        "resize": 1.0,
        "re-encode": 1.0,
        "colour": 1.0,
        "blur/sharpen": 1.0,
        "noise": 1.0,
        "screenshot": 1.0,
    },
}
THRESHOLD = {"dhash": 10}  # the others: hashwatch's default


def _threshold(summary) -> int:
    return THRESHOLD.get(summary.matcher, summary.current_threshold)


def _source(data: bytes, label: str) -> ImageSource:
    return ImageSource(hashlib.sha256(data).hexdigest(), label, "synthetic", data=data)


def _graphic(seed: int) -> bytes:
    """A non-photo distractor: flat colours, shapes and text on a plain background."""
    image = Image.new("RGB", (400, 300), (255, 255, 255) if seed % 2 else (30, 60, 120))
    draw = ImageDraw.Draw(image)
    for k in range(4):
        x = 30 + 80 * k + 7 * seed
        draw.rectangle((x, 40 + 10 * k, x + 50, 120 + 15 * seed % 90), fill=(200, 40 * k, 20 * seed % 255))
    draw.text((20, 250), f"distractor {seed}", fill=(0, 0, 0))
    return encode(image, "PNG")


@pytest.fixture(scope="module")
def known_sources():
    return [_source(encode(synthetic_photo(s), quality=92), f"synthetic/{s}.jpg") for s in KNOWN_SEEDS]


@pytest.fixture(scope="module")
def distractor_sources():
    photos = [_source(encode(synthetic_photo(100 + s, (500, 400))), f"other/{s}.jpg") for s in range(12)]
    graphics = [_source(_graphic(s), f"graphic/{s}.png") for s in range(6)]
    return photos + graphics


# dHash thresholds of the corroboration cross-check: the product's default (12) and a tight one (2) at which
# dHash turns some pHash matches of these copies down, so the rejecting branch is compared too.
CORROBORATING_DHASH = (12, 2)


def _corroborated(pdq_all, dhash_bits: int) -> AnyOfMatcher:
    return AnyOfMatcher(
        [pdq_all, HammingMatcher("phash"), HammingMatcher("dhash")],
        [31, 4, dhash_bits],
        f"any(pdq+all,phash&dhash@{dhash_bits})",
        corroborated_by={1: 2},
    )


def _phash_corroborated(dhash_bits: int) -> AnyOfMatcher:
    return AnyOfMatcher(
        [HammingMatcher("phash"), HammingMatcher("dhash")],
        [4, dhash_bits],
        f"phash&dhash@{dhash_bits}",
        corroborated_by={0: 1},
    )


@pytest.fixture(scope="module")
def hashed(known_sources, distractor_sources):
    """The quick suite's hashes: (known, distractors, matchers)."""
    pdq_all = CandidateMatcher("pdq", CANDIDATE_FAMILIES, name="pdq+all")
    matchers = default_matchers() + [
        pdq_all,
        CandidateMatcher("phash", CANDIDATE_FAMILIES, name="phash+all"),
    ]
    matchers += [_corroborated(pdq_all, t) for t in CORROBORATING_DHASH]
    matchers += [_phash_corroborated(t) for t in CORROBORATING_DHASH]
    known = hash_known_set(known_sources, EDITS, matchers, workers=1)
    distractors = hash_plain(distractor_sources, matchers, workers=1)
    return known, distractors, matchers


@pytest.fixture(scope="module")
def run(hashed):
    known, distractors, matchers = hashed
    return known, summarise(known, matchers, distractors)


def test_the_product_check_finds_what_the_harness_finds(hashed, run):
    """hashwatch.evaluation.product: the copies rebuilt from the cached codes, matched by KnownHashIndex with
    hashwatch's defaults on a list with item ids, give the corroborated fusion's numbers edit by edit, and
    without item ids (pHash uncorroborated) the plain fusion's; no false match on this corpus."""
    from hashwatch.evaluation.product import product_check
    from hashwatch.hashing.match_policy import MatchOptions

    known, distractors, _ = hashed
    _, summaries = run
    by_name = {s.matcher: s for s in summaries}
    n = len(known.sources)
    for with_items, options, matcher in (
        (True, MatchOptions(), "any(pdq+all,phash&dhash@12)"),
        (True, MatchOptions(corroborate={"phash": ("dhash", 2)}), "any(pdq+all,phash&dhash@2)"),
    ):
        result = product_check(known, distractors, options=options, with_item_ids=with_items)
        s = by_name[matcher]
        expected = {e: int(round(recall_at(s, 100, [e]) * n)) for e in s.edit_ids}
        assert result["found by edit"] == expected, matcher
        assert result["false matches (copies x other originals)"] == 0
        assert result["false matches (distractors x originals)"] == 0
        assert result["distractors"] == len(distractors.sources)
        assert result["corroboration"]["phash"]["corroborable"] == n
    plain = product_check(known, distractors, with_item_ids=False)
    assert plain["corroboration"]["phash"]["corroborable"] == 0
    tight = product_check(known, distractors, options=MatchOptions(corroborate={"phash": ("dhash", 2)}))
    assert plain["found"] >= tight["found"]
    # The suite share is computed over the issue's edits this run has.
    assert plain["suite edits"] == len([e for e in EDITS if e.id in ISSUE_9_EDITS])
    assert 0 < plain["suite recall"] <= 1


def test_every_synthetic_photo_is_a_known_original(run):
    known, summaries = run
    assert len(known.sources) == len(KNOWN_SEEDS) and not known.dropped
    assert all(s.n_known == len(KNOWN_SEEDS) for s in summaries)


@pytest.mark.parametrize("matcher", list(MIN_RECALL))
def test_minimum_recall_per_edit_family(run, matcher):
    _, summaries = run
    s = next(x for x in summaries if x.matcher == matcher)
    measured = {}
    for family, minimum in MIN_RECALL[matcher].items():
        ids = family_edits(family, s.edit_ids)
        assert ids, family
        measured[family] = recall_at(s, _threshold(s), ids)
        if minimum == 0.0:  # plain PDQ cannot see flips and quarter turns: the dihedral variants can
            assert measured[family] == 0.0, (family, measured)
        else:
            assert measured[family] >= minimum, (family, measured)


def test_no_false_match_at_the_defaults(run):
    _, summaries = run
    for s in summaries:
        # 8 x 7 copies x 17 edits, 18 distractors x 8. A fusion's score is capped at 400 (4x a part's threshold,
        # beyond it a pair counts as not compared): pHash @ 4 alone reaches no unrelated pair within 16 bits.
        if not s.matcher.startswith("phash&"):
            assert s.comparisons() > 1000, s.matcher
        assert false_matches(s, _threshold(s)) == 0, (s.matcher, s.closest[:3])
        assert choose_threshold(s) >= _threshold(s), s.matcher


def test_harness_agrees_with_the_compiled_index(run, known_sources, tmp_path):
    """At the same thresholds, the brute-force harness finds exactly the copies KnownHashIndex finds."""
    from hashwatch.hashing.image_hashes import compute_image_hashes
    from hashwatch.hashing.index_build import build_index
    from hashwatch.hashing.known_hash_index import KnownHashIndex
    from hashwatch.hashing.match_policy import MatchOptions

    known, summaries = run
    settings = KnownSettings()
    originals = [make_known_original(s.read(), settings) for s in known_sources]
    hashes = [compute_image_hashes(o) for o in originals]
    list_path = tmp_path / "known.csv"
    with list_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["hash_type", "hash_value", "category", "source"])
        for k, h in enumerate(hashes):
            for t in ("pdq", "phash", "dhash"):
                writer.writerow([t, getattr(h, t), f"photo{k}", "test"])
    build_index([str(list_path)], str(tmp_path / "known.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "known.hwidx"))

    copies = []
    owners = []
    for k, original in enumerate(originals):
        pixels = Image.open(io.BytesIO(original)).convert("RGB")
        for edit in EDITS:
            copies.append(compute_image_hashes(edit.apply(pixels, original)))
            owners.append(k)
    by_name = {s.matcher: s for s in summaries}
    configs = (
        (True, (), (("pdq", "pdq-dihedral"), ("phash", "phash"), ("dhash", "dhash"))),
        (False, (), (("pdq", "pdq"), ("phash", "phash"), ("dhash", "dhash"))),
        (True, CANDIDATE_FAMILIES, (("pdq", "pdq+all"), ("phash", "phash+all"))),  # query-side candidates
    )
    for dihedral, families, pairs in configs:
        options = MatchOptions(
            thresholds=THRESHOLD,
            dihedral=dihedral,
            hash_types=("pdq", "phash", "dhash"),
            candidates=families,
            candidate_hash_types=("pdq", "phash"),
        )
        found = index.match_many(copies, options)
        for hash_type, matcher in pairs:
            s = by_name[matcher]
            hits = sum(
                any(m.hash_type == hash_type and m.category == f"photo{k}" for m in matches)
                for k, matches in zip(owners, found, strict=True)
            )
            wrong = sum(
                any(m.hash_type == hash_type and m.category != f"photo{k}" for m in matches)
                for k, matches in zip(owners, found, strict=True)
            )
            assert hits == round(recall_at(s, _threshold(s)) * len(copies)), (matcher, dihedral)
            assert wrong == 0


def test_corroborated_phash_agrees_with_the_compiled_index(run, known_sources, tmp_path):
    """The product's pHash-by-dHash corroboration (a list with item ids) finds, edit by edit, exactly the
    copies the evaluation's corroborated fusion finds (the rule docs/evaluation.md measured), at the default
    dHash threshold and at one tight enough to turn matches down; without item ids it is the plain rule."""
    from hashwatch.hashing.image_hashes import compute_image_hashes
    from hashwatch.hashing.index_build import build_index
    from hashwatch.hashing.known_hash_index import KnownHashIndex
    from hashwatch.hashing.match_policy import MatchOptions

    known, summaries = run
    by_name = {s.matcher: s for s in summaries}
    settings = KnownSettings()
    originals = [make_known_original(s.read(), settings) for s in known_sources]
    hashes = [compute_image_hashes(o) for o in originals]
    indexes = {}
    for with_items in (True, False):
        list_path = tmp_path / f"known-{with_items}.csv"
        with list_path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["hash_type", "hash_value", "category", "source", "item_id"])
            for k, h in enumerate(hashes):
                for t in ("pdq", "phash", "dhash"):
                    writer.writerow(
                        [t, getattr(h, t), f"photo{k}", "test", f"item-{k}" if with_items else ""]
                    )
        build_index([str(list_path)], str(tmp_path / f"known-{with_items}.hwidx"))
        indexes[with_items] = KnownHashIndex.load(str(tmp_path / f"known-{with_items}.hwidx"))

    copies, owners, edit_of = [], [], []
    for k, original in enumerate(originals):
        pixels = Image.open(io.BytesIO(original)).convert("RGB")
        for edit in EDITS:
            copies.append(compute_image_hashes(edit.apply(pixels, original)))
            owners.append(k)
            edit_of.append(edit.id)

    def found_per_edit(index, options, types):
        found = index.match_many(copies, options)
        per_edit: dict[str, int] = {}
        for k, edit_id, matches in zip(owners, edit_of, found, strict=True):
            assert not any(m.category != f"photo{k}" for m in matches if m.hash_type in types)
            hit = any(m.hash_type in types and m.category == f"photo{k}" for m in matches)
            per_edit[edit_id] = per_edit.get(edit_id, 0) + hit
        return per_edit, found

    def expected_per_edit(summary):
        return {e: int(round(recall_at(summary, 100, [e]) * len(known_sources))) for e in summary.edit_ids}

    plain_phash = round(recall_at(by_name["phash"], 4) * len(copies))
    for bits in CORROBORATING_DHASH:
        rule = {"phash": ("dhash", bits)}
        fused = MatchOptions(
            hash_types=("pdq", "phash"),
            candidates=CANDIDATE_FAMILIES,
            candidate_hash_types=("pdq",),
            corroborate=rule,
            uncorroborated="drop",
        )
        got, _ = found_per_edit(indexes[True], fused, {"pdq", "phash"})
        expected = expected_per_edit(by_name[f"any(pdq+all,phash&dhash@{bits})"])
        assert {e: got.get(e, 0) for e in expected} == expected, bits
        alone = MatchOptions(hash_types=("phash",), candidates=(), corroborate=rule, uncorroborated="drop")
        got, found = found_per_edit(indexes[True], alone, {"phash"})
        expected = expected_per_edit(by_name[f"phash&dhash@{bits}"])
        assert {e: got.get(e, 0) for e in expected} == expected, bits
        assert all(m.corroboration and m.corroboration.startswith("dhash:") for ms in found for m in ms)
        assert all(int(m.corroboration.split(":")[1]) <= bits for ms in found for m in ms)
        if bits == 2:  # the tight threshold turns some of plain pHash's matches down
            assert sum(got.values()) < plain_phash
        # A list without item ids cannot corroborate: "keep" is the plain rule, "drop" matches no pHash.
        kept, _ = found_per_edit(
            indexes[False], MatchOptions(hash_types=("phash",), candidates=()), {"phash"}
        )
        assert sum(kept.values()) == plain_phash
        dropped = MatchOptions(hash_types=("phash",), candidates=(), uncorroborated="drop")
        assert not any(indexes[False].match_many(copies, dropped))


def test_cache_holds_hashes_only_and_is_used(known_sources, tmp_path, monkeypatch):
    from hashwatch.hashing import image_hashes

    matchers = default_matchers()
    edits = select_edits(["original", "resize@0.5", "flip_horizontal"])
    first = hash_known_set(known_sources[:2], edits, matchers, workers=1, cache_root=tmp_path)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 2 and all(p.suffix == ".json" for p in files)
    for path in files:
        raw = path.read_bytes()
        assert len(raw) < 20_000
        for magic in (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF"):
            assert magic not in raw
        entry = json.loads(raw)
        assert set(entry) == {"known", "edits", "size", "status"}

    def no_hashing(*args, **kwargs):
        raise AssertionError("hashed although every code was cached")

    monkeypatch.setattr(image_hashes, "compute_image_hashes", no_hashing)
    again = hash_known_set(known_sources[:2], edits, matchers, workers=1, cache_root=tmp_path)
    for m in matchers:
        assert (again.known[m.name] == first.known[m.name]).all()


def test_two_worker_processes_give_the_same_codes(known_sources):
    matchers = default_matchers()[:1]
    edits = select_edits(["resize@0.5", "grayscale"])
    serial = hash_known_set(known_sources[:3], edits, matchers, workers=1)
    parallel = hash_known_set(known_sources[:3], edits, matchers, workers=2)
    assert (serial.known["pdq"] == parallel.known["pdq"]).all()
    for edit_id in serial.edit_ids:
        for a, b in zip(serial.edits["pdq"][edit_id], parallel.edits["pdq"][edit_id], strict=True):
            assert (a == b).all()


def test_report_is_written(run, tmp_path):
    _, summaries = run
    paths = write_report(summaries, tmp_path, {"known photos": 8, "seconds": {"total": 1.0}})
    text = paths["results"].read_text()
    assert "| pdq @ 31 |" in text or "pdq @" in text
    assert "## Goals" in text and "## Recall per edit" in text
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"
    data = json.loads(paths["summary"].read_text())
    assert [m["matcher"] for m in data["matchers"]] == [
        "pdq",
        "pdq-dihedral",
        "phash",
        "dhash",
        "pdq+all",
        "phash+all",
        *(f"any(pdq+all,phash&dhash@{t})" for t in CORROBORATING_DHASH),
        *(f"phash&dhash@{t}" for t in CORROBORATING_DHASH),
    ]


class PdqWithMirroredCandidate(HammingMatcher):
    """A toy query-side matcher (the issue-9 plug-in point): besides the copy's own PDQ, it decodes the copy's
    bytes, mirrors the pixels and hashes that too; the list still holds only the original's plain PDQ."""

    def __init__(self) -> None:
        super().__init__("pdq", name="pdq-mirrored")

    def query_codes(self, hashes, data):
        from hashwatch.hashing.image_hashes import compute_image_hashes

        own = super().query_codes(hashes, data)
        mirrored = Image.open(io.BytesIO(data)).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        extra = super().query_codes(compute_image_hashes(encode(mirrored, "PNG")), b"")
        return np.concatenate([own, extra])


def test_a_query_side_matcher_plugs_in(known_sources, distractor_sources):
    edits = select_edits(["original", "flip_horizontal", "flip_vertical", "resize@0.5"])
    matchers = [HammingMatcher("pdq"), PdqWithMirroredCandidate()]
    known = hash_known_set(known_sources[:4], edits, matchers, workers=1)
    distractors = hash_plain(distractor_sources[:6], matchers, workers=1)
    plain, mirrored = summarise(known, matchers, distractors)
    assert mirrored.matcher == "pdq-mirrored"
    assert recall_at(plain, 31, ["flip_horizontal"]) == 0.0
    assert recall_at(mirrored, 31, ["flip_horizontal"]) == 1.0  # the candidate undoes the flip
    assert recall_at(mirrored, 31, ["flip_vertical"]) == 0.0  # and only that one
    assert recall_at(mirrored, 31, ["resize@0.5"]) == recall_at(plain, 31, ["resize@0.5"]) == 1.0
    assert false_matches(mirrored, 31) == 0
