"""One abstraction per hash algorithm, a registry of them, and the plug-in point.

A :class:`HashType` knows its name, its length, how to parse and validate a hex value, how to compute itself
from an image's bytes and/or its decoded working image, how far apart two values are, its default match
threshold and which kind of index serves it:

- ``exact``: equality on the bytes of the value (md5, sha1, sha256, or a plug-in such as sha512);
- ``hamming``: every list value within a Hamming radius (phash, dhash, pdq), served by multi-index hashing;
- ``linear``: a plug-in's own ``distance`` (e.g. PhotoDNA's), served by a linear scan.

Built-ins: ``md5``, ``sha1``, ``sha256`` (of the raw bytes), ``crc32c`` (a content key, never matched against
lists), ``phash`` and ``dhash`` (imagehash's algorithms, 64 bits), ``pdq`` (256 bits with a quality score;
quality < 50 means "no pdq").

**Plug-ins** (a licensed hash such as PhotoDNA) need no change here. Either call :func:`register_hash_type`
with an instance before hashing, or ship a package with an entry point in the group ``hashwatch.hash_types``
whose value is a :class:`HashType` subclass or instance (or a no-argument factory returning one)::

    # setup.py of the plug-in package
    entry_points={"hashwatch.hash_types": ["photodna = my_pdna.hashwatch_plugin:PhotoDnaHashType"]}

Entry points are loaded the first time the registry is read. A plug-in's values appear in
``ImageHashes.extra[name]`` and in known-hash lists under its name.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.decode import DecodedImage

__all__ = [
    "DIHEDRAL_VARIANTS",
    "ENTRY_POINT_GROUP",
    "CryptoHashType",
    "Crc32cHashType",
    "DHashType",
    "HashResult",
    "HashType",
    "IndexKind",
    "PDQ_QUALITY_THRESHOLD",
    "PHashType",
    "PdqHashType",
    "get_hash_type",
    "hamming_distance_hex",
    "hash_types",
    "register_hash_type",
    "unregister_hash_type",
]

ENTRY_POINT_GROUP = "hashwatch.hash_types"

# Names of PDQ's 7 non-trivial dihedral variants, in the order ImageHashes.pdq_dihedral stores them. A variant
# is the hash the image would have after that transform: "rot90" = rotated 90 degrees counter-clockwise, as in
# ThreatExchange's reference (pdqhashing.cpp: Rotate90, Rotate180, Rotate270, FlipX, FlipY, FlipPlus1,
# FlipMinus1).
DIHEDRAL_VARIANTS: tuple[str, ...] = (
    "rot90",
    "rot180",
    "rot270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)

PDQ_QUALITY_THRESHOLD = 50


class IndexKind:
    EXACT = "exact"
    HAMMING = "hamming"
    LINEAR = "linear"
    NONE = "none"  # computed and recorded, never matched (crc32c)

    ALL = (EXACT, HAMMING, LINEAR, NONE)


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


class HashType:
    """The uniform interface. Subclasses set the class attributes and implement :meth:`compute`.

    ``bits`` is the value's length (hex length = bits / 4). ``needs_image`` says whether :meth:`compute`
    wants the decoded working image (``image_mode`` "L" or "RGB"); byte digests only need the bytes.
    ``matchable=False`` types are computed and recorded but may not appear in known-hash lists;
    ``match_by_default=False`` types may be listed and indexed but are matched only when
    ``MatchOptions.hash_types`` names them.
    """

    name: ClassVar[str]
    bits: ClassVar[int]
    index_kind: ClassVar[str]
    default_threshold: ClassVar[int] = 0
    # Matched when MatchOptions names no hash types. False: recorded and indexed, matched only when asked.
    match_by_default: ClassVar[bool] = True
    needs_image: ClassVar[bool] = False
    image_mode: ClassVar[str] = "L"
    matchable: ClassVar[bool] = True
    # Reported values of a lower quality are treated as "no hash" (None: the type has no quality score).
    min_quality: ClassVar[int | None] = None
    description: ClassVar[str] = ""

    @property
    def hex_length(self) -> int:
        return self.bits // 4

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
        """Hash one image from its bytes and, for ``needs_image`` types, its decoded working image.

        ``decoded.image`` is a PIL image in mode ``image_mode`` (possibly a JPEG draft: see
        ``decoded.draft_scale`` and ``decoded.full_size``); ``decoded.luma`` is its luma as float32.
        """
        raise NotImplementedError

    def distance(self, a: str, b: str) -> int:
        """Distance between two parsed values: Hamming for ``hamming`` types, 0 or 1 for ``exact``."""
        if self.index_kind == IndexKind.HAMMING:
            return hamming_distance_hex(a, b)
        return 0 if a == b else 1

    def __repr__(self) -> str:
        return f"<HashType {self.name} ({self.bits} bits, {self.index_kind})>"


class CryptoHashType(HashType):
    """A cryptographic digest of the raw bytes, matched exactly."""

    index_kind = IndexKind.EXACT

    def __init__(self, name: str, bits: int) -> None:
        self.name = name  # type: ignore[misc]
        self.bits = bits  # type: ignore[misc]
        self.description = f"{name} of the raw bytes"  # type: ignore[misc]

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        return HashResult(hashlib.new(self.name, data).hexdigest())


class Crc32cHashType(HashType):
    """CRC-32C of the raw bytes: a cheap content key for deduplication, too short to match lists on."""

    name = "crc32c"
    bits = 32
    index_kind = IndexKind.NONE
    matchable = False
    description = "CRC-32C (Castagnoli) of the raw bytes; a content key, not matched"

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        import google_crc32c

        return HashResult(f"{google_crc32c.value(data):08x}")


def _bits_to_hex(bits) -> str:
    """Row-major bits (numpy bool array), most significant first, as imagehash and PDQ print them."""
    import numpy as np

    return np.packbits(np.asarray(bits, dtype=bool).ravel()).tobytes().hex()


class PHashType(HashType):
    """imagehash.phash: 32x32 Lanczos downscale of luma, 2-D DCT, 8x8 low frequencies above their median.

    Computed by :mod:`hashwatch.hashing.draft_resample`, which applies Pillow's full-resolution Lanczos
    kernel to the JPEG draft; on an undrafted image it equals ``imagehash.phash`` bit for bit (tested).
    """

    name = "phash"
    bits = 64
    index_kind = IndexKind.HAMMING
    # The detection-quality evaluation (docs/evaluation.md): at 10, 5 false matches in 8.3 million
    # comparisons (clip art against wallpapers); the nearest non-matching pair is at 6. At 4: none, and 96.5 %
    # recall on the edits hashes are made for (99.5 % at 10).
    default_threshold = 4
    needs_image = True
    description = "pHash (imagehash 4.3.2 phash, hash_size=8): DCT of a 32x32 luma thumbnail"

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        from hashwatch.hashing.draft_resample import phash_from_luma

        if decoded is None or decoded.image is None:
            return HashResult(None)
        return HashResult(phash_from_luma(decoded.luma, decoded.full_size, decoded.draft_scale))


class DHashType(HashType):
    """imagehash.dhash: 9x8 Lanczos downscale of luma, each pixel brighter than its left neighbour.

    Computed like :class:`PHashType` from the draft; equals ``imagehash.dhash`` on an undrafted image.
    """

    name = "dhash"
    bits = 64
    index_kind = IndexKind.HAMMING
    # Not matched unless asked: the detection-quality evaluation (docs/evaluation.md) found no threshold
    # without false matches. Flat gradients, glows and stripes share the dHash 0000000000000000 (9 pairs of
    # different images at distance 0); at 10, 7,407 false matches in 8.3 million comparisons. When asked for,
    # exact equality.
    default_threshold = 0
    match_by_default = False
    needs_image = True
    description = "dHash (imagehash 4.3.2 dhash, hash_size=8): horizontal gradient signs of a 9x8 thumbnail"

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        from hashwatch.hashing.draft_resample import dhash_from_luma

        if decoded is None or decoded.image is None:
            return HashResult(None)
        return HashResult(dhash_from_luma(decoded.luma, decoded.full_size, decoded.draft_scale))


def _pdq_bits(coefficients):
    """PDQ's bits from its 16x16 DCT output: above the median (pdqBuffer16x16ToBits), hex bit order."""
    import numpy as np

    flat = coefficients.ravel()
    median = np.partition(flat, 127)[127]  # torben(): the lower median of 256 values
    # The hex string's first bit is coefficient (15, 15), its last (0, 0): reverse the row-major order.
    return _bits_to_hex((flat > median)[::-1])


