"""List-side hashes in the evaluation: what each list-side variant buys (recall) and costs (false matches).

A hotline holds the originals it lists, so its list can hold more than one hash per picture: the original's
and its variants' (:mod:`hashwatch.hashing.list_from_images`: small rotations, crops, the dihedral set).
:class:`ListSideMatcher` is the evaluation's matcher for such a list: its known code packs one code per
*slot* (slot 0 the original's, then one per variant) and its distance is the smallest over the slots, so
it plugs into :func:`~hashwatch.evaluation.runner.summarise` like any matcher. The query side is the plain
type's (PDQ with its dihedral variants, pHash, dHash: the copy as hashwatch hashes it).

:func:`measure` hashes each known original's variants once (cached: hashes only), computes every slot's
distances once, and reads any set of variants from them (the smallest distance over the set's slots)::

    python -m hashwatch.evaluation.list_side --limit 40          # a quick look; the full run: no --limit

It reports, on the tuning and the held-back half (:func:`~hashwatch.evaluation.split.split_known`), the
recall each variant adds alone to the original, per hash type and for hashwatch's rule (PDQ with dihedral
at 31, or pHash at 4 corroborated by the same picture's dHash at 10), the false matches (distractors and
other known pictures within the threshold) and a variant set chosen greedily on the tuning half.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hashwatch.evaluation.matchers import HammingMatcher, Matcher, codes_from_hex, min_hamming_distances
from hashwatch.hashing.image_hashes import ImageHashes

__all__ = [
    "HarnessListSideMatcher",
    "ListSideMatcher",
    "matchers",
    "SlotDistances",
    "greedy_variants",
    "measure",
    "rule_hits",
]

CACHE_VERSION = "1"


class ListSideMatcher(Matcher):
    """A Hamming type whose list holds the original's code and its list-side variants' codes.

    ``slots`` names the list codes of one picture: ``("original", "rotate-cropped+2", ...)``. The known
    code is ``(len(slots) * base_words,)``: the slots one after the other (a variant without a hash, e.g.
    PDQ under its quality gate, repeats the original's code). Query codes are the base type's (``dihedral``
    for PDQ's query-side variants). The distance is the smallest over the query's rows and the slots."""

    def __init__(
        self,
        hash_type: str,
        slots: Sequence[str],
        *,
        dihedral: bool = False,
        base: HammingMatcher | None = None,
    ) -> None:
        self.base = base or HammingMatcher(hash_type, dihedral=dihedral)
        if not slots or slots[0] != "original":
            raise ValueError("slots must start with 'original'")
        self.slots = tuple(slots)
        self.hash_type = hash_type
        self.base_words = self.base.words
        self.bits = self.base.bits
        self.words = self.base_words * len(self.slots)
        self.name = f"{self.base.name}+list[{len(self.slots) - 1}]"
        self.version = "1-" + ",".join(self.slots)
        self.hash_types = self.base.hash_types
        self.max_distance = self.base.max_distance
        self.thresholds = self.base.thresholds
        self.current_threshold = self.base.current_threshold
        self.matched_by_default = self.base.matched_by_default
        self.description = f"{self.base.description}; the list also holds {', '.join(self.slots[1:])}"

    def known_code(self, hashes: ImageHashes) -> np.ndarray | None:
        """Only the original's hashes here: the variants need the picture (:meth:`known_code_from`)."""
        raise NotImplementedError("ListSideMatcher needs the variants' values: use known_code_from")

    def known_code_from(self, values: dict[str, str]) -> np.ndarray | None:
        """The packed list code from ``{slot: hex}`` (a picture's values of this type); None without an
        original value."""
        original = values.get("original")
        if original is None:
            return None
        hexes = [values.get(slot) or original for slot in self.slots]
        return codes_from_hex(hexes, self.bits).reshape(-1)

    def query_codes(self, hashes: ImageHashes, data: bytes) -> np.ndarray:
        return self.base.query_codes(hashes, data)

    def slot_distances(
        self, rows: np.ndarray, owners: np.ndarray, n_queries: int, known: np.ndarray
    ) -> np.ndarray:
        """``(len(slots), n_queries, n_known)``: each slot's distances (Matcher.distances's contract)."""
        packed = np.asarray(known).reshape(known.shape[0], len(self.slots), self.base_words)
        return np.stack(
            [
                min_hamming_distances(
                    rows, owners, n_queries, np.ascontiguousarray(packed[:, s, :]), self.missing
                )
                for s in range(len(self.slots))
            ]
        )

    def distances(
        self, rows: np.ndarray, owners: np.ndarray, n_queries: int, known: np.ndarray
    ) -> np.ndarray:
        return self.slot_distances(rows, owners, n_queries, known).min(axis=0)


class HarnessListSideMatcher(ListSideMatcher):
    """:class:`ListSideMatcher` for the held-back evaluation's runner (``hashwatch eval --matchers
    hashwatch.evaluation.list_side:matchers``): the runner hands it the known original's bytes
    (``known_code_with_data``), its query rows are as wide as its list code (the base type's code in the first
    slot, so it fits an :class:`~hashwatch.evaluation.matchers.AnyOfMatcher` slot), and its distance is the
    smallest over the list slots."""

    def __init__(self, hash_type: str, slots: Sequence[str], **kwargs) -> None:
        super().__init__(hash_type, slots, **kwargs)
        self.version = f"h1-{self.base.cache_key}-" + ",".join(self.slots)

    def known_code_with_data(self, hashes: ImageHashes, data: bytes) -> np.ndarray | None:
        return self.known_code_from(_variant_values(data, self.slots[1:]).get(self.hash_type, {}))

    def known_code(self, hashes: ImageHashes) -> np.ndarray | None:
        """Without the picture (the runner's pool, for deduplication): the original's code in every slot."""
        code = self.base.known_code(hashes)
        return None if code is None else np.tile(code, len(self.slots))

    def query_codes(self, hashes: ImageHashes, data: bytes) -> np.ndarray:
        base = self.base.query_codes(hashes, data)
        out = np.zeros((base.shape[0], self.words), np.uint64)
        out[:, : self.base_words] = base
        return out

    def distances(
        self, rows: np.ndarray, owners: np.ndarray, n_queries: int, known: np.ndarray
    ) -> np.ndarray:
        return super().distances(np.ascontiguousarray(rows[:, : self.base_words]), owners, n_queries, known)


_VALUES_MEMO: dict[tuple[str, tuple[str, ...]], dict[str, dict[str, str]]] = {}


def _variant_values(data: bytes, variants: Sequence[str]) -> dict[str, dict[str, str]]:
    """``{type: {variant: hex}}`` of one known original, ``"original"`` included; the last few pictures are
    remembered (the runner asks once per hash type)."""
    import hashlib

    from hashwatch.hashing.list_from_images import picture_rows

    key = (hashlib.sha256(data).hexdigest(), tuple(variants))
    if key not in _VALUES_MEMO:
        rows, _ = picture_rows(data, key[0], variants)
        values: dict[str, dict[str, str]] = {}
        for row in rows:
            values.setdefault(row.hash_type, {})[row.variant] = row.hash_value
        if len(_VALUES_MEMO) >= 8:
            _VALUES_MEMO.pop(next(iter(_VALUES_MEMO)))
        _VALUES_MEMO[key] = values
    return _VALUES_MEMO[key]


def matchers() -> list[Matcher]:
    """The held-back evaluation's plug-in: hashwatch's default matcher (PDQ with the default query-side
    candidates @ 31, or pHash @ 4 corroborated by dHash, :data:`DEFAULT_CORROBORATION`) on a list that also
    holds each original's default list-side variants (``hashwatch index build --from-images``)."""
    from hashwatch.evaluation.matcher_sets import DEFAULT_CORROBORATING_DHASH
    from hashwatch.evaluation.matchers import AnyOfMatcher, CandidateMatcher
    from hashwatch.hashing.candidate_defaults import DEFAULT_CANDIDATE_FAMILIES
    from hashwatch.hashing.list_from_images import DEFAULT_VARIANTS

    slots = ("original", *DEFAULT_VARIANTS)
    pdq_base = CandidateMatcher("pdq", DEFAULT_CANDIDATE_FAMILIES, name="pdq+default")
    pdq_base.version = "1-" + "+".join(pdq_base.candidate_families)
    parts = [
        HarnessListSideMatcher("pdq", slots, base=pdq_base),
        HarnessListSideMatcher("phash", slots),
        HarnessListSideMatcher("dhash", slots),
    ]
    thresholds = (parts[0].current_threshold, parts[1].current_threshold, DEFAULT_CORROBORATING_DHASH)
    return [AnyOfMatcher(parts, thresholds, "hashwatch-default+list-variants", corroborated_by={1: 2})]


# ---------------------------------------------------------------- measuring


def _variant_task(args) -> tuple[str, dict]:
    """One known original's values per type and variant (``{type: {variant: hex}}``), cached."""
    source, settings, variants, cache_root = args
    from hashwatch.evaluation.edits import make_known_original
    from hashwatch.evaluation.hash_cache import HashCache
    from hashwatch.hashing.list_from_images import picture_rows

    cache = HashCache(cache_root)
    kind = f"listside-{settings.cache_kind}-v{CACHE_VERSION}"
    entry = cache.load(kind, source.key)
    if all(v in entry.get("variants", ()) for v in variants):
        return source.key, entry
    original = make_known_original(source.read(), settings)
    values: dict[str, dict[str, str]] = {}
    rows, _ = picture_rows(original, source.key, variants)
    for row in rows:
        values.setdefault(row.hash_type, {})[row.variant] = row.hash_value
    # a variant equal to another row was not written: fill it back for the slot it stands for
    entry = {"variants": list(variants), "values": values}
    cache.store(kind, source.key, entry)
    return source.key, entry


def _hash_variants(sources, settings, variants, cache_root, workers: int) -> dict[str, dict]:
    tasks = [(s, settings, tuple(variants), cache_root) for s in sources]
    if workers <= 1:
        return dict(map(_variant_task, tasks))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return dict(pool.imap_unordered(_variant_task, tasks, chunksize=4))


@dataclass
class SlotDistances:
    """Every slot's distances for one hash type and one half: ``own[e]`` ``(S, n)`` (edit ``e``'s copy of
    picture i to picture i's slot), ``other[e]`` ``(S, n, n)`` (copy i to picture j's slot; the pair not
    counted where ``not_counted``: i == j, or two shots of one scene), ``distractor`` ``(S, q, n)``."""

    matcher: ListSideMatcher
    own: dict[str, np.ndarray]
    other: dict[str, np.ndarray]
    distractor: np.ndarray


def _stack(codes: Sequence[np.ndarray], words: int) -> tuple[np.ndarray, np.ndarray]:
    counts = [c.shape[0] for c in codes]
    rows = np.concatenate(codes) if codes and sum(counts) else np.zeros((0, words), np.uint64)
    return rows, np.repeat(np.arange(len(codes)), counts)


def slot_distances(matcher: ListSideMatcher, known_codes, edit_codes, distractor_codes) -> SlotDistances:
    """:class:`SlotDistances` from packed list codes ``(n, words)``, the edits' query codes
    (``{edit: [per picture (k, base_words)]}``) and the distractors' query codes."""
    n = known_codes.shape[0]
    own, other = {}, {}
    for edit, codes in edit_codes.items():
        rows, owners = _stack(codes, matcher.base_words)
        d = matcher.slot_distances(rows, owners, n, known_codes).clip(0, 255).astype(np.uint8)
        own[edit] = np.stack([np.diagonal(d[s]) for s in range(d.shape[0])])
        other[edit] = d
    rows, owners = _stack(distractor_codes, matcher.base_words)
    dist = matcher.slot_distances(rows, owners, len(distractor_codes), known_codes)
    return SlotDistances(matcher, own, other, dist.clip(0, 255).astype(np.uint8))


# hashwatch's rule (MatchOptions defaults): PDQ with dihedral at 31, or pHash at 4 corroborated by the same
# list picture's dHash at 10 (match_policy's default phash=dhash:10). dHash alone is not matched by default.
RULE = {"pdq": 31, "phash": 4, "dhash": 10}


def rule_hits(
    by_type: dict[str, SlotDistances], slots: Sequence[int], not_counted: np.ndarray, pdq_key: str = "pdq"
):
    """For a set of slot numbers: per edit the copies found (``(n,)`` bool) under hashwatch's rule, the
    false pairs (copy i within the rule of picture j != i; distractor q of any picture) and the distractors
    matched. ``pdq_key``: which PDQ query side (``pdq``: plain with dihedral; ``pdq_cands``: with the default
    query-side candidates, as ``hashwatch match`` does)."""
    pick = list(slots)
    pdq, phash, dhash = by_type[pdq_key], by_type["phash"], by_type["dhash"]
    found, false_known = {}, 0
    for edit in pdq.own:
        own = (pdq.own[edit][pick].min(0) <= RULE["pdq"]) | (
            (phash.own[edit][pick].min(0) <= RULE["phash"]) & (dhash.own[edit][pick].min(0) <= RULE["dhash"])
        )
        found[edit] = own
        other = (pdq.other[edit][pick].min(0) <= RULE["pdq"]) | (
            (phash.other[edit][pick].min(0) <= RULE["phash"])
            & (dhash.other[edit][pick].min(0) <= RULE["dhash"])
        )
        false_known += int((other & ~not_counted).sum())
    d = (pdq.distractor[pick].min(0) <= RULE["pdq"]) | (
        (phash.distractor[pick].min(0) <= RULE["phash"]) & (dhash.distractor[pick].min(0) <= RULE["dhash"])
    )
    return found, false_known, int(d.sum()), int(d.any(axis=1).sum())


def type_hits(sd: SlotDistances, slots: Sequence[int], threshold: int) -> dict[str, np.ndarray]:
    pick = list(slots)
    return {edit: sd.own[edit][pick].min(0) <= threshold for edit in sd.own}


def recall(found: dict[str, np.ndarray], edits: Sequence[str] | None = None) -> float:
    keys = list(edits) if edits is not None else list(found)
    total = sum(found[e].size for e in keys)
    return sum(int(found[e].sum()) for e in keys) / total if total else 0.0


def greedy_variants(
    by_type, names: Sequence[str], not_counted, *, min_gain: int = 1, pdq_key: str = "pdq"
) -> list[tuple[str, int]]:
    """Variants added one at a time, each the one finding most more copies under the rule without a new
    false match, while it finds at least ``min_gain`` more: ``[(name, copies gained), ...]``."""
    chosen = [0]
    base, base_fk, base_fd, _ = rule_hits(by_type, chosen, not_counted, pdq_key)
    found_now = sum(int(v.sum()) for v in base.values())
    picked: list[tuple[str, int]] = []
    remaining = list(range(1, len(names)))
    while remaining:
        best = None
        for s in remaining:
            found, fk, fd, _ = rule_hits(by_type, [*chosen, s], not_counted, pdq_key)
            if fk > base_fk or fd > base_fd:
                continue
            gain = sum(int(v.sum()) for v in found.values()) - found_now
            if best is None or gain > best[1]:
                best = (s, gain)
        if best is None or best[1] < min_gain:
            break
        chosen.append(best[0])
        remaining.remove(best[0])
        found_now += best[1]
        picked.append((names[best[0]], best[1]))
    return picked


def measure(
    *,
    limit: int | None = None,
    max_distractors: int | None = None,
    workers: int = 2,
    edit_ids: Sequence[str] | None = None,
    cache_dir="default",
) -> dict:
    """Hash, compare and report (module docstring); returns the figures as a JSON-ready dict."""
    from hashwatch.evaluation.cli import _pool
    from hashwatch.evaluation.corpus import EVAL_PACKAGES, select_corpus
    from hashwatch.evaluation.edits import KnownSettings, select_edits
    from hashwatch.evaluation.hash_cache import default_cache_dir
    from hashwatch.evaluation.matchers import CandidateMatcher
    from hashwatch.evaluation.runner import hash_known_set, hash_plain, stderr_progress
    from hashwatch.evaluation.split import HALVES, split_known
    from hashwatch.hashing.candidate_defaults import DEFAULT_CANDIDATE_FAMILIES
    from hashwatch.hashing.list_from_images import ALL_VARIANTS, DEFAULT_VARIANTS

    cache_root = default_cache_dir() if cache_dir == "default" else cache_dir
    settings = KnownSettings()
    edits = select_edits(list(edit_ids) if edit_ids else None)
    base = {
        "pdq_cands": CandidateMatcher("pdq", DEFAULT_CANDIDATE_FAMILIES, name="pdq+default"),
        "pdq": HammingMatcher("pdq", dihedral=True),
        "phash": HammingMatcher("phash"),
        "dhash": HammingMatcher("dhash"),
    }
    pool = _pool(list(EVAL_PACKAGES))
    plain = hash_plain(
        [c.source for c in pool],
        list(base.values()),
        workers=workers,
        cache_root=cache_root,
        progress=stderr_progress("pool"),
    )
    has = [all(plain.known[m.name][i] is not None for m in base.values()) for i in range(len(pool))]
    corpus = select_corpus(pool, has_hashes=has)
    index = {s.key: i for i, s in enumerate(plain.sources)}
    distractors = corpus.distractors[:max_distractors] if max_distractors else corpus.distractors
    slots = ("original", *ALL_VARIANTS)
    out: dict = {"slots": list(slots), "edits": [e.id for e in edits], "halves": {}}
    families = {e.id: e.family for e in edits}
    kept: dict[str, tuple] = {}
    for half, whole in zip(HALVES, split_known(corpus.known), strict=True):
        sources = whole[:limit] if limit else whole
        known = hash_known_set(
            sources,
            edits,
            list(base.values()),
            settings=settings,
            workers=workers,
            cache_root=cache_root,
            progress=stderr_progress(f"{half}: edited copies"),
        )
        variants = _hash_variants(known.sources, settings, ALL_VARIANTS, cache_root, workers)
        by_type = {}
        for name, m in base.items():
            lm = ListSideMatcher(m.hash_type, slots, base=m)
            codes = np.stack(
                [lm.known_code_from(variants[s.key]["values"].get(m.hash_type, {})) for s in known.sources]
            )
            dq = [plain.query[m.name][index[s.key]] for s in distractors]
            by_type[name] = slot_distances(lm, codes, known.edits[m.name], dq)
        scenes = np.array([s.scene or "" for s in known.sources], dtype=object)
        not_counted = np.eye(len(scenes), dtype=bool) | (
            (scenes[:, None] == scenes[None, :]) & (scenes[:, None] != "")
        )
        kept[half] = (by_type, not_counted)
        out["halves"][half] = _half_report(by_type, slots, not_counted, families)
        out["halves"][half].update(known=len(known.sources), distractors=len(distractors))
        print(f"{half}: {len(known.sources)} known, {len(distractors)} distractors", file=sys.stderr)
    tuning = out["halves"]["tuning"]
    out["chosen_on_tuning"] = tuning["greedy"]
    chosen = [0, *(slots.index(name) for name, _ in tuning["greedy"])]
    default = [0, *(slots.index(name) for name in DEFAULT_VARIANTS)]
    for half, rep in out["halves"].items():
        rep["chosen"] = _set_report(*kept[half][:1], chosen, kept[half][1], families)
        rep["default"] = _set_report(*kept[half][:1], default, kept[half][1], families)
    return out


def _set_report(by_type, chosen, not_counted, families) -> dict:
    """Recall, false matches and per-family recall of one variant set under hashwatch's rule with the
    product's query side (PDQ with its default candidates; ``plain_query``: PDQ with dihedral only), and
    each type's recall at its threshold."""
    out: dict = {}
    for key, pdq_key in (("product", "pdq_cands"), ("plain_query", "pdq")):
        found, fk, fd, fdq = rule_hits(by_type, chosen, not_counted, pdq_key)
        per_family: dict[str, list] = {}
        for edit in found:
            per_family.setdefault(families[edit], []).append(edit)
        out[key] = {
            "recall": recall(found),
            "false_known_pairs": fk,
            "false_distractor_pairs": fd,
            "distractors_matched": fdq,
            "per_family": {f: recall(found, es) for f, es in per_family.items()},
        }
    return {
        **out,
        "per_type": {
            name: recall(type_hits(sd, chosen, sd.matcher.current_threshold or RULE[name]))
            for name, sd in by_type.items()
        },
    }


def _half_report(by_type, slots, not_counted, families) -> dict:
    """The original alone, every variant, each variant alone with the original, the greedy choice."""
    rep = {"original": _set_report(by_type, [0], not_counted, families)}
    rep["all"] = _set_report(by_type, list(range(len(slots))), not_counted, families)
    rep["per_variant"] = {
        name: _set_report(by_type, [0, s], not_counted, families) for s, name in enumerate(slots) if s
    }
    rep["greedy"] = greedy_variants(by_type, slots, not_counted, pdq_key="pdq_cands")
    return rep


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m hashwatch.evaluation.list_side", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--limit", type=int, default=None, help="the first N known photos of each half")
    p.add_argument("--max-distractors", type=int, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--edits", default=None, metavar="ID,ID")
    p.add_argument("--out", default=None, metavar="JSON", help="write the figures here too")
    args = p.parse_args(argv)
    result = measure(
        limit=args.limit,
        max_distractors=args.max_distractors,
        workers=args.workers,
        edit_ids=args.edits.split(",") if args.edits else None,
    )
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
