"""Named matcher lists for ``hashwatch eval --matchers`` (issue 23): anchors, hashwatch's default, plug-ins.

``--matchers`` takes a comma-separated list of names; each is one of:

- ``anchors``: the reference hashes alone, ``pdq``, ``pdq-dihedral``, ``phash``, ``dhash``;
- ``default``: hashwatch's default matcher as the product matches today (``hashwatch-default``): any of PDQ
  with the default candidate families (:data:`~hashwatch.hashing.candidate_defaults.DEFAULT_CANDIDATE_FAMILIES`)
  at its type's threshold and pHash at its threshold corroborated by dHash of the same list picture
  (``MatchOptions``' default rule, :data:`~hashwatch.hashing.match_policy.DEFAULT_CORROBORATION`: 12 bits);
- ``default+FAMILY[+FAMILY...]``: the same with these candidate families added to the default ones (what
  turning a family on by default would give);
- a single anchor (``pdq``, ``pdq-dihedral``, ``phash``, ``dhash``);
- ``pdq+FAMILY[+FAMILY...]`` / ``phash+FAMILY...``: a hash type with these query-side candidate families
  (any family registered in :mod:`hashwatch.hashing.candidates`, e.g. a new ``regions`` family), or
  ``pdq+all`` for every registered family;
- ``module:function``: a plug-in, a function returning a list of :class:`~hashwatch.evaluation.matchers.Matcher`
  (e.g. a list-side matcher), imported by name.

Example::

    matchers = resolve_matchers("anchors,default,pdq+regions,hashwatch.evaluation.list_side:matchers")
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from hashwatch.evaluation.matchers import AnyOfMatcher, CandidateMatcher, HammingMatcher, Matcher
from hashwatch.hashing.match_policy import DEFAULT_CORROBORATION

__all__ = ["ANCHORS", "DEFAULT_MATCHERS", "default_product_matcher", "resolve_matchers"]

ANCHORS: tuple[str, ...] = ("pdq", "pdq-dihedral", "phash", "dhash")
# What `hashwatch eval` runs without --matchers.
DEFAULT_MATCHERS = "anchors,default"
# The dHash radius that corroborates pHash in the product by default (MatchOptions' default rule).
DEFAULT_CORROBORATING_DHASH = DEFAULT_CORROBORATION["phash"][1]


def _anchor(name: str) -> Matcher:
    if name == "pdq-dihedral":
        return HammingMatcher("pdq", dihedral=True)
    return HammingMatcher(name)


def default_product_matcher(extra_families: Sequence[str] = ()) -> Matcher:
    """hashwatch's default matcher (module docstring), at the registered types' current thresholds;
    ``extra_families``: candidate families added to the default ones (``default+FAMILY``)."""
    from hashwatch.hashing.candidate_defaults import DEFAULT_CANDIDATE_FAMILIES

    families = (
        *DEFAULT_CANDIDATE_FAMILIES,
        *(f for f in extra_families if f not in DEFAULT_CANDIDATE_FAMILIES),
    )
    suffix = "".join(f"+{f}" for f in extra_families)
    try:
        pdq = CandidateMatcher("pdq", families, name=f"pdq+default{suffix}")
    except (KeyError, ValueError) as exc:
        raise ValueError(f"--matchers default{suffix}: {exc}") from None
    # The families are part of the cached codes: a change of the defaults must not read stale codes.
    pdq.version = "1-" + "+".join(pdq.candidate_families)
    phash, dhash = HammingMatcher("phash"), HammingMatcher("dhash")
    thresholds = (pdq.current_threshold, phash.current_threshold, DEFAULT_CORROBORATING_DHASH)
    return AnyOfMatcher([pdq, phash, dhash], thresholds, f"hashwatch-default{suffix}", corroborated_by={1: 2})


def _with_candidates(name: str) -> Matcher:
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES

    hash_type, _, rest = name.partition("+")
    families = CANDIDATE_FAMILIES if rest == "all" else tuple(rest.split("+"))
    try:
        matcher = CandidateMatcher(hash_type, families, name=name)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"--matchers {name}: {exc}") from None
    matcher.version = "1-" + "+".join(matcher.candidate_families)
    return matcher


def _plugin(name: str) -> list[Matcher]:
    module, _, function = name.partition(":")
    try:
        made = getattr(importlib.import_module(module), function)()
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--matchers {name}: cannot load {function} from {module}: {exc}") from None
    made = list(made) if isinstance(made, (list, tuple)) else [made]
    if not all(isinstance(m, Matcher) for m in made):
        raise ValueError(f"--matchers {name}: {function} must return Matcher objects")
    return made


def resolve_matchers(spec: str | Sequence[str]) -> list[Matcher]:
    """The matchers a ``--matchers`` value names (module docstring), in order, each name once."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out: dict[str, Matcher] = {}
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name == "anchors":
            made = [_anchor(a) for a in ANCHORS]
        elif name in ANCHORS:
            made = [_anchor(name)]
        elif name in ("default", "hashwatch-default"):
            made = [default_product_matcher()]
        elif name.startswith("default+"):
            made = [default_product_matcher(tuple(name.split("+")[1:]))]
        elif ":" in name:
            made = _plugin(name)
        elif "+" in name:
            made = [_with_candidates(name)]
        else:
            raise ValueError(
                f"--matchers: unknown matcher {name!r} (anchors, default, {', '.join(ANCHORS)}, "
                "pdq+FAMILY, phash+FAMILY, pdq+all, module:function)"
            )
        for m in made:
            out.setdefault(m.name, m)
    if not out:
        raise ValueError("--matchers: no matcher named")
    return list(out.values())
