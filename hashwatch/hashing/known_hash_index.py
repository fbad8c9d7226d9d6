"""The compiled known-hash index: exact lookup for byte digests, Hamming-radius search for perceptual hashes.

Build once from the lists, load in every worker::

    report = build_index(["iwf.csv", "ncmec.parquet"], "known.hwidx")   # hashwatch.hashing.index_build
    index = KnownHashIndex.load("known.hwidx")           # memory-maps the file: milliseconds, shared pages
    for matches in index.match_many([compute_image_hashes(data) for data in batch]):
        for m in matches:
            print(m.hash_type, m.distance, m.category, m.source)

:class:`KnownHashIndex` composes the parts, each in the module named after it:

- :mod:`~hashwatch.hashing.hamming_search`: multi-index Hamming search (the C extension ``_mih``) for
  perceptual types (phash, dhash, pdq); exact types (md5, sha1, sha256, plug-ins with ``index_kind="exact"``)
  are sorted fixed-width keys searched by bisection; linear plug-in types (their own distance, e.g. PhotoDNA)
  are scanned with the type's ``distance``;
- :mod:`~hashwatch.hashing.index_file`: the file format (memory-mapped; checked by ``index_file_check``);
- :mod:`~hashwatch.hashing.index_build`: loading lists into an index (``build_index``);
- :mod:`~hashwatch.hashing.match_policy`: thresholds, which types and query variants match (``MatchOptions``),
  the :class:`Match` row; :mod:`~hashwatch.hashing.corroboration`: pHash confirmed by dHash.

A match carries the list entry's labels (category, source, list_version); a hash on several lists gives one
:class:`Match` per label. ``Match``, ``MatchOptions`` and ``build_index`` can still be imported from here
(``docs/hashing.md`` shows that import to users and plug-in authors).
"""

from __future__ import annotations

import dataclasses
import mmap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hashwatch.hashing.corroboration import corroborate, coverage
from hashwatch.hashing.hash_codes import bytes_to_codes, hex_to_codes
from hashwatch.hashing.hash_types import IndexKind, get_hash_type
from hashwatch.hashing.index_entries import TypeIndex
from hashwatch.hashing.index_file import ItemNames, read_index, write_index
from hashwatch.hashing.known_hash_list import ITEM_SEPARATOR
from hashwatch.hashing.match_policy import (
    DEFAULT_MATCH_OPTIONS,
    Match,
    MatchOptions,
    frame_views,
    match_by_default,
    query_values,
)

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.image_hashes import ImageHashes

__all__ = ["KnownHashIndex", "Match", "MatchOptions", "build_index"]  # noqa: F822 - build_index: __getattr__


