"""``hashwatch eval``: run the detection-quality evaluation and write its report.

::

    hashwatch eval                                # the held-back evaluation (issue 23) -> docs/eval/held_back/
    hashwatch eval --matchers anchors,default,pdq+regions     # a new candidate family beside the anchors
    hashwatch eval --suite v1                     # the first suite (fixed edits, no split) -> docs/eval/
    hashwatch eval --limit 40 --families resize,crop --out /tmp/eval     # a quick look
    hashwatch eval --candidates                   # list near pairs to review for deduplication (no evaluation)

Debian packages are fetched with ``apt-get download`` and cached (see ``hashwatch.evaluation.photo_corpus``);
hashes are cached in ``.cache/eval`` (hashes only). A full run on 2 cores takes 5-8 minutes with an empty
cache and about 10 seconds from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hashwatch.errors import UserError

__all__ = ["register", "run_evaluation"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="detection-quality evaluation: recall per edit, false matches, thresholds (docs/evaluation.md)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--package",
        action="append",
        default=None,
        metavar="PKG",
        help="Debian package of the corpus (repeatable; default: every package in hashwatch.evaluation.corpus)",
    )
    p.add_argument(
        "--suite",
        choices=("v2", "v1"),
        default="v2",
        help="v2 (default): the held-back evaluation, spec edits drawn per half, harder negatives (issue 23, "
        "report in docs/eval/held_back); v1: the first suite's fixed edits on every picture (docs/eval)",
    )
    p.add_argument(
        "--matchers",
        default=None,
        metavar="NAME,NAME",
        help="what to evaluate (hashwatch.evaluation.matcher_sets): anchors, default, pdq, pdq-dihedral, phash, "
        "dhash, pdq+FAMILY[+FAMILY], phash+FAMILY, pdq+all, module:function; default for v2: anchors,default",
    )
    p.add_argument("--no-negatives", action="store_true", help="v2: leave out the harder negatives")
    p.add_argument(
        "--out", type=Path, default=None, help="report folder (default docs/eval/held_back, v1: docs/eval)"
    )
    p.add_argument(
        "--max-side", type=int, default=1024, help="known originals fit this many px (default 1024)"
    )
    p.add_argument("--workers", type=int, default=2, help="hashing processes (default 2)")
    p.add_argument(
        "--edits", default=None, metavar="ID,ID", help="only these edit ids (e.g. resize@0.5,grayscale)"
    )
    p.add_argument("--families", default=None, metavar="F,F", help="only these edit families")
    p.add_argument("--limit", type=int, default=None, help="use only the first N known photos (quick runs)")
    p.add_argument("--max-distractors", type=int, default=None, help="use at most N distractors")
    p.add_argument(
        "--no-list-only",
        action="store_true",
        help="leave out the list-only entries (hashwatch.evaluation.corpus.LIST_ONLY_PACKAGES)",
    )
    p.add_argument(
        "--no-query-candidates",
        action="store_true",
        help="only the plain matchers: leave out the query-side candidate matchers (issue 9; faster)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the hash cache")
    p.add_argument("--cache-dir", type=Path, default=None, help="hash cache folder (default .cache/eval)")
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="MATCHER=N",
        help="report at this threshold instead of hashwatch's default (repeatable), e.g. phash=8",
    )
    p.add_argument(
        "--candidates",
        action="store_true",
        help="print the near pairs (known photo vs any image) a reviewer must look at, then stop",
    )
    p.set_defaults(func=_cmd_eval)


def _parse_thresholds(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise UserError(f"--threshold wants MATCHER=N, got {item!r}")
        out[name.strip()] = int(value)
    return out


def _selected_edits(select, args: argparse.Namespace) -> list:
    """The edits ``--edits`` and ``--families`` name, through ``select`` (either suite's selector); a name it
    does not know, or an empty selection, is a one-line error."""
    try:
        edits = select(
            args.edits.split(",") if args.edits else None,
            args.families.split(",") if args.families else None,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not edits:
        raise UserError("no edit selected")
    return edits


def _cmd_eval(args: argparse.Namespace) -> int:
    from hashwatch.evaluation.edits import select_edits

    if args.suite == "v2" and not args.candidates:
        return _cmd_eval_v2(args)
    if args.out is None:
        args.out = Path("docs/eval")
    edits = _selected_edits(select_edits, args)
    run_evaluation(
        packages=args.package,
        out_dir=args.out,
        edits=edits,
        max_side=args.max_side,
        workers=args.workers,
        limit=args.limit,
        max_distractors=args.max_distractors,
        cache_dir=None if args.no_cache else (args.cache_dir or "default"),
        thresholds=_parse_thresholds(args.threshold),
        candidates_only=args.candidates,
        list_only_packages=() if args.no_list_only else None,
        matchers=_resolve(args.matchers) if args.matchers else _matchers(not args.no_query_candidates),
    )
    return 0


def _resolve(spec: str):
    from hashwatch.evaluation.matcher_sets import resolve_matchers

    try:
        return resolve_matchers(spec)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _cmd_eval_v2(args: argparse.Namespace) -> int:
    """The held-back evaluation (hashwatch.evaluation.held_back)."""
    from hashwatch.evaluation.edits_spec import select_spec_edits
    from hashwatch.evaluation.held_back import run_held_back_evaluation
    from hashwatch.evaluation.matcher_sets import DEFAULT_MATCHERS

    edits = _selected_edits(select_spec_edits, args)
    if args.threshold:
        raise UserError(
            "--threshold is for --suite v1; v2 reports the current and the tuning half's thresholds"
        )
    run_held_back_evaluation(
        packages=args.package,
        out_dir=args.out or Path("docs/eval/held_back"),
        edits=edits,
        matchers=_resolve(args.matchers or DEFAULT_MATCHERS),
        workers=args.workers,
        limit=args.limit,
        max_distractors=args.max_distractors,
        cache_dir=None if args.no_cache else (args.cache_dir or "default"),
        list_only_packages=() if args.no_list_only else None,
        negatives=not args.no_negatives,
    )
    return 0


def _matchers(query_candidates: bool):
    """The plain matchers, and with ``query_candidates`` the candidate matchers and their fusion."""
    from hashwatch.evaluation.matchers import candidate_matchers, default_matchers

    return default_matchers() + (candidate_matchers() if query_candidates else [])


def hash_list_only(pool, packages, matchers, settings, *, workers: int, cache_root):
    """The list-only entries (:data:`~hashwatch.evaluation.corpus.LIST_ONLY_PACKAGES` by default: ``packages``
    None) hashed as known originals, or None when no package is named: the pictures of those packages with a
    shorter side >= 256 px that are not already in ``pool``."""
    from hashwatch.evaluation.corpus import LIST_ONLY_PACKAGES
    from hashwatch.evaluation.edits import select_edits
    from hashwatch.evaluation.runner import hash_known_set, stderr_progress

    packages = LIST_ONLY_PACKAGES if packages is None else packages
    if not packages:
        return None
    pool_keys = {c.source.key for c in pool}
    extra = [c for c in _pool(packages) if min(c.width, c.height) >= 256 and c.source.key not in pool_keys]
    unique = list({c.source.key: c.source for c in extra}.values())
    return hash_known_set(
        unique,
        select_edits(["original"]),
        matchers,
        settings=settings,
        workers=workers,
        cache_root=cache_root,
        progress=stderr_progress("list-only entries"),
    )


def _pool(packages):
    """Every decodable image of the packages (shorter side >= 50 px, <= 40 MP) as CorpusImage records."""
    from hashwatch.evaluation.corpus import CorpusImage
    from hashwatch.evaluation.photo_corpus import PhotoCorpusUnavailable, default_cache_dir, ensure_package
    from hashwatch.evaluation.runner import ImageSource

    root = default_cache_dir()
    pool = []
    for package in packages:
        try:
            found = ensure_package(package, root)
        except PhotoCorpusUnavailable as exc:
            raise UserError(f"cannot fetch {package}: {exc}") from None
        for photo in found:
            if min(photo.width, photo.height) < 50 or photo.width * photo.height > 40_000_000:
                continue
            source = ImageSource(photo.sha256, photo.path, package, path=str(root / photo.path))
            pool.append(CorpusImage(source, photo.width, photo.height, photo.format))
    return pool


def run_evaluation(
    *,
    packages=None,
    out_dir: Path,
    edits,
    max_side: int = 1024,
    workers: int = 2,
    limit: int | None = None,
    max_distractors: int | None = None,
    cache_dir="default",
    thresholds=None,
    candidates_only: bool = False,
    matchers=None,
    list_only_packages=None,
) -> dict:
    """Fetch, select, hash, summarise, report (see the module docstring); returns the run's facts."""
    from hashwatch.evaluation.corpus import EVAL_PACKAGES, select_corpus
    from hashwatch.evaluation.hash_cache import default_cache_dir
    from hashwatch.evaluation.matchers import default_matchers
    from hashwatch.evaluation.report import write_report
    from hashwatch.evaluation.runner import (
        HashedPlain,
        KnownSettings,
        hash_known_set,
        hash_plain,
        stderr_progress,
        summarise,
    )

    started = time.monotonic()
    timings: dict[str, float] = {}
    cache_root = default_cache_dir() if cache_dir == "default" else cache_dir
    matchers = matchers or default_matchers()
    packages = list(packages or EVAL_PACKAGES)

    t = time.monotonic()
    pool = _pool(packages)
    timings["fetch"] = time.monotonic() - t
    t = time.monotonic()
    plain = hash_plain(
        [c.source for c in pool],
        matchers,
        workers=workers,
        cache_root=cache_root,
        progress=stderr_progress("pool"),
    )
    timings["hash pool"] = time.monotonic() - t
    index = {s.key: i for i, s in enumerate(plain.sources)}
    has_hashes = [all(plain.known[m.name][i] is not None for m in matchers) for i in range(len(pool))]
    corpus = select_corpus(pool, has_hashes=has_hashes)
    known_sources = corpus.known[:limit] if limit else corpus.known
    distractor_sources = corpus.distractors[:max_distractors] if max_distractors else corpus.distractors

    if candidates_only:
        _print_candidates(
            plain, index, known_sources, [c.source for c in pool], matchers, dict(corpus.removed)
        )
        return {}

    t = time.monotonic()
    known = hash_known_set(
        known_sources,
        edits,
        matchers,
        settings=KnownSettings(max_side=max_side),
        workers=workers,
        cache_root=cache_root,
        progress=stderr_progress("known photos and their edits"),
    )
    timings["hash edits"] = time.monotonic() - t
    t = time.monotonic()
    list_only = hash_list_only(
        pool,
        list_only_packages,
        matchers,
        KnownSettings(max_side=max_side),
        workers=workers,
        cache_root=cache_root,
    )
    timings["hash list-only entries"] = time.monotonic() - t
    sub = [index[s.key] for s in distractor_sources]
    distractors = HashedPlain(
        [plain.sources[i] for i in sub],
        {m: [v[i] for i in sub] for m, v in plain.query.items()},
        {m: [v[i] for i in sub] for m, v in plain.known.items()},
        [plain.status[i] for i in sub],
    )
    t = time.monotonic()
    summaries = summarise(known, matchers, distractors, list_only=list_only)
    timings["compare"] = time.monotonic() - t
    product = _product_facts(known, distractors, list_only, matchers)
    if product:
        timings["through the product"] = time.monotonic() - t - timings["compare"]
    timings["total"] = time.monotonic() - started
    removed_by_reason: dict[str, int] = {}
    for _, reason in corpus.removed:
        key = reason.split(" (")[0] if reason.startswith("same picture") else reason.split(" of ")[0]
        removed_by_reason[key] = removed_by_reason.get(key, 0) + 1
    facts = {
        "known photos": len(known.sources),
        "known photos dropped (no hash after normalising)": len(known.dropped),
        "distractor images": len(distractors.sources),
        "list-only entries (no edited copies; compared with every query)": (
            len(list_only.sources) if list_only else 0
        ),
        "list entries in all": len(known.sources) + (len(list_only.sources) if list_only else 0),
        "images in the pool": len(pool),
        "edits": len(edits),
        "edited copies": len(known.sources) * len(edits),
        "known originals": f"longest side <= {max_side} px, JPEG quality 95",
        "packages": ", ".join(packages),
        "seconds (this run; hashes already in the cache are not recomputed)": {
            k: round(v, 1) for k, v in timings.items()
        },
        "known per package": _count(known.sources),
        "distractors per package": _count(distractors.sources),
        "list-only entries per package": _count(list_only.sources) if list_only else {},
        "removed": removed_by_reason,
        **product,
    }
    paths = write_report(summaries, Path(out_dir), facts, thresholds)
    print(
        f"eval: {len(known.sources)} known photos x {len(edits)} edits, {len(distractors.sources)} distractors; "
        f"{timings['total']:.0f} s; report in {paths['results']}",
        file=sys.stderr,
    )
    return facts


def _product_facts(known, distractors, list_only, matchers) -> dict[str, dict[str, str]]:
    """The copies through KnownHashIndex with hashwatch's default options (hashwatch.evaluation.product), on
    the list with and without item ids; empty unless the run hashed pdq+all, phash and dhash."""
    from hashwatch.evaluation.product import product_check
    from hashwatch.hashing.match_policy import MatchOptions

    if not {"pdq+all", "phash", "dhash"} <= {m.name for m in matchers}:
        return {}
    out = {}
    for with_items, what in ((True, "list with item ids"), (False, "list without item ids")):
        r = product_check(known, distractors, list_only, options=MatchOptions(), with_item_ids=with_items)
        c = r["corroboration"].get("phash", {})
        out[f"through the product (KnownHashIndex.match_many, default options, {what})"] = {
            "issue 9 suite": f"{r['suite found']:,} of {r['suite copies']:,} ({100 * r['suite recall']:.2f} %) "
            f"over {r['suite edits']} edits",
            "all edits": f"{r['found']:,} of {r['copies']:,}",
            "false matches": f"{r['false matches (copies x other originals)']} (copies x other originals) and "
            f"{r['false matches (distractors x originals)']} (distractors x originals)",
            "list entries": f"{r['list entries']:,}, pHash entries corroborable "
            f"{c.get('corroborable', 0):,} of {c.get('entries', 0):,}",
        }
    return out


def _count(sources) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in sources:
        out[s.group] = out.get(s.group, 0) + 1
    return dict(sorted(out.items()))


def _print_candidates(plain, index, known_sources, all_sources, matchers, removed) -> None:
    """One line per near pair: the distances, the two labels, and what the corpus rules already decided."""
    import numpy as np

    from hashwatch.evaluation.corpus import near_pair_candidates, scene_of
    from hashwatch.evaluation.runner import _stack

    kidx = [index[s.key] for s in known_sources]
    distances = {}
    for m in matchers:
        codes = np.stack([plain.known[m.name][i] for i in kidx])
        rows, owners = _stack(plain.query[m.name], m.words)
        distances[m.name] = m.distances(rows, owners, len(all_sources), codes)
    known_keys = {s.key for s in known_sources}
    limits = {"pdq-dihedral": 70, "phash": 10, "dhash": 4}
    for q, k, d in near_pair_candidates(distances, {n: v for n, v in limits.items() if n in distances}):
        query = all_sources[q]
        if query.key == known_sources[k].key or (
            query.key in known_keys and query.key > known_sources[k].key
        ):
            continue
        status = f"removed: {removed[query.label]}" if query.label in removed else "kept"
        scene = scene_of(query.label)
        if scene and scene == scene_of(known_sources[k].label):
            status = f"same scene: {scene}"
        distances_text = " ".join(f"{n}={v}" for n, v in d.items())
        print(distances_text, query.label, "|", known_sources[k].label, f"[{status}]")
