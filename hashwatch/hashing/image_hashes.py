"""Compute every hash of one image from its bytes: the record the pipeline writes and matches.

>>> from hashwatch.hashing.image_hashes import compute_image_hashes
>>> h = compute_image_hashes(open("photo.jpg", "rb").read())     # doctest: +SKIP
>>> h.decode_status, h.pdq, h.phash                              # doctest: +SKIP
('ok', 'f8f8f0ce...', 'ba8c84536bd3c366')

The bytes are hashed (md5, sha1, sha256, crc32c), decoded once (see :mod:`hashwatch.hashing.decode`) and every
enabled image hash type runs on the same small working image. Nothing here keeps the bytes or the pixels:
an :class:`ImageHashes` holds only hashes and metadata, so it is safe to log, write and ship.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from hashwatch.hashing.blas_threads import limit_blas_threads
from hashwatch.hashing.candidates import (
    DEFAULT_CANDIDATE_FAMILIES,
    candidates_for_type,
    check_families,
    compute_candidates,
)
from hashwatch.hashing.decode import (
    DEFAULT_DECODE_CONFIG,
    DecodeConfig,
    DecodedImage,
    DecodeStatus,
    decode_image,
)
from hashwatch.hashing.hash_types import DIHEDRAL_VARIANTS, HashType, PdqHashType, hash_types

__all__ = ["DIHEDRAL_VARIANTS", "HashConfig", "ImageHashes", "compute_image_hashes"]

_PDQ_BY_DIHEDRAL = {True: PdqHashType(dihedral=True), False: PdqHashType(dihedral=False)}

# Fields of ImageHashes that hold a built-in hash type's value (everything else goes to ``extra``).
_FIELD_TYPES = ("md5", "sha1", "sha256", "crc32c", "phash", "dhash", "pdq")


@dataclass(frozen=True)
class HashConfig:
    """What to compute. ``hash_types=None`` means every registered type (built-ins and plug-ins)."""

    decode: DecodeConfig = DEFAULT_DECODE_CONFIG
    hash_types: tuple[str, ...] | None = None
    # Compute PDQ's 7 dihedral variants (nearly free: same DCT) so rotated/flipped copies can match.
    pdq_dihedral: bool = True
    # Query-side candidate families to compute (hashwatch.hashing.candidates): trimmed, uncaptioned,
    # dihedral_real, deskew, extended. () computes none.
    candidates: tuple[str, ...] = DEFAULT_CANDIDATE_FAMILIES

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", check_families(self.candidates))

    def selected_types(self) -> list[HashType]:
        registered = hash_types()
        if self.hash_types is None:
            return registered
        wanted = set(self.hash_types)
        unknown = wanted - {ht.name for ht in registered}
        if unknown:
            raise ValueError(f"unknown hash types: {', '.join(sorted(unknown))}")
        return [ht for ht in registered if ht.name in wanted]


DEFAULT_HASH_CONFIG = HashConfig()


@dataclass(frozen=True)
class ImageHashes:
    """Everything computed from one image's bytes; never holds the bytes or pixels.

    Hex values are lower-case. ``md5``/``sha1``/``sha256``/``crc32c`` are always present. The perceptual
    hashes
    are None unless ``decode_status == "ok"``; ``pdq`` is also None when ``pdq_quality < 50`` (the quality is
    still recorded). ``pdq_dihedral`` holds the 7 variants named in :data:`DIHEDRAL_VARIANTS`, in that order.
    ``width``/``height`` are the stored image's size from its header. ``extra`` maps plug-in type names to
    hex. ``candidate_hashes`` maps ``"<type>:<candidate>"`` (e.g. ``"pdq:trimmed"``) to the hash of a
    query-side candidate (:mod:`hashwatch.hashing.candidates`).
    """

    bytes_length: int
    md5: str
    sha1: str
    sha256: str
    crc32c: str
    format: str | None = None
    width: int | None = None
    height: int | None = None
    phash: str | None = None
    dhash: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    decode_status: str = DecodeStatus.OK
    error_message: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)
    pdq_dihedral: tuple[str, ...] | None = None
    exif_orientation: int | None = None
    candidate_hashes: Mapping[str, str] = field(default_factory=dict, hash=False)

    def hash_value(self, name: str) -> str | None:
        """The value of hash type ``name`` (a field or a plug-in's entry in ``extra``), or None."""
        if name in _FIELD_TYPES:
            return getattr(self, name)
        return self.extra.get(name)

    def variants(self, name: str) -> dict[str, str]:
        """Extra query values for type ``name``: PDQ's dihedral variants by name, else empty."""
        if name == "pdq" and self.pdq_dihedral:
            return dict(zip(DIHEDRAL_VARIANTS, self.pdq_dihedral, strict=True))
        return {}

    def candidates(self, name: str) -> dict[str, str]:
        """Query-side candidates for type ``name``: ``{"trimmed": hex, "rot90-real": hex, ...}``."""
        return candidates_for_type(self.candidate_hashes, name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists, ``extra`` a plain dict)."""
        out = asdict(self)
        out["extra"] = dict(self.extra)
        out["candidate_hashes"] = dict(self.candidate_hashes)
        if self.pdq_dihedral is not None:
            out["pdq_dihedral"] = list(self.pdq_dihedral)
        return out

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> ImageHashes:
        """Inverse of :meth:`to_dict` (e.g. a row read back from the ``images`` table for a rescan)."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in row.items() if k in known}
        if kwargs.get("pdq_dihedral") is not None:
            kwargs["pdq_dihedral"] = tuple(kwargs["pdq_dihedral"])
        kwargs["extra"] = dict(kwargs.get("extra") or {})
        kwargs["candidate_hashes"] = dict(kwargs.get("candidate_hashes") or {})
        return cls(**kwargs)


def _digests(data: bytes) -> dict[str, str]:
    import google_crc32c

    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "crc32c": f"{google_crc32c.value(data):08x}",
    }