def __getattr__(name: str) -> Any:
    """``build_index`` from its owner, :mod:`hashwatch.hashing.index_build` (which imports this module)."""
    if name == "build_index":
        from hashwatch.hashing.index_build import build_index

        return build_index
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class KnownHashIndex:
    """A compiled, read-only known-hash index. Build with :func:`~hashwatch.hashing.index_build.build_index`;
    open with :meth:`load`."""

    def __init__(
        self,
        header: dict[str, Any],
        types: dict[str, TypeIndex],
        mm: mmap.mmap | None = None,
        item_names: ItemNames | None = None,
    ):
        self.header = header
        self._types = types
        self._mm = mm  # kept alive: the arrays are views into it
        self._labels: list[tuple[str | None, str | None, str | None]] = [tuple(x) for x in header["labels"]]
        self._label_sets: list[tuple[int, ...]] = [tuple(x) for x in header["label_sets"]]
        self._item_names: ItemNames | None = item_names

    # -- metadata

    @property
    def checksum(self) -> str:
        """SHA-256 of the merged list content (see known_hash_list.MergedList.checksum)."""
        return self.header["checksum"]

    @property
    def list_versions(self) -> Mapping[str, str]:
        return dict(self.header.get("list_versions", {}))

    @property
    def hash_types(self) -> list[str]:
        return list(self._types)

    def size(self, hash_type: str | None = None) -> int:
        if hash_type is not None:
            t = self._types.get(hash_type)
            return t.size if t else 0
        return sum(t.size for t in self._types.values())

    def _default_threshold(self, name: str) -> int:
        spec = self.header["types"].get(name, {})
        try:
            return get_hash_type(name).default_threshold
        except KeyError:
            return int(spec.get("default_threshold", 0))

    def corroboration_coverage(self, rules: Mapping[str, tuple[str, int]] | None = None) -> dict[str, Any]:
        """For each corroborated type the index holds: its entries, and how many the list gives the means to
        corroborate (:func:`hashwatch.hashing.corroboration.coverage`)."""
        return coverage(self._types, rules)

    def describe(self) -> dict[str, Any]:
        """Header metadata without the array table (for ``hashwatch index info``)."""
        out = {k: v for k, v in self.header.items() if k not in ("arrays", "labels", "label_sets")}
        out["labels"] = len(self._labels)
        return out

    # -- the file

    def save(self, path: str) -> None:
        """Write the index to ``path`` (atomically; :mod:`hashwatch.hashing.index_file`)."""
        write_index(path, self.header, self._types, self._item_names)

    @classmethod
    def load(cls, path: str, *, verify: bool = False) -> KnownHashIndex:
        """Open an index file: memory-maps it (fast; pages are shared between worker processes).

        ``verify=True`` also checks every array's CRC-32 (reads the whole file). Raises UserError with a
        one-line message if the file is missing, not an index, of another format version, or corrupt, or if
        it holds a perceptual type and the C extension is not built.
        """
        header, types, names, mm = read_index(path, verify)
        return cls(header, types, mm, names)

    # -- matching

    def lookup(
        self, hash_type: str, values: Sequence[str], radius: int | None = None
    ) -> list[list[tuple[str, int, int]]]:
        """For each hex value, every list entry within ``radius`` as (list_hash, distance, label_set).

        ``radius`` defaults to the type's default threshold; exact types ignore it.
        """
        out: list[list[tuple[str, int, int]]] = [[] for _ in values]
        t = self._types.get(hash_type)
        if t is None:
            return out
        found = self._hits(hash_type, values, radius)
        positions = np.array([p for hits in found for p, _ in hits], dtype=np.int64)
        hexes = iter(t.entry_hex(positions) if positions.size else [])
        for k, hits in enumerate(found):
            out[k] = [(next(hexes), d, int(t.label_set[p])) for p, d in hits]
        return out

    def _hits(self, hash_type: str, values: Sequence[str], radius: int | None) -> list[list[tuple[int, int]]]:
        """For each hex value, every list entry within ``radius`` as (entry position, distance)."""
        t = self._types.get(hash_type)
        out: list[list[tuple[int, int]]] = [[] for _ in values]
        if t is None or not values:
            return out
        r = radius if radius is not None else self._default_threshold(hash_type)
        if t.hamming is not None:
            qi, pos, dist = t.hamming.search(hex_to_codes(values, t.bits), r)
            for k, p, d in zip(qi.tolist(), pos.tolist(), dist.tolist(), strict=True):
                out[k].append((p, d))
        elif t.exact_keys is not None:
            nbytes = t.bits // 8
            q = np.frombuffer(bytes.fromhex("".join(values)), dtype=f"S{nbytes}")
            idx = np.searchsorted(t.exact_keys, q)
            for k, i in enumerate(idx.tolist()):
                if i < t.size and t.exact_keys[i] == q[k]:
                    out[k].append((i, 0))
        else:
            assert t.linear_values is not None
            ht = get_hash_type(hash_type)  # a linear type needs its plug-in's distance to be registered
            for k, v in enumerate(values):
                for p, lv in enumerate(t.linear_values):
                    d = ht.distance(v, lv)
                    if d <= r:
                        out[k].append((p, d))
        return out

    def query_hits(self, hash_type: str, raw: np.ndarray, radius: int | None = None) -> np.ndarray:
        """Which queries have at least one list entry within ``radius``: a bulk pre-filter.

        ``raw`` is an (n, bits / 8) uint8 array of query values (already validated); returns the sorted
        indices of the rows with a hit. No Python object per query, so a rescan can screen millions of
        history rows and call :meth:`match_many` for the few that hit. ``radius`` defaults to the type's
        default threshold; exact types ignore it. Linear (plug-in) types fall back to :meth:`lookup`.
        """
        t = self._types.get(hash_type)
        n = int(raw.shape[0])
        if t is None or n == 0:
            return np.zeros(0, dtype=np.int64)
        r = get_hash_type(hash_type).default_threshold if radius is None else radius
        if t.hamming is not None:
            qi, _pos, _dist = t.hamming.search(bytes_to_codes(np.ascontiguousarray(raw), t.bits), r)
            return np.unique(qi).astype(np.int64)
        if t.exact_keys is not None:
            return self._exact_screen(hash_type, t).hits(raw)
        values = [bytes(row).hex() for row in raw]
        return np.array(
            [k for k, hits in enumerate(self.lookup(hash_type, values, r)) if hits], dtype=np.int64
        )

    def _exact_screen(self, hash_type: str, t: TypeIndex) -> ExactScreen:
        """The type's :class:`ExactScreen`, built on first use and kept with the index."""
        screens = self.__dict__.setdefault("_screens", {})
        if hash_type not in screens:
            screens[hash_type] = ExactScreen(t.exact_keys)
        return screens[hash_type]

    def match(self, hashes: ImageHashes, options: MatchOptions | None = None) -> list[Match]:
        """Every list entry one of the image's hashes matches (dihedral PDQ variants and query-side candidates
        included by default)."""
        return self.match_many([hashes], options)[0]

    def match_many(
        self, many: Sequence[ImageHashes], options: MatchOptions | None = None
    ) -> list[list[Match]]:
        """:meth:`match` for a batch: one search call per hash type for the whole batch (faster).

        An animation's later distinct frames (``ImageHashes.frame_hashes``) are matched too, in the same
        search calls; a match says which frame in ``Match.frame_index``. A list entry matched by several
        frames is reported once, by its nearest frame (the lowest frame number among equals)."""
        options = options or DEFAULT_MATCH_OPTIONS
        expanded = frame_views(many)
        if expanded is not None:
            queries, origins = expanded
            return _by_image(len(many), origins, self._match_queries(queries, options))
        return self._match_queries(many, options)

    def _match_queries(self, many: Sequence[Any], options: MatchOptions) -> list[list[Match]]:
        """Every query's matches (an image, or a frame of one: anything with ``hash_value``, ``variants``
        and ``candidates``)."""
        rules = options.corroborations()
        results: list[list[Match]] = [[] for _ in many]
        names = (
            options.hash_types
            if options.hash_types is not None
            else tuple(n for n in self._types if match_by_default(n))
        )
        for name in names:
            if name in self._types:
                for k, match in self._match_type(name, many, options, rules.get(name)):
                    results[k].append(match)
        return results

    def _match_type(
        self, name: str, many: Sequence[ImageHashes], options: MatchOptions, rule: tuple[str, int] | None
    ) -> list[tuple[int, Match]]:
        """The matches of one hash type for a batch, as (image number, match), in each image's order."""
        owners, values = query_values(many, name, options)
        if not values:
            return []
        t = self._types[name]
        threshold = options.threshold(name, self._default_threshold(name))
        kind = "exact" if t.kind == IndexKind.EXACT else "near"
        found = self._hits(name, values, threshold)
        # One match per (image, list hash, label): the plain hash wins over variants and candidates, then
        # the lowest distance (the first tried among equals: DCT variants, then candidates in order).
        best: dict[tuple[int, int, int], tuple[int, int, str | None, str, str | None, int | None]] = {}
        verdicts = None
        if rule is not None and kind == "near":
            flat = [(owners[vi], pos) for vi, hits in enumerate(found) for pos, _ in hits]
            other = self._types.get(rule[0])
            verdicts = iter(corroborate(t, other, flat, rule, many, options.dihedral))
        for (k, variant), query, hits in zip(owners, values, found, strict=True):
            for pos, dist in hits:
                note = picture = None
                if verdicts is not None:
                    verdict, picture = next(verdicts)
                    if verdict is False or (verdict is None and options.uncorroborated == "drop"):
                        continue
                    note = verdict or None
                for label in self._label_sets[int(t.label_set[pos])]:
                    key = (k, pos, label)
                    rank = (0 if variant is None else 1, dist)
                    cur = best.get(key)
                    if cur is None or rank < (cur[0], cur[1]):
                        best[key] = (rank[0], dist, variant, query, note, picture)
        entry_hex: dict[int, str] = {}
        if best:
            positions = np.array(sorted({pos for _, pos, _ in best}), dtype=np.int64)
            entry_hex = dict(zip(positions.tolist(), t.entry_hex(positions), strict=True))
        out: list[tuple[int, Match]] = []
        for (k, pos, label), (_, dist, variant, query, note, picture) in sorted(
            best.items(), key=lambda item: _match_order(item, entry_hex)
        ):
            category, source, version = self._labels[label]
            match = Match(
                hash_type=name,
                query_hash=query,
                list_hash=entry_hex[pos],
                distance=dist,
                match_kind=kind,
                category=category,
                source=source,
                list_version=version,
                variant=variant,
                corroboration=note,
                item_id=self._item_id(t, pos, source, picture),
            )
            out.append((k, match))
        return out

    def _item_id(self, t: TypeIndex, pos: int, source: str | None, prefer: int | None = None) -> str | None:
        """The ``item_id`` the list gives entry ``pos`` for ``source``: the picture ``prefer`` (the one that
        corroborated the match) if it is this source's, else the first of this source's pictures."""
        if t.items is None or self._item_names is None:
            return None
        offsets, data = self._item_names
        pictures = t.items.of(pos).tolist()
        if prefer is not None and prefer in pictures:
            pictures.remove(prefer)
            pictures.insert(0, prefer)
        for item in pictures:
            name = bytes(data[offsets[item] : offsets[item + 1]]).decode(errors="replace")
            item_source, _, item_id = name.partition(ITEM_SEPARATOR)
            if item_source == (source or ""):
                return item_id
        return None

    def entry_hits(
        self, hash_type: str, values: Sequence[str], radius: int | None = None
    ) -> tuple[TypeIndex | None, list[list[tuple[int, int]]], ItemNames | None]:
        """For each hex value, every entry within ``radius`` as (entry position, distance), with the type's
        :class:`TypeIndex` (labels, items, listed videos' frames) and the items' names: what video matching
        (:mod:`hashwatch.video.video_match`) reads, one search for all of a video's frames."""
        return self._types.get(hash_type), self._hits(hash_type, values, radius), self._item_names