def _pdq_dihedral_dcts(a):
    """The 16x16 DCT of each dihedral variant, from the original's (pdqhashing.cpp dct16OriginalTo*)."""
    import numpy as np

    i = np.arange(16)[:, None]
    j = np.arange(16)[None, :]
    odd_i = (i & 1).astype(bool)
    odd_j = (j & 1).astype(bool)
    odd_ij = ((i + j) & 1).astype(bool)
    return {
        # B[j][i] = A[i][j] if j odd else -A[i][j]
        "rot90": np.where(odd_j, a, -a).T,
        "rot180": np.where(odd_ij, -a, a),
        "rot270": np.where(odd_i, a, -a).T,
        "flipx": np.where(odd_i, a, -a),
        "flipy": np.where(odd_j, a, -a),
        "flip_plus1": a.T,
        "flip_minus1": np.where(odd_ij, -a, a).T,
    }


class PdqHashType(HashType):
    """Meta's PDQ (pdqhash 0.2.8, the reference C++): 256 bits, a quality 0-100, and 7 dihedral variants.

    The reference's steps (Jarosz downscale to 64x64, quality metric, 16x16 DCT, threshold at the median;
    ``pdq/cpp/hashing/pdqhashing.cpp``) are computed by :mod:`hashwatch.hashing.draft_resample`, whose
    downscale emulates the full-resolution filter on a JPEG draft. On an undrafted image the result equals
    ``pdqhash.compute`` (tested). The dihedral variants come from the same DCT by the reference's
    sign/transpose rules (``dct16OriginalTo*``), so one computation yields all 8 hashes.
    """

    name = "pdq"
    bits = 256
    index_kind = IndexKind.HAMMING
    default_threshold = 31  # ThreatExchange's PDQ_CONFIDENT_MATCH_THRESHOLD
    needs_image = True
    min_quality = PDQ_QUALITY_THRESHOLD
    description = "PDQ (Meta, via pdqhash 0.2.8); quality < 50 gives no hash"

    def __init__(self, dihedral: bool = True) -> None:
        self.dihedral = dihedral

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        from hashwatch.hashing.draft_resample import pdq_dct_and_quality_from_luma

        if decoded is None or decoded.image is None:
            return HashResult(None)
        dct, quality = pdq_dct_and_quality_from_luma(decoded.luma, decoded.full_size, decoded.draft_scale)
        if quality < PDQ_QUALITY_THRESHOLD:
            return HashResult(None, quality)
        variants: dict[str, str] = {}
        if self.dihedral:
            variants = {name: _pdq_bits(v) for name, v in _pdq_dihedral_dcts(dct).items()}
        return HashResult(_pdq_bits(dct), quality, variants)


