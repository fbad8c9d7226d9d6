"""The held-back evaluation (issue 23): the spec suite on both halves of the split, harder negatives.

:func:`evaluate_halves` hashes every known original and its edited copies (each copy's parameters drawn for
its picture's half, :mod:`hashwatch.evaluation.edits_spec`), the distractors and the harder negatives
(:mod:`hashwatch.evaluation.negatives`), then summarises each half apart: the half's edited copies, distractors
and negatives against the whole list (every known original of both halves, and the list-only entries).
:func:`run_held_back_evaluation` does it on the Debian corpus and writes the report
(:mod:`hashwatch.evaluation.held_back_report`): thresholds are chosen on the tuning half, and the held-back
half is the headline.

Distractors are dealt into the halves by the SHA-256 of the split seed and their label.

Example::

    by_half = evaluate_halves(known, distractors, select_spec_edits(), resolve_matchers("anchors,default"))
    held = by_half[HELD_BACK]   # list[MatcherSummary]
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hashwatch.evaluation.metrics import MatcherSummary
from hashwatch.evaluation.runner import (
    HashedKnown,
    HashedPlain,
    ImageSource,
    KnownSettings,
    NegativeSet,
    hash_known_set,
    hash_plain,
    stderr_progress,
    summarise,
)
from hashwatch.evaluation.split import HALVES, HELD_BACK, SPLIT_SEED, TUNING, split_known

__all__ = ["evaluate_halves", "run_held_back_evaluation", "split_distractors"]


def split_distractors(sources: Sequence[ImageSource], seed: str = SPLIT_SEED) -> dict[str, list[ImageSource]]:
    """Each distractor in one half, by the parity of SHA-256(``seed/distractor/label``)."""
    out: dict[str, list[ImageSource]] = {h: [] for h in HALVES}
    for s in sources:
        digit = hashlib.sha256(f"{seed}/distractor/{s.label}".encode()).digest()[0]
        out[HALVES[digit % 2]].append(s)
    return out


def _subset(plain: HashedPlain, keep: Sequence[int]) -> HashedPlain:
    return HashedPlain(
        [plain.sources[i] for i in keep],
        {m: [v[i] for i in keep] for m, v in plain.query.items()},
        {m: [v[i] for i in keep] for m, v in plain.known.items()},
        [plain.status[i] for i in keep],
    )


def _negative_sets(negatives, hashed: HashedPlain) -> dict[str, dict[str, NegativeSet]]:
    """Hashed negatives grouped by half, then kind."""
    out: dict[str, dict[str, NegativeSet]] = {h: {} for h in HALVES}
    for i, neg in enumerate(negatives):
        kinds = out[neg.half]
        if neg.kind not in kinds:
            kinds[neg.kind] = NegativeSet([], {m: [] for m in hashed.query}, [])
        s = kinds[neg.kind]
        s.labels.append(neg.label)
        s.holds.append(neg.holds)
        for m, rows in hashed.query.items():
            s.query[m].append(rows[i])
    return out


def evaluate_halves(
    known_sources: Sequence[ImageSource],
    distractors: HashedPlain | Sequence[ImageSource],
    edits,
    matchers,
    *,
    list_only: HashedKnown | None = None,
    negatives: bool = True,
    workers: int = 2,
    cache_root=None,
    settings: KnownSettings | None = None,
    negative_counts: dict[str, int] | None = None,
) -> tuple[dict[str, list[MatcherSummary]], dict[str, Any]]:
    """Summaries per half (module docstring) and the run's facts (counts per half, timings)."""
    facts: dict[str, Any] = {}
    timings: dict[str, float] = {}
    tuning, held = split_known(known_sources)
    halves = {s.key: TUNING for s in tuning} | {s.key: HELD_BACK for s in held}
    t = time.monotonic()
    known = hash_known_set(
        known_sources,
        edits,
        matchers,
        settings=settings,
        workers=workers,
        cache_root=cache_root,
        halves=halves,
        progress=stderr_progress("known pictures and their edits") if workers > 1 else None,
    )
    timings["hash edits"] = time.monotonic() - t
    if not isinstance(distractors, HashedPlain):
        distractors = hash_plain(distractors, matchers, workers=workers, cache_root=cache_root)
    by_label = split_distractors(distractors.sources)
    half_of_distractor = {s.label: h for h, items in by_label.items() for s in items}
    negative_sets: dict[str, dict[str, NegativeSet]] = {h: {} for h in HALVES}
    if negatives:
        from hashwatch.evaluation.negatives import build_negatives

        t = time.monotonic()
        kept = {s.key for s in known.sources}
        negs = build_negatives(
            {TUNING: [s for s in tuning if s.key in kept], HELD_BACK: [s for s in held if s.key in kept]},
            {h: list(items) for h, items in by_label.items()},
            **(negative_counts or {}),
        )
        hashed = hash_plain(
            negs,
            matchers,
            workers=workers,
            cache_root=cache_root,
            progress=stderr_progress("harder negatives") if workers > 1 else None,
        )
        negative_sets = _negative_sets(negs, hashed)
        timings["hash negatives"] = time.monotonic() - t
    t = time.monotonic()
    out: dict[str, list[MatcherSummary]] = {}
    for half in HALVES:
        queries = [i for i, s in enumerate(known.sources) if halves[s.key] == half]
        keep = [i for i, s in enumerate(distractors.sources) if half_of_distractor[s.label] == half]
        out[half] = summarise(
            known,
            matchers,
            _subset(distractors, keep),
            list_only=list_only,
            queries=queries,
            negatives=negative_sets[half],
        )
        facts[f"{half}: known pictures (edited copies are queries)"] = len(queries)
        facts[f"{half}: distractors"] = len(keep)
        facts[f"{half}: harder negatives"] = {k: len(v.labels) for k, v in negative_sets[half].items()}
    timings["compare"] = time.monotonic() - t
    facts["known pictures dropped (no hash after normalising)"] = len(known.dropped)
    facts["list entries"] = len(known.sources) + (len(list_only.sources) if list_only is not None else 0)
    facts["edits"] = len(edits)
    facts["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    return out, facts


def run_held_back_evaluation(
    *,
    packages=None,
    out_dir: Path,
    edits,
    matchers,
    workers: int = 2,
    limit: int | None = None,
    max_distractors: int | None = None,
    cache_dir="default",
    list_only_packages=None,
    negatives: bool = True,
) -> dict:
    """The Debian corpus through :func:`evaluate_halves`; writes the report into ``out_dir``."""
    from hashwatch.evaluation.cli import _pool, hash_list_only
    from hashwatch.evaluation.corpus import EVAL_PACKAGES, select_corpus
    from hashwatch.evaluation.hash_cache import default_cache_dir
    from hashwatch.evaluation.held_back_report import write_held_back_report

    started = time.monotonic()
    cache_root = default_cache_dir() if cache_dir == "default" else cache_dir
    packages = list(packages or EVAL_PACKAGES)
    pool = _pool(packages)
    plain = hash_plain(
        [c.source for c in pool],
        matchers,
        workers=workers,
        cache_root=cache_root,
        progress=stderr_progress("pool"),
    )
    index = {s.key: i for i, s in enumerate(plain.sources)}
    has_hashes = [all(codes[i] is not None for codes in plain.known.values()) for i in range(len(pool))]
    corpus = select_corpus(pool, has_hashes=has_hashes)
    known_sources = corpus.known[:limit] if limit else corpus.known
    distractor_sources = corpus.distractors[:max_distractors] if max_distractors else corpus.distractors
    distractors = _subset(plain, [index[s.key] for s in distractor_sources])
    list_only = hash_list_only(
        pool, list_only_packages, matchers, KnownSettings(), workers=workers, cache_root=cache_root
    )
    by_half, facts = evaluate_halves(
        known_sources,
        distractors,
        edits,
        matchers,
        list_only=list_only,
        negatives=negatives,
        workers=workers,
        cache_root=cache_root,
    )
    facts = {
        "packages": ", ".join(packages),
        "images in the pool": len(pool),
        "list-only entries": len(list_only.sources) if list_only is not None else 0,
        **facts,
        "seconds in all (hashes in the cache are not recomputed)": round(time.monotonic() - started, 1),
    }
    paths = write_held_back_report(by_half, Path(out_dir), facts, edits)
    print(
        f"eval (held-back suite): {facts['seconds in all (hashes in the cache are not recomputed)']} s; "
        f"report in {paths['results']}",
        file=sys.stderr,
    )
    return facts
