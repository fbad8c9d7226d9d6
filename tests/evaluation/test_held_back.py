"""The held-back evaluation in small (hashwatch.evaluation.held_back): synthetic pictures through a few spec
edits, harder negatives and both halves, end to end to the report."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest

from hashwatch.evaluation.edits_spec import SPEC_QUICK_IDS, select_spec_edits
from hashwatch.evaluation.held_back import evaluate_halves, split_distractors
from hashwatch.evaluation.held_back_report import write_held_back_report
from hashwatch.evaluation.matcher_sets import resolve_matchers
from hashwatch.evaluation.matchers import HammingMatcher, codes_from_hex, min_hamming_distances
from hashwatch.evaluation.metrics import nearest_stats, recall_at
from hashwatch.evaluation.runner import ImageSource, NegativeSet, hash_known_set, summarise
from hashwatch.evaluation.split import HELD_BACK, TUNING
from hashwatch.sites.synthetic_images import encode, synthetic_photo

EDITS = select_spec_edits(SPEC_QUICK_IDS)


def _source(data: bytes, label: str, scene: str | None = None) -> ImageSource:
    return ImageSource(hashlib.sha256(data).hexdigest(), label, "synthetic", data=data, scene=scene)


@pytest.fixture(scope="module")
def known_sources():
    sources = [_source(encode(synthetic_photo(s), quality=92), f"synthetic/{s}.jpg") for s in range(8)]
    # Two shots of one scene: the same picture, the second shifted by 12 px (a series, not a duplicate).
    scene = np.asarray(synthetic_photo(40, (652, 480)))
    for i, x in enumerate((0, 12)):
        sources.append(
            _source(encode_array(scene[:, x : x + 640]), f"synthetic/scene{i}.jpg", scene="two shots")
        )
    return sources


def encode_array(rgb: np.ndarray) -> bytes:
    from PIL import Image

    return encode(Image.fromarray(np.ascontiguousarray(rgb)), quality=92)


@pytest.fixture(scope="module")
def distractor_sources():
    return [_source(encode(synthetic_photo(100 + s, (500, 400))), f"other/{s}.jpg") for s in range(8)]


@pytest.fixture(scope="module")
def matchers():
    return resolve_matchers("anchors,default")


@pytest.fixture(scope="module")
def evaluated(known_sources, distractor_sources, matchers):
    return evaluate_halves(
        known_sources,
        distractor_sources,
        EDITS,
        matchers,
        workers=1,
        negative_counts={"uniform_per_recipe": 2, "low_quality": 2},
    )


def test_both_halves_are_reported_with_every_picture_in_one(
    evaluated, known_sources, distractor_sources, matchers
):
    by_half, facts = evaluated
    dealt = split_distractors(distractor_sources)
    assert sum(len(v) for v in dealt.values()) == len(distractor_sources)
    for half in (TUNING, HELD_BACK):
        assert facts[f"{half}: distractors"] == len(dealt[half])
    assert set(by_half) == {TUNING, HELD_BACK}
    n = {h: by_half[h][0].n_known for h in by_half}
    assert n[TUNING] > 0 and n[HELD_BACK] > 0 and sum(n.values()) == len(known_sources)
    for half, summaries in by_half.items():
        assert [s.matcher for s in summaries] == [m.name for m in matchers]
        for s in summaries:
            assert s.edit_ids == [e.id for e in EDITS]
            # The unedited original is always found; distractors are that half's only.
            assert recall_at(s, s.current_threshold, ["original"]) == 1.0, (half, s.matcher)
    default = {h: next(s for s in by_half[h] if s.matcher == "hashwatch-default") for h in by_half}
    pdq = {h: next(s for s in by_half[h] if s.matcher == "pdq") for h in by_half}
    for h in by_half:
        # Candidates undo a mirrored copy: the default finds every flip, plain PDQ none.
        assert recall_at(default[h], 100, ["flip_lr#1"]) == 1.0
        assert recall_at(pdq[h], 31, ["flip_lr#1"]) == 0.0


def test_the_halves_draw_different_edits(known_sources, matchers):
    """The same picture in the other half gets other draws: other codes for a drawn edit, same for a fixed one."""
    edits = select_spec_edits(["flip_lr#1", "crop_rescale#1"])
    one = [known_sources[0]]
    pdq = [m for m in matchers if m.name == "pdq"]
    a = hash_known_set(one, edits, pdq, workers=1, halves={one[0].key: TUNING})
    b = hash_known_set(one, edits, pdq, workers=1, halves={one[0].key: HELD_BACK})
    assert (a.edits["pdq"]["flip_lr#1"][0] == b.edits["pdq"]["flip_lr#1"][0]).all()
    assert not (a.edits["pdq"]["crop_rescale#1"][0] == b.edits["pdq"]["crop_rescale#1"][0]).all()
    with pytest.raises(ValueError, match="needs halves"):
        hash_known_set(one, edits, pdq, workers=1)


def test_harder_negatives_and_same_scene_pairs_are_counted_apart(evaluated):
    by_half, facts = evaluated
    kinds = {"template: meme", "template: screenshot", "near-uniform", "low quality"}
    for half, summaries in by_half.items():
        assert kinds <= set(facts[f"{half}: harder negatives"]), half
        for s in summaries:
            assert kinds <= set(s.negative_nearest_hist)
            for kind in kinds:
                st = nearest_stats(s.negative_nearest_hist[kind])
                assert st["count"] + st["no_hash"] == facts[f"{half}: harder negatives"][kind]
    # The two shots of one scene are in one half: their copies' distances to each other are kept apart.
    scene_half = [h for h in by_half if by_half[h][0].same_scene_pairs]
    assert len(scene_half) == 1
    pdq = next(s for s in by_half[scene_half[0]] if s.matcher == "pdq")
    assert int(pdq.same_scene_hist.sum()) == 2 * len(EDITS)  # each shot's copies against the other shot
    assert nearest_stats(pdq.same_scene_nearest_hist)["count"] == 2 * len(EDITS)


def test_a_template_is_not_compared_with_the_picture_it_holds(known_sources, matchers):
    pdq = [m for m in matchers if m.name == "pdq"]
    edits = select_spec_edits(["original"])
    known = hash_known_set(known_sources[:3], edits, pdq, workers=1)
    code = known.known["pdq"][0][None, :]
    for holds, nearest in (((known_sources[0].label,), False), ((), True)):
        negs = {"template: test": NegativeSet(["neg/0"], {"pdq": [code]}, [holds])}
        (s,) = summarise(known, pdq, negatives=negs)
        assert (nearest_stats(s.negative_nearest_hist["template: test"])["min"] == 0) == nearest


def test_the_report_shows_both_halves_negatives_and_the_roc(evaluated, tmp_path):
    by_half, facts = evaluated
    paths = write_held_back_report(by_half, tmp_path, facts, EDITS)
    text = paths["results"].read_text()
    for heading in (
        "## Thresholds and recall, both halves",
        "## Recall per edit family",
        "## Families under 85 %",
        "## Negatives: nearest distances",
        "## ROC",
    ):
        assert heading in text
    assert "| rotate cropped (1) |" in text and "same scene" in text and "template: meme" in text
    assert paths["roc"].read_bytes()[:4] == b"\x89PNG"
    data = json.loads(paths["summary"].read_text())
    assert set(data["halves"]) == {TUNING, HELD_BACK}
    assert set(data["tuned_thresholds"]) == {"pdq", "pdq-dihedral", "phash", "dhash", "hashwatch-default"}


def test_matcher_names_resolve():
    names = [m.name for m in resolve_matchers("anchors,default,pdq+trimmed+deskew,pdq")]
    assert names == ["pdq", "pdq-dihedral", "phash", "dhash", "hashwatch-default", "pdq+trimmed+deskew"]
    # A plug-in: any importable function returning matchers (e.g. a list-side matcher).
    plugged = [m.name for m in resolve_matchers("default,hashwatch.evaluation.matchers:default_matchers")]
    assert plugged == ["hashwatch-default", "pdq", "pdq-dihedral", "phash", "dhash"]
    with pytest.raises(ValueError, match="unknown matcher"):
        resolve_matchers("pdqq")
    with pytest.raises(ValueError, match="unknown candidate families"):
        resolve_matchers("pdq+nosuchfamily")
    with pytest.raises(ValueError, match="cannot load"):
        resolve_matchers("hashwatch.evaluation.matcher_sets:nothing_here")


def test_the_cache_fingerprint_covers_candidate_modules_not_listed(monkeypatch):
    """A candidate module nobody added to the list (a new family's file) still keys the hash cache."""
    from hashwatch.evaluation import hash_cache

    hash_cache.code_fingerprint.cache_clear()
    before = hash_cache.code_fingerprint()
    listed = tuple(r for r in hash_cache._FINGERPRINTED if r != "hashing/candidate_detectors.py")
    monkeypatch.setattr(hash_cache, "_FINGERPRINTED", listed)
    hash_cache.code_fingerprint.cache_clear()
    assert hash_cache.code_fingerprint() == before  # found by its name
    monkeypatch.setattr(hash_cache, "_NOT_FINGERPRINTED", ("hashing/candidate_detectors.py",))
    hash_cache.code_fingerprint.cache_clear()
    assert hash_cache.code_fingerprint() != before  # and it counts
    hash_cache.code_fingerprint.cache_clear()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "--matchers", "pdqq"], "unknown matcher 'pdqq'"),
        (["eval", "--edits", "rotate@5"], "unknown edits: rotate@5"),  # a v1 edit id asked of the v2 suite
        (["eval", "--threshold", "pdq=40"], "--threshold is for --suite v1"),
        (["eval", "--suite", "v1", "--matchers", "pdq+nosuchfamily"], "unknown candidate families"),
    ],
)
def test_bad_eval_options_are_one_line_errors(argv, message, capsys):
    """Checked before any corpus is fetched or hashed: exit status 2 and one line."""
    from hashwatch.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("hashwatch eval: error:")


