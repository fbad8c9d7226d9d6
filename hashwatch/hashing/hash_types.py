"""The registry of hash types: the one place that knows which hashes exist, and the plug-in point.

A :class:`HashType` is declared once and everything else derives from it: what it is (name, bits, hex
length, parsing), how it is computed (:class:`Source`: from the bytes, from the decoded picture, or, for
videos, from frames), how it is matched (index kind, distance, default threshold) and where its values are
stored (:func:`hash_columns`: the ``images/`` and ``matches/`` columns of the built-ins; plug-ins go to the
``extra_hashes`` map). The Parquet schemas, list parsing, the index, matching, rescan, the allowlist, the
evaluation, the CLI's choices and the docs' table of types read the registry; the algorithms themselves live
in :mod:`hashwatch.hashing.algorithms`, one module each.

Index kinds:

- ``exact``: equality on the bytes of the value (md5, sha1, sha256, or a plug-in such as sha512);
- ``hamming``: every list value within a Hamming radius (phash, dhash, pdq), served by multi-index hashing;
- ``linear``: a plug-in's own ``distance`` (e.g. PhotoDNA's), served by a linear scan;
- ``none``: computed and recorded, never matched (crc32c, a content key).

**Plug-ins** (a licensed hash such as PhotoDNA) need no change to hashwatch. Either call
:func:`register_hash_type` with an instance or class before hashing, or ship a package with an entry point in
the group ``hashwatch.hash_types`` whose value is a :class:`HashType` subclass or instance (or a no-argument
factory returning one)::

    # setup.py of the plug-in package
    entry_points={"hashwatch.hash_types": ["photodna = my_pdna.hashwatch_plugin:PhotoDnaHashType"]}

    # or, in code
    class Sha512(CryptoHashType):          # hashwatch.hashing.algorithms.digests
        name, bits = "sha512", 512
    register_hash_type(Sha512)

Entry points are loaded the first time the registry is read. A plug-in's values appear in
``ImageHashes.extra[name]``, in the ``images/`` row's ``extra_hashes`` map, and in known-hash lists under its
name.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Optional

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from hashwatch.hashing.decode import DecodedImage

__all__ = [
    "ENTRY_POINT_GROUP",
    "IMAGES",
    "MATCHES",
    "ColumnRole",
    "HashColumn",
    "HashResult",
    "HashType",
    "IndexKind",
    "Source",
    "bits_to_hex",
    "builtin_hash_types",
    "get_hash_type",
    "hamming_distance_hex",
    "hash_columns",
    "hash_types",
    "register_hash_type",
    "unregister_hash_type",
]

ENTRY_POINT_GROUP = "hashwatch.hash_types"


class IndexKind:
    EXACT = "exact"
    HAMMING = "hamming"
    LINEAR = "linear"
    NONE = "none"  # computed and recorded, never matched (crc32c)

    ALL = (EXACT, HAMMING, LINEAR, NONE)


class Source:
    """How a type is computed, i.e. what ``compute`` gets from :func:`compute_image_hashes`:

    - ``BYTES``: ``compute(data, None)``, a digest of the raw bytes; every fetched body has one, so its
      column is never null.
    - ``PICTURE``: ``compute(data, decoded)`` with the decoded still picture (``decoded.image`` in the type's
      ``image_mode``, ``decoded.luma``); no value when the bytes do not decode.
    - ``FRAMES``: a video hash computed from decoded frames (video MD5 of the stream, vPDQ). Reserved for the
      video path (:mod:`hashwatch.video`, types ``video_md5`` and ``vpdq``); still images never run them
      and they have no column in ``images/`` or ``matches/``.
    """

    BYTES = "bytes"
    PICTURE = "picture"
    FRAMES = "frames"

    ALL = (BYTES, PICTURE, FRAMES)


@dataclass(frozen=True)
class HashResult:
    """One hash type's output for one image; ``value`` is None when there is no usable hash (low quality)."""

    value: str | None
    quality: int | None = None
    variants: Mapping[str, str] = field(default_factory=dict)


_HEX = re.compile(r"[0-9a-f]*")


def hamming_distance_hex(a: str, b: str) -> int:
    """Number of differing bits between two equal-length hex strings."""
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths ({len(a)} and {len(b)} hex digits)")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def bits_to_hex(bits: np.ndarray) -> list[str]:
    """Each row of a 2-D bool array as hex, most significant bit first (as imagehash and PDQ print them)."""
    import numpy as np

    return [row.tobytes().hex() for row in np.packbits(bits, axis=1)]


