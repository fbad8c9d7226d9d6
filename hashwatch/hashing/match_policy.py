"""Match policy: what a match is, which hash types and query variants are tried, at which thresholds, and
which near-matches need corroborating.

:class:`MatchOptions` holds the choices (the CLI's ``--threshold``, ``--match-types``, ``--corroborate``, ...);
:func:`query_values` expands a batch of images into the values one hash type is searched with (the plain hash,
its dihedral variants, its query-side candidates); :class:`Match` is one result row::

    options = MatchOptions(thresholds={"pdq": 31}, corroborate=parse_corroboration(["phash=dhash:12"]))
    owners, values = query_values(many, "pdq", options)   # owners[i] = (image number, variant or None)

The allowlist (known collisions, known-innocent images) is applied after matching, to these rows:
:mod:`hashwatch.hashing.allowlist`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hashwatch.errors import UserError
from hashwatch.hashing.hash_types import IndexKind, get_hash_type

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.image_hashes import ImageHashes

__all__ = [
    "DEFAULT_CORROBORATION",
    "DEFAULT_MATCH_OPTIONS",
    "FrameView",
    "MATCH_BATCH",
    "UNCORROBORATED_POLICIES",
    "Match",
    "MatchOptions",
    "frame_views",
    "match_by_default",
    "parse_corroboration",
    "query_values",
]


@dataclass(frozen=True)
class Match:
    """One list entry that one of an image's hashes matched."""

    hash_type: str
    query_hash: str
    list_hash: str
    distance: int
    match_kind: (
        str  # "exact" (a byte digest: the same file) | "near" (a perceptual hash within the threshold)
    )
    category: str | None
    source: str | None
    list_version: str | None
    # Which query variant matched: a DCT dihedral variant ("rot90", "flipx", ...) or a query-side candidate
    # ("trimmed", "uncaptioned", "rot90-real", "deskew+3.0", "extend-c4", ...); None for the plain hash.
    variant: str | None = None
    # For a corroborated type (pHash by default): what confirmed it, "<type>:<distance>" (the same list picture's
    # hash of that type within its corroboration threshold, e.g. "dhash:7"); None when not corroborated (a type
    # that needs none, or an entry the list gives no means to corroborate, kept by ``uncorroborated="keep"``).
    corroboration: str | None = None
    # The list's own id of the picture this entry hashes for this source (its rows' ``item_id``), if any.
    item_id: str | None = None
    # The animation frame whose hash matched (0 for the first frame, whose hashes are the image's own); None
    # for a still image, and for a byte digest (the file, not a frame).
    frame_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# Images matched per KnownHashIndex.match_many call by its batch callers (MatchKnownHashes, ``hashwatch
# match``). Against 8e5 list entries (pdq, phash, dhash, md5) with real images' dihedral and candidate hashes:
# 1.66x the images/s of one at a time at 64, 1.9x at 256 (medians of 9, load average 11 on 2 cores); 64 keeps
# what a Beam bundle holds back small.
MATCH_BATCH = 64

# A pHash near-match counts only where the copy's dHash is within 12 bits of the dHash of the same list picture
# (list rows sharing source and item_id). The evaluation chose dHash: plain pHash @ 4 alone gives 3 false
# matches on the distractors, corroborated none, at the same recall (docs/evaluation.md). The radius was
# chosen on the tuning half (issue 23, benchmarks/corroboration_radius.py, docs/hashing.md): 12 is the largest
# with no false match (13 gives one) and finds 2 more copies than 10 (cropped rotations at 11 bits); on the
# held-back half 1 more, still 0 false matches.
DEFAULT_CORROBORATION: Mapping[str, tuple[str, int]] = {"phash": ("dhash", 12)}
UNCORROBORATED_POLICIES = ("keep", "drop")


