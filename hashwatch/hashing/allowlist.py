"""The allowlist: hashes that must never be reported, with the reason why.

Known-hash lists contain the odd entry that collides with innocent images (a perceptual hash of a flat
colour, a logo that a list entry happens to be near), and a hotline sometimes clears one specific image after
review. Both go into one small CSV file that the crawl and the rescan apply to every match:

========== ============================================================================================
scope      meaning
========== ============================================================================================
``list``   **this list entry is a known collision**: no image is ever reported for matching the list
           hash (hash_type, hash_value), whichever image, distance or dihedral variant matched it.
``image``  **this image is known innocent**: an image whose own hash of that type equals hash_value
           (exactly, not within a threshold) is never reported, through any of its hashes and any list
           entry. Use a digest (sha256, md5) to clear one file; a PDQ value clears that exact PDQ only.
``both``   both of the above (the default when the column is absent or empty).
========== ============================================================================================

Columns (a header line is required; ``#`` comment lines and blank lines are skipped; other columns are
ignored): ``hash_type``, ``hash_value``, ``reason`` (required, free text: why it is safe),
``scope`` (``list`` | ``image`` | ``both``), ``added_at`` (ISO date or date-time), ``added_by``. Values are
trimmed and lower-cased and validated like list values; a bad row is a :class:`UserError` naming the file and
line. Image scope works for the types every ``matches`` row carries (md5, sha1, sha256, phash, dhash, pdq),
so that a rescan can retract old matches by it; a plug-in type may be allowlisted with scope ``list``.

The allowlist is meant for hundreds or thousands of entries; it travels inside the pipeline's DoFns.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hashwatch.errors import UserError
from hashwatch.hashing.hash_types import MATCHES, ColumnRole, IndexKind, get_hash_type, hash_columns

__all__ = ["IMAGE_SCOPE_TYPES", "SCOPES", "Allowlist", "AllowlistEntry"]

SCOPE_LIST = "list"
SCOPE_IMAGE = "image"
SCOPE_BOTH = "both"
SCOPES = (SCOPE_LIST, SCOPE_IMAGE, SCOPE_BOTH)
# The image hashes a matches/ row carries (md5, sha1, sha256, phash, dhash, pdq): image-scope entries must use
# one of them.
IMAGE_SCOPE_TYPES = tuple(c.hash_type for c in hash_columns(MATCHES) if c.role == ColumnRole.VALUE)
_REQUIRED = ("hash_type", "hash_value", "reason")


@dataclass(frozen=True)
class AllowlistEntry:
    hash_type: str
    hash_value: str
    scope: str  # list | image | both
    reason: str
    added_at: str | None = None
    added_by: str | None = None
    line: int = 0  # in the allowlist file

    def describe(self) -> str:
        """One line for logs: ``pdq:0f1e... (list) 'flat grey collides'``."""
        return f"{self.hash_type}:{self.hash_value[:16]} ({self.scope}) {self.reason!r}"


@dataclass(frozen=True)
class Allowlist:
    """A parsed allowlist. ``suppressing(...)`` says which entry, if any, forbids reporting a match."""

    name: str  # the file it came from (for messages and the manifest)
    sha256: str  # of the file's bytes: recorded in the manifest and in retractions it causes
    entries: tuple[AllowlistEntry, ...]
    _list: dict[tuple[str, str], AllowlistEntry] = field(default_factory=dict, repr=False, compare=False)
    _image: dict[tuple[str, str], AllowlistEntry] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for entry in self.entries:  # later rows win, as in the lists
            key = (entry.hash_type, entry.hash_value)
            if entry.scope in (SCOPE_LIST, SCOPE_BOTH):
                self._list[key] = entry
            if entry.scope in (SCOPE_IMAGE, SCOPE_BOTH):
                self._image[key] = entry

    # -- reading

    @classmethod
    def parse(cls, data: bytes, name: str) -> Allowlist:
        """Parse the bytes of an allowlist file called ``name`` (used in error messages)."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserError(f"{name}: the allowlist is not UTF-8 text") from None
        lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)]
        content = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not content:
            raise UserError(f"{name}: the allowlist is empty (it needs a header: {', '.join(_REQUIRED)})")
        header_line, header_text = content[0]
        delimiter = "\t" if "\t" in header_text else ","
        header = [h.strip().lower() for h in next(csv.reader([header_text], delimiter=delimiter))]
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            raise UserError(
                f"{name}:{header_line}: allowlist header lacks {', '.join(missing)} (has: {', '.join(header)})"
            )
        entries = [
            _entry(name, lineno, dict(zip(header, _row(name, lineno, row_text, delimiter, len(header)))))
            for lineno, row_text in content[1:]
        ]
        return cls(name=name, sha256=hashlib.sha256(data).hexdigest(), entries=tuple(entries))

    @classmethod
    def load(cls, path: str) -> Allowlist:
        """Read a local allowlist file (the pipelines read through Beam's file systems and call ``parse``)."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise UserError(f"cannot read allowlist {path}: {exc.strerror or type(exc).__name__}") from None
        return cls.parse(data, path)

    # -- matching

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def has_image_entries(self) -> bool:
        return bool(self._image)

    def list_entry(self, hash_type: str, list_hash: str) -> AllowlistEntry | None:
        """The entry that marks this list hash as a known collision, if any."""
        return self._list.get((hash_type, list_hash)) if self._list else None

    def image_entry(self, image_hashes: Mapping[str, str | None]) -> AllowlistEntry | None:
        """The entry that marks this image (by any of its hashes, type -> hex) as known innocent, if any."""
        if not self._image:
            return None
        for hash_type in IMAGE_SCOPE_TYPES:
            value = image_hashes.get(hash_type)
            if value:
                entry = self._image.get((hash_type, value))
                if entry is not None:
                    return entry
        return None

    def suppressing(
        self, hash_type: str, list_hash: str, image_hashes: Mapping[str, str | None]
    ) -> AllowlistEntry | None:
        """Why a match of ``list_hash`` by an image with ``image_hashes`` must not be reported, or None."""
        return self.list_entry(hash_type, list_hash) or self.image_entry(image_hashes)

    def split(self, matches: Sequence[Any], image_hashes: Mapping[str, str | None]):
        """``(kept, suppressed)``: matches (anything with ``hash_type`` and ``list_hash``) not allowlisted,
        and ``(match, entry)`` pairs for those that are."""
        kept: list[Any] = []
        suppressed: list[tuple[Any, AllowlistEntry]] = []
        image = self.image_entry(image_hashes) if self._image else None
        for match in matches:
            entry = self.list_entry(match.hash_type, match.list_hash) or image
            if entry is None:
                kept.append(match)
            else:
                suppressed.append((match, entry))
        return kept, suppressed

    def describe(self) -> dict[str, Any]:
        """For the run manifest: file, checksum, entries by scope and type."""
        return {
            "allowlist": self.name,
            "sha256": self.sha256,
            "entries": len(self.entries),
            "by_scope": dict(sorted(Counter(e.scope for e in self.entries).items())),
            "by_hash_type": dict(sorted(Counter(e.hash_type for e in self.entries).items())),
        }


def image_hashes_mapping(hashes: Any) -> dict[str, str | None]:
    """``{type: hex}`` of the image-scope types from an ImageHashes, an ImageRecord or a MatchRecord."""
    return {name: getattr(hashes, name, None) for name in IMAGE_SCOPE_TYPES}


def _row(name: str, lineno: int, text: str, delimiter: str, ncols: int) -> list[str]:
    row = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    if len(row) > ncols:
        raise UserError(f"{name}:{lineno}: {len(row)} columns, the header has {ncols}")
    return [cell.strip() for cell in row] + [""] * (ncols - len(row))


def _entry(name: str, lineno: int, row: dict[str, str]) -> AllowlistEntry:
    where = f"{name}:{lineno}"
    type_name = row["hash_type"].lower()
    try:
        hash_type = get_hash_type(type_name)
    except KeyError as exc:
        raise UserError(f"{where}: {exc.args[0]}") from None
    if not hash_type.matchable or hash_type.index_kind == IndexKind.NONE:
        raise UserError(f"{where}: {type_name} is never matched, so it cannot be allowlisted")
    try:
        value = hash_type.parse(row["hash_value"])
    except ValueError as exc:
        raise UserError(f"{where}: {exc}") from None
    scope = (row.get("scope") or SCOPE_BOTH).lower()
    if scope not in SCOPES:
        raise UserError(f"{where}: scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if scope != SCOPE_LIST and type_name not in IMAGE_SCOPE_TYPES:
        raise UserError(
            f"{where}: scope {scope} needs an image hash every matches row carries "
            f"({', '.join(IMAGE_SCOPE_TYPES)}); use scope=list for {type_name}"
        )
    reason = row["reason"]
    if not reason:
        raise UserError(f"{where}: reason is empty (say why this hash is safe to ignore)")
    added_at = row.get("added_at") or None
    if added_at:
        try:
            dt.datetime.fromisoformat(added_at)
        except ValueError:
            raise UserError(f"{where}: added_at {added_at!r} is not an ISO date or date-time") from None
    return AllowlistEntry(
        hash_type=type_name,
        hash_value=value,
        scope=scope,
        reason=reason,
        added_at=added_at,
        added_by=row.get("added_by") or None,
        line=lineno,
    )