class MirrorOnTheList(HammingMatcher):
    """A toy list-side matcher (the issue-23 plug-in point): the list holds the original's PDQ and its mirror's,
    computed from the original's bytes (``known_code_with_data``); a copy is matched by its plain PDQ."""

    def __init__(self) -> None:
        super().__init__("pdq", name="pdq-list-mirror")
        self.plain = HammingMatcher("pdq")
        self.words = 2 * self.plain.words  # two codes per list entry, side by side

    def known_code(self, hashes):
        raise AssertionError("a list-side matcher is given the original's bytes")

    def known_code_with_data(self, hashes, data):
        from PIL import Image

        from hashwatch.hashing.image_hashes import compute_image_hashes

        image = Image.open(io.BytesIO(data)).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        mirrored = compute_image_hashes(encode(image, "PNG")).pdq
        return np.concatenate([codes_from_hex([hashes.pdq], 256)[0], codes_from_hex([mirrored], 256)[0]])

    def query_codes(self, hashes, data):
        rows = self.plain.query_codes(hashes, data)
        return np.concatenate([rows, rows], axis=1)

    def distances(self, rows, owners, n_queries, known):
        w = self.plain.words
        own = min_hamming_distances(rows[:, :w], owners, n_queries, known[:, :w], self.missing)
        flipped = min_hamming_distances(rows[:, w:], owners, n_queries, known[:, w:], self.missing)
        return np.minimum(own, flipped)


def test_a_list_side_matcher_sees_the_originals_bytes(known_sources):
    from hashwatch.evaluation.edits import select_edits

    matchers = [HammingMatcher("pdq"), MirrorOnTheList()]
    edits = select_edits(["original", "flip_horizontal", "flip_vertical"])
    known = hash_known_set(known_sources[:3], edits, matchers, workers=1)
    plain, mirror = summarise(known, matchers)
    assert recall_at(plain, 31, ["flip_horizontal"]) == 0.0
    assert recall_at(mirror, 31, ["flip_horizontal"]) == 1.0  # the list's mirrored hash meets the copy
    assert recall_at(mirror, 31, ["flip_vertical"]) == 0.0 and recall_at(mirror, 31, ["original"]) == 1.0