def compute_image_hashes(data: bytes, config: HashConfig | None = None) -> ImageHashes:
    """Every hash of one image. Never raises on bad image data: failures are in ``decode_status``.

    A hash type that raises (a bug, or a failing plug-in) leaves its value None and sets
    ``decode_status="hash_error"`` with the type's name and the exception class in ``error_message``.
    """
    limit_blas_threads()
    config = config or DEFAULT_HASH_CONFIG
    data = bytes(data) if not isinstance(data, bytes) else data
    types = config.selected_types()
    acc = _Accumulator(values=_digests(data))

    # Byte-only plug-ins (e.g. sha512) need no decode.
    for ht in types:
        if ht.name in acc.values or ht.needs_image:
            continue
        acc.run(ht, data, None)

    image_types = [ht for ht in types if ht.needs_image]
    decode_config = config.decode
    if any(ht.image_mode == "RGB" for ht in image_types) and decode_config.mode != "RGB":
        from dataclasses import replace

        decode_config = replace(decode_config, mode="RGB")
    decoded = decode_image(data, decode_config) if image_types else None

    status = decoded.status if decoded else DecodeStatus.OK
    error_message = decoded.error_message if decoded else None
    candidate_hashes: dict[str, str] = {}
    if decoded is not None and decoded.image is not None:
        for ht in image_types:
            if isinstance(ht, PdqHashType) and ht.dihedral != config.pdq_dihedral:
                acc.run(_PDQ_BY_DIHEDRAL[config.pdq_dihedral], data, decoded)
            else:
                acc.run(ht, data, decoded)
        # Candidates of the types that have a plain hash (PDQ under its quality gate has none).
        types_with_value = [t for t in ("pdq", "phash") if acc.values.get(t) is not None]
        if config.candidates and types_with_value:
            try:
                candidate_hashes = compute_candidates(decoded, config.candidates, types_with_value)
            except Exception as exc:  # a bug here must not lose the plain hashes; the record says so
                acc.errors.append(f"candidates failed ({type(exc).__name__})")
    if acc.errors:  # a failing type, byte-only or not: the record says which
        failures = "; ".join(acc.errors)
        if status == DecodeStatus.OK:
            status, error_message = DecodeStatus.HASH_ERROR, failures
        else:
            error_message = f"{error_message}; {failures}" if error_message else failures

    return ImageHashes(
        bytes_length=len(data),
        md5=acc.values["md5"],
        sha1=acc.values["sha1"],
        sha256=acc.values["sha256"],
        crc32c=acc.values["crc32c"],
        format=decoded.format if decoded else None,
        width=decoded.width if decoded else None,
        height=decoded.height if decoded else None,
        phash=acc.values.get("phash"),
        dhash=acc.values.get("dhash"),
        pdq=acc.values.get("pdq"),
        pdq_quality=acc.values.get("pdq_quality"),
        decode_status=status,
        error_message=error_message,
        extra=acc.extra,
        pdq_dihedral=acc.values.get("pdq_dihedral"),
        exif_orientation=decoded.exif_orientation if decoded else None,
        candidate_hashes=candidate_hashes,
    )


@dataclass
class _Accumulator:
    """Collects hash values of one image while the types run."""

    values: dict[str, Any]
    extra: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def run(self, ht: HashType, data: bytes, decoded: DecodedImage | None) -> None:
        try:
            result = ht.compute(data, decoded)
            value = ht.parse(result.value) if result.value is not None else None
        except Exception as exc:  # a plug-in must not take the whole record down; the record says what failed
            self.errors.append(f"{ht.name} failed ({type(exc).__name__})")
            return
        if ht.min_quality is not None and result.quality is not None and result.quality < ht.min_quality:
            value = None
        if ht.name in _FIELD_TYPES:
            self.values[ht.name] = value
            if ht.name == "pdq":
                self.values["pdq_quality"] = result.quality
                if value is not None and result.variants:
                    self.values["pdq_dihedral"] = tuple(result.variants[n] for n in DIHEDRAL_VARIANTS)
        elif value is not None:
            self.extra[ht.name] = value