class ExactScreen:
    """Which fixed-width byte keys of a batch are among an exact type's sorted keys, without a bisection per
    key: each key's first 64 bits (big-endian, so in the keys' order) pick a bit of a bitmap of the listed
    prefixes (a byte per slot, ~16 slots a key, 2 to 32 MiB), only the ~6 %
    that land on a set bit are bisected by prefix, and only equal prefixes are compared in full::

        screen = ExactScreen(sorted_keys)            # numpy S16/S20/S32 array, sorted
        screen.hits(raw)                             # (n, 16) uint8 queries -> indices of those listed

    Measured on 200,000 md5+sha1+sha256 queries against a 1-million-entry list (2026-12-08, 2 shared cores):
    bisection on the S-typed keys took 286 ms, this 40 ms (see docs/benchmarks.md "Rescan")."""

    def __init__(self, keys: np.ndarray):
        self.keys = keys
        size = len(keys)
        self.nbytes = keys.dtype.itemsize
        self.prefixes = _prefixes(keys.view(np.uint8).reshape(size, self.nbytes))
        bits = int(min(25, max(21, np.ceil(np.log2(max(size, 1) * 16)))))
        self.shift = np.uint64(64 - bits)
        self.bitmap = np.zeros(1 << bits, dtype=bool)
        self.bitmap[self.prefixes >> self.shift] = True

    def hits(self, raw: np.ndarray) -> np.ndarray:
        """Sorted indices of the rows of ``raw`` ((n, >= nbytes) uint8) whose first nbytes are a key."""
        if len(self.keys) == 0 or raw.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        prefix = _prefixes(raw)
        maybe = np.nonzero(self.bitmap[prefix >> self.shift])[0]
        at = np.searchsorted(self.prefixes, prefix[maybe])
        inside = at < len(self.keys)
        maybe, at = maybe[inside], at[inside]
        same = self.prefixes[at] == prefix[maybe]
        maybe, at = maybe[same], at[same]
        if maybe.size == 0:
            return maybe.astype(np.int64)
        # Keys sharing a prefix: bisect those few in full (the first of equal prefixes may not be the key).
        q = np.ascontiguousarray(raw[maybe, : self.nbytes]).view(f"S{self.nbytes}").reshape(-1)
        at = np.searchsorted(self.keys, q)
        inside = at < len(self.keys)
        found = np.zeros(maybe.size, dtype=bool)
        found[inside] = self.keys[at[inside]] == q[inside]
        return maybe[found].astype(np.int64)