class HashType:
    """The uniform interface. Subclasses set the class attributes and implement :meth:`compute`.

    ``bits`` is the value's length (hex length = bits / 4). ``computed_from`` (:class:`Source`) says what
    :meth:`compute` needs; ``image_mode`` ("L" or "RGB") the mode of the decoded picture it gets.
    ``matchable=False`` types are computed and recorded but may not appear in known-hash lists;
    ``match_by_default=False`` types may be listed and indexed but are matched only when
    ``MatchOptions.hash_types`` names them.

    Storage: a plug-in's values go to the ``extra_hashes`` map of ``images/``. A built-in has
    ``own_column``: a column named after it in ``images/`` and, if matchable, in ``matches/`` (the matched
    image's other hashes); with a ``quality_column`` (in both) and a ``variants_column`` (``images/`` only,
    the values of ``variant_names`` in that order). Those columns are the tables' schema: only the built-ins
    in :func:`_builtins` may have them.

    ``query_candidates``: the type can hash the query-side candidates of :mod:`hashwatch.hashing.candidates`
    (pictures given as PDQ's 64 x 64 luma buffer) through :meth:`hash_buffer` and :meth:`hash_buffers`.
    """

    name: ClassVar[str]
    bits: ClassVar[int]
    index_kind: ClassVar[str]
    default_threshold: ClassVar[int] = 0
    # Matched when MatchOptions names no hash types. False: recorded and indexed, matched only when asked.
    match_by_default: ClassVar[bool] = True
    computed_from: ClassVar[str] = Source.BYTES
    image_mode: ClassVar[str] = "L"
    matchable: ClassVar[bool] = True
    # Reported values of a lower quality are treated as "no hash" (None: the type has no quality score).
    min_quality: ClassVar[int | None] = None
    description: ClassVar[str] = ""
    own_column: ClassVar[bool] = False
    quality_column: ClassVar[str | None] = None
    variants_column: ClassVar[str | None] = None
    variant_names: ClassVar[tuple[str, ...]] = ()
    query_candidates: ClassVar[bool] = False

    @property
    def hex_length(self) -> int:
        return self.bits // 4

    @property
    def needs_image(self) -> bool:
        """Whether :meth:`compute` wants the decoded picture."""
        return self.computed_from == Source.PICTURE

    def parse(self, text: str) -> str:
        """Normalise (strip, lower-case) and validate a hex value; raise ValueError saying what is wrong."""
        if not isinstance(text, str):
            raise ValueError(f"{self.name} value must be a string, not {type(text).__name__}")
        value = text.strip().lower()
        if len(value) != self.hex_length:
            raise ValueError(f"{self.name} needs {self.hex_length} hex digits, got {len(value)}")
        if not _HEX.fullmatch(value):
            raise ValueError(f"{self.name} value is not hexadecimal")
        return value

    def is_valid(self, text: str) -> bool:
        try:
            self.parse(text)
        except ValueError:
            return False
        return True

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        """Hash one image from its bytes and, for ``PICTURE`` types, its decoded working image.

        ``decoded.image`` is a PIL image in mode ``image_mode`` (possibly a JPEG draft: see
        ``decoded.draft_scale`` and ``decoded.full_size``); ``decoded.luma`` is its luma as float32.
        """
        raise NotImplementedError

    def without_variants(self) -> HashType:
        """This type computing no variants (``HashConfig(pdq_dihedral=False)``): itself when it has none."""
        return self

    def hash_buffer(
        self, buffer64: np.ndarray, *, dct: np.ndarray | None = None, gate: bool = True
    ) -> str | None:
        """(``query_candidates`` types) The hash of one candidate picture given as PDQ's 64 x 64 luma buffer;
        None when the type's quality gate (``gate``) says no. ``dct``: the buffer's PDQ DCT when known."""
        raise NotImplementedError(f"{self.name} does not hash query-side candidates")

    def hash_buffers(self, buffers: np.ndarray, dcts: Sequence[np.ndarray | None]) -> list[str]:
        """(``query_candidates`` types) :meth:`hash_buffer` without a gate for a stack of buffers (n x 64 x
        64), computed as one stack: the same hashes, fewer calls."""
        raise NotImplementedError(f"{self.name} does not hash query-side candidates")

    def distance(self, a: str, b: str) -> int:
        """Distance between two parsed values: Hamming for ``hamming`` types, 0 or 1 for ``exact``."""
        if self.index_kind == IndexKind.HAMMING:
            return hamming_distance_hex(a, b)
        return 0 if a == b else 1

    def __repr__(self) -> str:
        return f"<HashType {self.name} ({self.bits} bits, {self.index_kind})>"


