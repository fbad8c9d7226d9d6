"""The metrics on hand-made histograms, where every number is known in advance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hashwatch.evaluation.metrics import (
    ClosePair,
    MatcherSummary,
    choose_threshold,
    cumulative,
    false_match_rate,
    false_matches,
    nearest_false_distance,
    queries_with_false_match,
    recall_at,
    recall_curve,
    rule_of_three,
)


def hist(counts: dict[int, int], max_distance: int = 8) -> np.ndarray:
    out = np.zeros(max_distance + 2, np.int64)
    for d, c in counts.items():
        out[d] = c
    return out


def summary() -> MatcherSummary:
    """An 8-bit toy matcher, 3 known originals, two edits.

    - "easy": copies at distances 0, 1, 2 from their originals; "hard": 2, 6 and one without a hash (bucket 9).
    - Copies against the other originals (3 x 2 = 6 pairs per edit): easy at 5,6,7,7,8,8; hard at 4,6,7,8,8,8
      plus ... the hard copy without a hash compares with nothing (2 pairs in the missing bucket).
    - 4 distractors x 3 originals = 12 pairs: one at 5, the rest at 8.
    """
    return MatcherSummary(
        matcher="toy",
        description="",
        max_distance=8,
        thresholds=list(range(9)),
        current_threshold=2,
        n_known=3,
        own_hist={"easy": hist({0: 1, 1: 1, 2: 1}), "hard": hist({2: 1, 6: 1, 9: 1})},
        other_hist={"easy": hist({5: 1, 6: 1, 7: 2, 8: 2}), "hard": hist({4: 1, 6: 1, 7: 1, 8: 1, 9: 2})},
        other_nearest_hist={"easy": hist({5: 1, 6: 1, 7: 1}), "hard": hist({4: 1, 7: 1, 9: 1})},
        distractor_hist=hist({5: 1, 8: 11}),
        distractor_nearest_hist=hist({5: 1, 8: 3}),
        n_distractors=4,
        closest=[ClosePair(4, "b.jpg", "hard", "a.jpg")],
    )


def test_recall_per_edit_and_pooled():
    s = summary()
    assert recall_at(s, 2, ["easy"]) == 1.0
    assert recall_at(s, 1, ["easy"]) == pytest.approx(2 / 3)
    assert recall_at(s, 2, ["hard"]) == pytest.approx(1 / 3)
    assert recall_at(s, 6, ["hard"]) == pytest.approx(2 / 3)
    assert recall_at(s, 8, ["hard"]) == pytest.approx(2 / 3)  # the copy without a hash is never found
    assert recall_at(s, 2) == pytest.approx(4 / 6)  # pooled over both edits
    curve = recall_curve(s, ["easy", "hard"])
    assert curve.tolist() == pytest.approx([1 / 6, 2 / 6, 4 / 6, 4 / 6, 4 / 6, 4 / 6, 5 / 6, 5 / 6, 5 / 6])


def test_false_matches_counts_rates_and_comparisons():
    s = summary()
    # Pairs compared: easy 6 + hard 4 (2 missing) + distractors 12 = 22.
    assert s.comparisons() == 22
    assert s.distractor_pairs == 12
    assert s.distractors_hashed == 4
    assert false_matches(s, 3) == 0
    assert false_matches(s, 4) == 1  # the hard copy at 4 from another original
    assert false_matches(s, 5) == 3  # + easy copy at 5 + distractor at 5
    assert false_match_rate(s, 5) == pytest.approx(3 / 22)
    assert false_matches(s, 5, ["easy"]) == 2  # the easy copy and the distractor
    assert false_matches(s, 8) == 22 - 0  # every compared pair is within 8 bits
    assert queries_with_false_match(s, 5) == 3
    assert nearest_false_distance(s) == 4


def test_threshold_choice_is_the_largest_without_false_matches():
    s = summary()
    assert choose_threshold(s) == 3
    assert recall_at(s, choose_threshold(s)) == pytest.approx(4 / 6)


def test_no_threshold_when_different_images_share_a_hash():
    s = summary()
    s.distractor_hist = hist({0: 1, 8: 11})
    assert nearest_false_distance(s) == 0
    assert choose_threshold(s) is None


def test_cumulative_never_counts_the_missing_bucket():
    h = hist({0: 2, 8: 1, 9: 5})
    assert cumulative(h, 8) == 3
    assert cumulative(h, 100) == 3
    assert cumulative(h, -1) == 0


def test_rule_of_three():
    assert rule_of_three(1_000_000) == pytest.approx(3e-6, rel=0.01)
    assert math.isnan(rule_of_three(0))


def test_summary_json_round_trip():
    s = summary()
    back = MatcherSummary.from_dict(s.to_dict())
    assert back.to_dict() == s.to_dict()
    assert back.closest == s.closest
    for edit in s.own_hist:
        assert np.array_equal(back.own_hist[edit], s.own_hist[edit])
    assert np.array_equal(back.distractor_hist, s.distractor_hist)