def _prefixes(raw: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each row of an (n, >= 8) uint8 array as big-endian uint64 (zero-padded if
    shorter), so that their order is the rows' byte order."""
    n, width = raw.shape
    head = np.zeros((n, 8), dtype=np.uint8)
    head[:, : min(8, width)] = raw[:, :8]
    return head.view(">u8").reshape(n).astype(np.uint64)


def _by_image(
    n: int, origins: Sequence[tuple[int, int | None]], found: Sequence[list[Match]]
) -> list[list[Match]]:
    """The matches of a batch expanded by :func:`~hashwatch.hashing.match_policy.frame_views`, folded back
    per image: each with the frame that matched (a byte digest with none), one per (type, list entry, label),
    the nearest frame first, then the lowest frame number. In the order of the image's own matches, then
    the entries only later frames match (by type, distance, list hash)."""
    best: list[dict[tuple, tuple[tuple, tuple, Match]]] = [{} for _ in range(n)]
    for query, ((k, frame), matches) in enumerate(zip(origins, found, strict=True)):
        for order, match in enumerate(matches):
            frame_index = None if match.match_kind == "exact" else frame
            key = (match.hash_type, match.list_hash, match.category, match.source, match.list_version)
            rank = (match.distance, match.variant is not None, frame_index or 0)
            # Where it is listed: the image's own matches keep their order, later frames' come after.
            place = (
                (0, order, "", 0, "")
                if query < n
                else (1, 0, match.hash_type, match.distance, match.list_hash)
            )
            cur = best[k].get(key)
            if cur is None or rank < cur[0]:
                best[k][key] = (
                    rank,
                    min(place, cur[1]) if cur else place,
                    dataclasses.replace(match, frame_index=frame_index),
                )
    return [[m for _, _, m in sorted(chosen.values(), key=lambda v: v[1])] for chosen in best]


def _match_order(item: tuple[tuple[int, int, int], tuple], entry_hex: Mapping[int, str]) -> tuple:
    (k, pos, label), (_, dist, *_rest) = item
    return (k, dist, entry_hex[pos], label)