# ---------------------------------------------------------------- columns

IMAGES = "images"
MATCHES = "matches"


class ColumnRole:
    VALUE = "value"  # the hash, lower-case hex
    QUALITY = "quality"  # its quality score (int)
    VARIANTS = "variants"  # the values of its variant_names (list of hex)


@dataclass(frozen=True)
class HashColumn:
    """One hash column of ``images/`` or ``matches/``: its name, the type it belongs to, what it holds, and
    whether it is never null (a digest of the bytes)."""

    name: str
    hash_type: str
    role: str
    required: bool = False

    @property
    def python_type(self) -> Any:
        """The field type of the records that carry it (Beam's RowCoder reads nullability from it)."""
        if self.role == ColumnRole.QUALITY:
            return Optional[int]  # noqa: UP045 - typing objects, as the records' other fields
        if self.role == ColumnRole.VARIANTS:
            return Optional[Sequence[str]]  # noqa: UP045
        return str if self.required else Optional[str]  # noqa: UP045


def hash_columns(table: str = IMAGES) -> tuple[HashColumn, ...]:
    """The hash columns of ``images/`` or ``matches/``, in table order, from the built-in types.

    ``images/`` has every built-in's value, quality and variants; ``matches/`` the values and qualities of
    the matchable ones (the matched image's other hashes, for joining with other systems). Plug-in values
    are in the ``extra_hashes`` map, and in ``matches/`` as the ``hash_value`` of their own matches."""
    if table not in (IMAGES, MATCHES):
        raise ValueError(f"no hash columns in table {table!r}")
    out: list[HashColumn] = []
    for ht in builtin_hash_types():
        if table == MATCHES and not ht.matchable or ht.computed_from == Source.FRAMES:
            continue  # video types (video_md5, vpdq) are videos/ columns, never an image's
        out.append(HashColumn(ht.name, ht.name, ColumnRole.VALUE, ht.computed_from == Source.BYTES))
        if ht.quality_column:
            out.append(HashColumn(ht.quality_column, ht.name, ColumnRole.QUALITY))
        if ht.variants_column and table == IMAGES:
            out.append(HashColumn(ht.variants_column, ht.name, ColumnRole.VARIANTS))
    return tuple(out)


# ---------------------------------------------------------------- registry

_registry: dict[str, HashType] = {}
_state: dict[str, Any] = {
    "builtins": {},
    "plugins": False,
}  # loaded on first use: built-ins, then entry points
_lock = threading.RLock()


def _builtins() -> list[HashType]:
    """The built-in types, in the order of their columns: the one list of them."""
    from hashwatch.hashing.algorithms.dhash import DHashType
    from hashwatch.hashing.algorithms.digests import Crc32cHashType, Md5HashType, Sha1HashType, Sha256HashType
    from hashwatch.hashing.algorithms.pdq import PdqHashType
    from hashwatch.hashing.algorithms.phash import PHashType
    from hashwatch.hashing.algorithms.video import VideoMd5HashType, VpdqHashType

    return [
        Md5HashType(),
        Sha1HashType(),
        Sha256HashType(),
        Crc32cHashType(),
        PHashType(),
        DHashType(),
        PdqHashType(),
        VideoMd5HashType(),  # video types last: no column in images/ or matches/ (they live in videos/)
        VpdqHashType(),
    ]


def _storage(ht: HashType) -> tuple:
    return (ht.own_column, ht.quality_column, ht.variants_column, tuple(ht.variant_names), ht.computed_from)