# ---------------------------------------------------------------- registry

_BUILTIN_ORDER = ("md5", "sha1", "sha256", "crc32c", "phash", "dhash", "pdq")
_registry: dict[str, HashType] = {}
_state = {"loaded": False}  # built-ins and entry points are loaded on first use
_lock = threading.RLock()


def _builtins() -> list[HashType]:
    return [
        CryptoHashType("md5", 128),
        CryptoHashType("sha1", 160),
        CryptoHashType("sha256", 256),
        Crc32cHashType(),
        PHashType(),
        DHashType(),
        PdqHashType(),
    ]


def _check(ht: HashType) -> None:
    name = getattr(ht, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
        raise ValueError(f"hash type name must be lower_snake_case, got {name!r}")
    bits = getattr(ht, "bits", None)
    if not isinstance(bits, int) or bits <= 0 or bits % 8:
        raise ValueError(f"hash type {name}: bits must be a positive multiple of 8, got {bits!r}")
    if getattr(ht, "index_kind", None) not in IndexKind.ALL:
        raise ValueError(f"hash type {name}: index_kind must be one of {IndexKind.ALL}")
    if ht.image_mode not in ("L", "RGB"):
        raise ValueError(f"hash type {name}: image_mode must be 'L' or 'RGB'")


def register_hash_type(hash_type: HashType | type[HashType], *, replace: bool = False) -> HashType:
    """Add a hash type (an instance, or a class with a no-argument constructor); returns the instance.

    Registering a name twice is an error unless ``replace=True`` (which is also how a deployment swaps a
    built-in's implementation).
    """
    ht = hash_type() if isinstance(hash_type, type) else hash_type
    _check(ht)
    with _lock:
        _ensure_loaded()
        if ht.name in _registry and not replace:
            raise ValueError(f"hash type {ht.name!r} is already registered")
        _registry[ht.name] = ht
    return ht


def unregister_hash_type(name: str) -> None:
    """Remove a registered type (tests and plug-in reloads); unknown names are ignored."""
    with _lock:
        _ensure_loaded()
        _registry.pop(name, None)


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
        _registry.setdefault(ht.name, ht)


def _ensure_loaded() -> None:
    if _state["loaded"]:
        return
    with _lock:
        if _state["loaded"]:
            return
        for ht in _builtins():
            _registry.setdefault(ht.name, ht)
        _state["loaded"] = True
        _load_entry_points()


def get_hash_type(name: str) -> HashType:
    """The registered type called ``name``; KeyError naming the known types otherwise."""
    _ensure_loaded()
    try:
        return _registry[name]
    except KeyError:
        raise KeyError(f"unknown hash type {name!r} (known: {', '.join(_registry)})") from None


def hash_types() -> list[HashType]:
    """All registered types: built-ins first in their fixed order, then plug-ins by name."""
    _ensure_loaded()
    builtin = [_registry[n] for n in _BUILTIN_ORDER if n in _registry]
    others = sorted((ht for n, ht in _registry.items() if n not in _BUILTIN_ORDER), key=lambda h: h.name)
    return builtin + others
