"""Recall, false matches and the threshold choice, from distance histograms. Pure functions, no images.

A :class:`MatcherSummary` holds, for one matcher, histograms of distances (bucket ``d`` counts the pairs at
distance ``d``; the last bucket, ``max_distance + 1``, counts queries that had no hash):

- ``own_hist[edit]``: each edited copy against its own original. Recall at threshold ``t`` is the share at
  distance ``<= t``.
- ``other_hist[edit]``: each edited copy against every *other* known original (``n * (n - 1)`` pairs per
  edit); ``distractor_hist``: every distractor image against every known original. A pair at ``<= t`` is a
  false match; the rate per comparison divides by the number of pairs, which is printed beside it (zero in a
  million comparisons says less than zero in a billion).
- ``other_nearest_hist`` / ``distractor_nearest_hist``: each query's nearest wrong original, so the number of
  queries with at least one false match is known too.

Matching a query against a list compares it with every list entry, so "per comparison" is per (query image,
list entry) pair, however many candidate codes the matcher tries for the query (PDQ dihedral tries 8).

:func:`choose_threshold` picks the largest threshold with no false match at all on the distractors (both
kinds), as the issue asks; :func:`recall_at` and friends say what that buys.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ClosePair",
    "MatcherSummary",
    "choose_threshold",
    "cumulative",
    "false_match_rate",
    "false_matches",
    "recall_at",
    "recall_curve",
    "rule_of_three",
]


@dataclass(frozen=True)
class ClosePair:
    """A non-matching pair among the closest seen: a query (an edited copy of one known original, or a
    distractor) and a different known original."""

    distance: int
    query: str
    edit: str  # the edit id of the query, or "distractor"
    known: str


@dataclass
class MatcherSummary:
    """Every distance histogram of one matcher over one evaluation run (see the module docstring)."""

    matcher: str
    description: str
    max_distance: int
    thresholds: list[int]
    current_threshold: int
    n_known: int
    own_hist: dict[str, np.ndarray]
    other_hist: dict[str, np.ndarray]
    other_nearest_hist: dict[str, np.ndarray]
    distractor_hist: np.ndarray
    distractor_nearest_hist: np.ndarray
    n_distractors: int
    closest: list[ClosePair] = field(default_factory=list)
    same_scene_pairs: int = 0  # edited copy x original pairs of one photo series, not counted
    n_list_only: int = 0  # list entries beyond the known originals (no edited copies; false matches only)
    matched_by_default: bool = True
    # Negatives beyond the distractors (issue 23): edited copies against other shots of their own photo
    # series (all pairs, and each copy's nearest), and each harder negative's nearest list entry, by kind.
    same_scene_hist: np.ndarray | None = None
    same_scene_nearest_hist: np.ndarray | None = None
    negative_nearest_hist: dict[str, np.ndarray] = field(default_factory=dict)
    negative_pairs: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------ derived counts

    @property
    def edit_ids(self) -> list[str]:
        return list(self.own_hist)

    def other_pairs(self, edits: Iterable[str] | None = None) -> int:
        """Edited copies x other originals actually compared (a copy without a hash compares with nothing)."""
        return int(sum(self.other_hist[e][:-1].sum() for e in self._edits(edits)))

    @property
    def distractor_pairs(self) -> int:
        """Distractors x known originals actually compared (distractors with this matcher's hash)."""
        return int(self.distractor_hist[:-1].sum())

    @property
    def distractors_hashed(self) -> int:
        """Distractors that have this matcher's hash."""
        return int(self.distractor_nearest_hist[:-1].sum())

    def comparisons(self, edits: Iterable[str] | None = None) -> int:
        """All non-matching (query, original) pairs: edited copies x other originals, distractors x originals."""
        return self.other_pairs(edits) + self.distractor_pairs

    def false_match_hist(self, edits: Iterable[str] | None = None) -> np.ndarray:
        """Both kinds of non-matching pairs in one histogram."""
        total = self.distractor_hist.astype(np.int64).copy()
        for e in self._edits(edits):
            total += self.other_hist[e]
        return total

    def _edits(self, edits: Iterable[str] | None) -> list[str]:
        return list(self.own_hist) if edits is None else list(edits)

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        def lst(a: np.ndarray) -> list[int]:
            return [int(x) for x in np.trim_zeros(np.asarray(a), "b")]

        return {
            "matcher": self.matcher,
            "description": self.description,
            "max_distance": self.max_distance,
            "thresholds": list(self.thresholds),
            "current_threshold": self.current_threshold,
            "n_known": self.n_known,
            "n_distractors": self.n_distractors,
            "own_hist": {k: lst(v) for k, v in self.own_hist.items()},
            "other_hist": {k: lst(v) for k, v in self.other_hist.items()},
            "other_nearest_hist": {k: lst(v) for k, v in self.other_nearest_hist.items()},
            "distractor_hist": lst(self.distractor_hist),
            "distractor_nearest_hist": lst(self.distractor_nearest_hist),
            "closest": [vars(p) for p in self.closest],
            "same_scene_pairs": self.same_scene_pairs,
            "n_list_only": self.n_list_only,
            "matched_by_default": self.matched_by_default,
            "same_scene_hist": None if self.same_scene_hist is None else lst(self.same_scene_hist),
            "same_scene_nearest_hist": (
                None if self.same_scene_nearest_hist is None else lst(self.same_scene_nearest_hist)
            ),
            "negative_nearest_hist": {k: lst(v) for k, v in self.negative_nearest_hist.items()},
            "negative_pairs": dict(self.negative_pairs),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MatcherSummary:
        length = int(d["max_distance"]) + 2

        def arr(values: Sequence[int]) -> np.ndarray:
            out = np.zeros(length, np.int64)
            out[: len(values)] = values
            return out

        return cls(
            matcher=d["matcher"],
            description=d.get("description", ""),
            max_distance=int(d["max_distance"]),
            thresholds=list(d["thresholds"]),
            current_threshold=int(d["current_threshold"]),
            n_known=int(d["n_known"]),
            own_hist={k: arr(v) for k, v in d["own_hist"].items()},
            other_hist={k: arr(v) for k, v in d["other_hist"].items()},
            other_nearest_hist={k: arr(v) for k, v in d["other_nearest_hist"].items()},
            distractor_hist=arr(d["distractor_hist"]),
            distractor_nearest_hist=arr(d["distractor_nearest_hist"]),
            n_distractors=int(d["n_distractors"]),
            closest=[ClosePair(**p) for p in d.get("closest", [])],
            same_scene_pairs=int(d.get("same_scene_pairs", 0)),
            n_list_only=int(d.get("n_list_only", 0)),
            matched_by_default=bool(d.get("matched_by_default", True)),
            same_scene_hist=None if d.get("same_scene_hist") is None else arr(d["same_scene_hist"]),
            same_scene_nearest_hist=(
                None if d.get("same_scene_nearest_hist") is None else arr(d["same_scene_nearest_hist"])
            ),
            negative_nearest_hist={k: arr(v) for k, v in d.get("negative_nearest_hist", {}).items()},
            negative_pairs={k: int(v) for k, v in d.get("negative_pairs", {}).items()},
        )


# ---------------------------------------------------------------- metrics


def cumulative(hist: np.ndarray, threshold: int) -> int:
    """How many counted pairs are at distance ``<= threshold`` (the missing bucket never counts)."""
    hist = np.asarray(hist)
    upto = min(int(threshold), hist.size - 2)
    return int(hist[: upto + 1].sum()) if upto >= 0 else 0


def recall_at(summary: MatcherSummary, threshold: int, edits: Iterable[str] | None = None) -> float:
    """Share of the edited copies (of the given edits, pooled) within ``threshold`` of their own original."""
    ids = summary._edits(edits)
    found = sum(cumulative(summary.own_hist[e], threshold) for e in ids)
    total = sum(int(summary.own_hist[e].sum()) for e in ids)
    return found / total if total else math.nan


def recall_curve(summary: MatcherSummary, edits: Iterable[str] | None = None) -> np.ndarray:
    """Recall at every threshold of the grid, pooled over ``edits``."""
    ids = summary._edits(edits)
    hist = sum((summary.own_hist[e] for e in ids), np.zeros(summary.max_distance + 2, np.int64))
    total = hist.sum()
    cum = np.cumsum(hist[:-1])
    return np.array([cum[t] / total if total else math.nan for t in summary.thresholds])


def false_matches(summary: MatcherSummary, threshold: int, edits: Iterable[str] | None = None) -> int:
    """Non-matching pairs within ``threshold``: edited copies vs other originals plus distractors."""
    return cumulative(summary.false_match_hist(edits), threshold)


def false_match_rate(summary: MatcherSummary, threshold: int, edits: Iterable[str] | None = None) -> float:
    comparisons = summary.comparisons(edits)
    return false_matches(summary, threshold, edits) / comparisons if comparisons else math.nan


def queries_with_false_match(summary: MatcherSummary, threshold: int) -> int:
    """Query images (edited copies and distractors) whose nearest wrong original is within ``threshold``."""
    total = cumulative(summary.distractor_nearest_hist, threshold)
    return total + sum(cumulative(h, threshold) for h in summary.other_nearest_hist.values())


def nearest_false_distance(summary: MatcherSummary) -> int | None:
    """The smallest distance of any non-matching pair (None if there were none)."""
    hist = summary.false_match_hist()[:-1]
    hit = np.flatnonzero(hist)
    return int(hit[0]) if hit.size else None


def choose_threshold(summary: MatcherSummary) -> int | None:
    """The largest threshold of the grid with zero false matches on the distractors (both kinds); None when
    even the smallest has some (e.g. two different images with the same hash)."""
    nearest = nearest_false_distance(summary)
    ok = [t for t in summary.thresholds if nearest is None or t < nearest]
    return max(ok) if ok else None


def rule_of_three(comparisons: int) -> float:
    """The 95 % upper bound of a rate after zero events in ``comparisons`` trials (about 3 / n)."""
    return 1 - 0.05 ** (1 / comparisons) if comparisons else math.nan


# ---------------------------------------------------------------- harder negatives (issue 23)


def nearest_stats(hist: np.ndarray | None) -> dict[str, int | None]:
    """``count``, ``min``, ``p1`` and ``median`` of the queries' nearest distances in a nearest-distance
    histogram (queries without a hash, the last bucket, are counted apart as ``no_hash``)."""
    if hist is None:
        return {"count": 0, "min": None, "p1": None, "median": None, "no_hash": 0}
    hist = np.asarray(hist)
    compared, no_hash = hist[:-1], int(hist[-1])
    count = int(compared.sum())
    if not count:
        return {"count": 0, "min": None, "p1": None, "median": None, "no_hash": no_hash}
    cum = np.cumsum(compared)

    def quantile(q: float) -> int:
        return int(np.searchsorted(cum, max(1, math.ceil(q * count))))

    return {
        "count": count,
        "min": quantile(0.0),
        "p1": quantile(0.01),
        "median": quantile(0.5),
        "no_hash": no_hash,
    }


def negative_false_matches(summary: MatcherSummary, threshold: int) -> dict[str, int]:
    """Harder negatives (and edited copies against their own photo series) within ``threshold`` of a list
    entry they must not match, by kind."""
    out = {k: cumulative(h, threshold) for k, h in summary.negative_nearest_hist.items()}
    if summary.same_scene_nearest_hist is not None:
        out["same scene"] = cumulative(summary.same_scene_nearest_hist, threshold)
    return out


def nearest_negative_distance(summary: MatcherSummary) -> int | None:
    """The smallest distance of any non-matching pair, the harder negatives included (not the same-scene
    pairs: other shots of one scene are reported, not used to choose)."""
    hist = summary.false_match_hist()[:-1].copy()
    for h in summary.negative_nearest_hist.values():
        hist += np.asarray(h)[:-1]
    hit = np.flatnonzero(hist)
    return int(hit[0]) if hit.size else None


def choose_threshold_with_negatives(summary: MatcherSummary) -> int | None:
    """:func:`choose_threshold` counting the harder negatives too: the threshold the tuning half picks."""
    nearest = nearest_negative_distance(summary)
    ok = [t for t in summary.thresholds if nearest is None or t < nearest]
    return max(ok) if ok else None