def _check(ht: HashType) -> None:
    name = getattr(ht, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
        raise ValueError(f"hash type name must be lower_snake_case, got {name!r}")
    bits = getattr(ht, "bits", None)
    if not isinstance(bits, int) or bits <= 0 or bits % 8:
        raise ValueError(f"hash type {name}: bits must be a positive multiple of 8, got {bits!r}")
    if getattr(ht, "index_kind", None) not in IndexKind.ALL:
        raise ValueError(f"hash type {name}: index_kind must be one of {IndexKind.ALL}")
    if ht.computed_from not in Source.ALL:
        raise ValueError(f"hash type {name}: computed_from must be one of {Source.ALL}")
    if not isinstance(type(ht).needs_image, property):
        raise ValueError(f"hash type {name}: set computed_from = Source.PICTURE instead of needs_image")
    if ht.image_mode not in ("L", "RGB"):
        raise ValueError(f"hash type {name}: image_mode must be 'L' or 'RGB'")


def _check_storage(ht: HashType) -> None:
    """Only the built-ins have columns of their own (they are the Parquet schema); a replacement of a built-in
    keeps its columns."""
    builtin = _state["builtins"]
    if ht.name in builtin:
        if _storage(ht) != _storage(builtin[ht.name]):
            raise ValueError(
                f"hash type {ht.name}: a replacement must keep the built-in's columns and source "
                f"(own_column, quality_column, variants_column, variant_names, computed_from)"
            )
    elif ht.own_column or ht.quality_column or ht.variants_column:
        raise ValueError(
            f"hash type {ht.name}: only built-ins have columns of their own (they are the images/ and "
            "matches/ schema); a plug-in's values go to the extra_hashes map: leave own_column False"
        )


def _ensure_builtins() -> None:
    if _state["builtins"]:
        return
    with _lock:
        if _state["builtins"]:
            return
        builtins = _builtins()
        for ht in builtins:
            _check(ht)
            _registry.setdefault(ht.name, ht)
        _state["builtins"] = {ht.name: ht for ht in builtins}


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if isinstance(obj, HashType):
            ht = obj
        elif isinstance(obj, type) and issubclass(obj, HashType) or callable(obj):
            ht = obj()
        else:
            raise TypeError(f"entry point {ep.name} in {ENTRY_POINT_GROUP} is not a HashType")
        _check(ht)
        _check_storage(ht)
        _registry.setdefault(ht.name, ht)


def _ensure_loaded() -> None:
    _ensure_builtins()
    if _state["plugins"]:
        return
    with _lock:
        if _state["plugins"]:
            return
        _state["plugins"] = True
        _load_entry_points()


def register_hash_type(hash_type: HashType | type[HashType], *, replace: bool = False) -> HashType:
    """Add a hash type (an instance, or a class with a no-argument constructor); returns the instance.

    Registering a name twice is an error unless ``replace=True`` (which is also how a deployment swaps a
    built-in's implementation; the replacement keeps the built-in's columns).
    """
    ht = hash_type() if isinstance(hash_type, type) else hash_type
    _check(ht)
    with _lock:
        _ensure_loaded()
        _check_storage(ht)
        if ht.name in _registry and not replace:
            raise ValueError(f"hash type {ht.name!r} is already registered")
        _registry[ht.name] = ht
    return ht


def unregister_hash_type(name: str) -> None:
    """Remove a registered plug-in (tests and plug-in reloads); unknown names are ignored. A built-in cannot
    be removed (its columns are the tables' schema); a replaced built-in gets its own implementation back."""
    with _lock:
        _ensure_loaded()
        builtin = _state["builtins"].get(name)
        if builtin is not None:
            _registry[name] = builtin
        else:
            _registry.pop(name, None)


def get_hash_type(name: str) -> HashType:
    """The registered type called ``name``; KeyError naming the known types otherwise."""
    _ensure_loaded()
    try:
        return _registry[name]
    except KeyError:
        raise KeyError(f"unknown hash type {name!r} (known: {', '.join(_registry)})") from None


def builtin_hash_types() -> list[HashType]:
    """The built-in types in their fixed order (as registered: a replacement counts). Reads no entry point:
    the schemas derive from these at import."""
    _ensure_builtins()
    return [_registry[name] for name in _state["builtins"]]


def hash_types() -> list[HashType]:
    """All registered types: built-ins first in their fixed order, then plug-ins by name."""
    _ensure_loaded()
    builtin = _state["builtins"]
    others = sorted((ht for n, ht in _registry.items() if n not in builtin), key=lambda h: h.name)
    return builtin_hash_types() + others


def types_table_markdown() -> str:
    """The registered types as the Markdown table docs/hashing.md shows (a test keeps the two equal)::

    python -m hashwatch.hashing.hash_types    # prints it
    """
    rows = [
        "| name | bits | computed from | index kind | default threshold | stored in | what |",
        "| --- | ---: | --- | --- | ---: | --- | --- |",
    ]
    for ht in hash_types():
        matched = ht.matchable and ht.index_kind != IndexKind.NONE
        threshold = (str(ht.default_threshold) if matched else "-") + (
            "" if ht.match_by_default else ", asked"
        )
        own = [ht.name, ht.quality_column, ht.variants_column]
        stored = ", ".join(f"`{c}`" for c in own if c) if ht.own_column else "`extra_hashes`"
        if ht.computed_from == Source.FRAMES:
            stored = "`videos/`"
        rows.append(
            f"| `{ht.name}` | {ht.bits} | {ht.computed_from} | {ht.index_kind} | {threshold} | {stored} "
            f"| {ht.description} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(types_table_markdown())