@dataclass(frozen=True)
class MatchOptions:
    """How to match: per-type thresholds (default: each type's ``default_threshold``), dihedral PDQ variants,
    which hash types to use (default: every type the index holds whose ``match_by_default`` is true, i.e.
    all but dhash; docs/evaluation.md says why), which query-side candidate families to try (default:
    :data:`~hashwatch.hashing.candidate_defaults.DEFAULT_CANDIDATE_FAMILIES`; ``()`` tries none) and for which
    hash types (default: :data:`~hashwatch.hashing.candidate_defaults.DEFAULT_CANDIDATE_HASH_TYPES`, PDQ
    only: pHash candidates add false matches). ``dihedral=False`` also leaves out the ``dihedral_real``
    candidates: no flipped or turned copy is matched.

    ``corroborate`` maps a hash type to ``(other type, threshold)``: a near-match of the first counts only
    where the copy's hash of the other type is within that threshold of the same list picture's (default
    :data:`DEFAULT_CORROBORATION`, pHash by dHash @ 12; ``{}`` switches it off). A list entry the list gives
    no means to corroborate (no ``item_id``, or its picture has no hash of the other type) is kept
    (``uncorroborated="keep"``, the plain rule) or dropped (``"drop"``)."""

    thresholds: Mapping[str, int] = field(default_factory=dict)
    dihedral: bool = True
    hash_types: tuple[str, ...] | None = None
    candidates: tuple[str, ...] | None = None
    candidate_hash_types: tuple[str, ...] | None = None
    corroborate: Mapping[str, tuple[str, int]] | None = None
    uncorroborated: str = "keep"

    def candidate_types(self) -> frozenset[str]:
        """The hash types whose candidates are matched."""
        from hashwatch.hashing.candidate_defaults import DEFAULT_CANDIDATE_HASH_TYPES

        chosen = self.candidate_hash_types
        return frozenset(DEFAULT_CANDIDATE_HASH_TYPES if chosen is None else chosen)

    def __post_init__(self) -> None:
        if self.candidates is not None:
            from hashwatch.hashing.candidates import check_families

            object.__setattr__(self, "candidates", check_families(self.candidates))
        if self.uncorroborated not in UNCORROBORATED_POLICIES:
            raise ValueError(f"uncorroborated must be one of {', '.join(UNCORROBORATED_POLICIES)}")
        for name, (other, threshold) in self.corroborations().items():
            if name == other or int(threshold) < 0:
                raise ValueError(f"corroborate {name!r}: needs another hash type and a threshold >= 0")

    def corroborations(self) -> Mapping[str, tuple[str, int]]:
        """The corroboration rules in force: ``{type: (corroborating type, threshold)}``."""
        rules = DEFAULT_CORROBORATION if self.corroborate is None else self.corroborate
        return {k: (v[0], int(v[1])) for k, v in rules.items()}

    def candidate_families(self) -> frozenset[str]:
        """The candidate families to try."""
        from hashwatch.hashing.candidates import DEFAULT_CANDIDATE_FAMILIES

        families = set(DEFAULT_CANDIDATE_FAMILIES if self.candidates is None else self.candidates)
        if not self.dihedral:
            families.discard("dihedral_real")
        return frozenset(families)

    def threshold(self, name: str, fallback: int | None = None) -> int:
        """The threshold for ``name``: the override, else the registered type's default, else ``fallback``
        (the default recorded in the index when the type, e.g. a plug-in, is not registered here)."""
        if name in self.thresholds:
            return int(self.thresholds[name])
        try:
            return get_hash_type(name).default_threshold
        except KeyError:
            if fallback is None:
                raise
            return fallback


DEFAULT_MATCH_OPTIONS = MatchOptions()


def parse_corroboration(items: Sequence[str]) -> dict[str, tuple[str, int]] | None:
    """``--corroborate`` values (``TYPE=OTHER:N``, or ``none``) as ``MatchOptions.corroborate``: None (the
    default rule) when none is given, ``{}`` for ``none``; a bad value is a :class:`UserError`."""
    if not items:
        return None
    rules: dict[str, tuple[str, int]] = {}
    for text in items:
        if text.strip().lower() == "none":
            if len(items) > 1:
                raise UserError("--corroborate none cannot be combined with rules")
            return {}
        name, sep, rest = text.partition("=")
        other, sep2, bits = rest.partition(":")
        name, other = name.strip().lower(), other.strip().lower()
        if not sep or not sep2 or not bits.strip().isdigit():
            raise UserError(
                f"--corroborate {text!r}: expected TYPE=OTHER:N, e.g. --corroborate phash=dhash:12"
            )
        for t in (name, other):
            try:
                ht = get_hash_type(t)
            except (KeyError, ValueError):
                raise UserError(f"--corroborate {text!r}: unknown hash type {t!r}") from None
            if ht.index_kind != IndexKind.HAMMING:
                raise UserError(f"--corroborate {text!r}: {t} is not a perceptual (Hamming) hash type")
        if name == other:
            raise UserError(f"--corroborate {text!r}: a type cannot corroborate itself")
        rules[name] = (other, int(bits))
    return rules


def match_by_default(name: str) -> bool:
    """Whether a type is matched when ``MatchOptions.hash_types`` is None (all but dhash: docs/evaluation.md)."""
    try:
        return get_hash_type(name).match_by_default
    except KeyError:  # a plug-in's values in the index, the plug-in not registered here
        return True


def query_values(
    many: Sequence[ImageHashes], name: str, options: MatchOptions
) -> tuple[list[tuple[int, str | None]], list[str]]:
    """The values type ``name`` is searched with for a batch of images, and whose each is: ``(image number,
    None)`` for the plain hash, ``(image number, variant)`` for a dihedral variant (``options.dihedral``) or a
    query-side candidate of a chosen family (for the chosen candidate types), in that order per image.

    Candidates come in the registry's family order, then by name, whatever order they were stored in: among
    equal distances the first tried wins, and a crawl (candidates as computed) and a rescan (candidates as
    read back from images/) must name the same one."""
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES, candidate_family

    rank = {family: i for i, family in enumerate(CANDIDATE_FAMILIES)}

    families = options.candidate_families()
    candidates = bool(families) and name in options.candidate_types()
    owners: list[tuple[int, str | None]] = []
    values: list[str] = []
    for k, h in enumerate(many):
        v = h.hash_value(name)
        if v is None:
            continue
        owners.append((k, None))
        values.append(v)
        if options.dihedral:
            for variant, vv in h.variants(name).items():
                owners.append((k, variant))
                values.append(vv)
        if candidates:
            chosen = [(v, vv) for v, vv in h.candidates(name).items() if candidate_family(v) in families]
            for variant, vv in sorted(
                chosen, key=lambda c: (rank.get(candidate_family(c[0]), len(rank)), c[0])
            ):
                owners.append((k, variant))
                values.append(vv)
    return owners, values


class FrameView:
    """A later distinct frame of an animation as a query of its own: its perceptual hashes, no variants, no
    candidates (what :func:`query_values` and corroboration read of an image)."""

    __slots__ = ("hashes",)

    def __init__(self, hashes: Mapping[str, str]):
        self.hashes = hashes

    def hash_value(self, name: str) -> str | None:
        return self.hashes.get(name)

    def variants(self, name: str) -> dict[str, str]:
        return {}

    def candidates(self, name: str) -> dict[str, str]:
        return {}


def frame_views(many: Sequence[ImageHashes]) -> tuple[list[Any], list[tuple[int, int | None]]] | None:
    """A batch with every animation's later distinct frames appended as queries of their own
    (:class:`FrameView`), and whose each query is: ``(image number, frame index)``, frame index 0 for an
    animation itself (its frame 0), None for a still image. None when the batch holds no animation (the
    batch is matched as it is)."""
    if not any(getattr(h, "frame_count", None) is not None for h in many):
        return None
    queries: list[Any] = list(many)
    origins: list[tuple[int, int | None]] = [
        (k, 0 if getattr(h, "frame_count", None) is not None else None) for k, h in enumerate(many)
    ]
    for k, h in enumerate(many):
        for frame in getattr(h, "frame_hashes", None) or ():
            queries.append(FrameView(frame.hashes))
            origins.append((k, frame.frame_index))
    return queries, origins
