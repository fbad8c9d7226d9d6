"""Compute every hash of one image from its bytes: the record the pipeline writes and matches.

>>> from hashwatch.hashing.image_hashes import compute_image_hashes
>>> h = compute_image_hashes(open("photo.jpg", "rb").read())     # doctest: +SKIP
>>> h.decode_status, h.pdq, h.phash                              # doctest: +SKIP
('ok', 'f8f8f0ce...', 'ba8c84536bd3c366')

The registered types (:mod:`hashwatch.hashing.hash_types`) that hash the bytes run first (md5, sha1, sha256,
crc32c, byte plug-ins); the bytes are decoded once (see :mod:`hashwatch.hashing.decode`) and every type that
hashes the picture runs on the same small working image. Nothing here keeps the bytes or the pixels: an
:class:`ImageHashes` holds only hashes and metadata, so it is safe to log, write and ship.
:meth:`ImageHashes.to_columns` and :meth:`ImageHashes.from_columns` are the one pair of converters between it
and an ``images/`` row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from hashwatch.hashing.animation import (
    DEFAULT_ANIMATION_CONFIG,
    AnimationConfig,
    FrameHashes,
    frame_types,
    hash_later_frames,
    is_animated,
)
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
from hashwatch.hashing.hash_types import (
    IMAGES,
    ColumnRole,
    HashType,
    Source,
    get_hash_type,
    hash_columns,
    hash_types,
)

__all__ = ["HashConfig", "ImageHashes", "compute_image_hashes"]

# The registry's hash columns (built-ins): the fields of ImageHashes and the images/ and matches/ columns.
_COLUMNS = hash_columns(IMAGES)
_OWN_VALUES = frozenset(c.name for c in _COLUMNS if c.role == ColumnRole.VALUE)
_VARIANTS = {c.hash_type: c.name for c in _COLUMNS if c.role == ColumnRole.VARIANTS}


@dataclass(frozen=True)
class HashConfig:
    """What to compute. ``hash_types=None`` means every registered type (built-ins and plug-ins); the byte
    digests with columns of their own (md5, sha1, sha256, crc32c) are computed whatever it says: every
    images/ row has them."""

    decode: DecodeConfig = DEFAULT_DECODE_CONFIG
    hash_types: tuple[str, ...] | None = None
    # Compute PDQ's 7 dihedral variants (nearly free: same DCT) so rotated/flipped copies can match.
    pdq_dihedral: bool = True
    # Query-side candidate families to compute (hashwatch.hashing.candidates): trimmed, uncaptioned,
    # dihedral_real, deskew, extended, rescaled, unbanded. () computes none.
    candidates: tuple[str, ...] = DEFAULT_CANDIDATE_FAMILIES
    # Animated GIF/WebP/APNG: later frames hashed too, bounded (hashwatch.hashing.animation).
    animation: AnimationConfig = DEFAULT_ANIMATION_CONFIG

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
        return [
            ht
            for ht in registered
            if ht.name in wanted or (ht.own_column and ht.computed_from == Source.BYTES)
        ]


DEFAULT_HASH_CONFIG = HashConfig()


class _ImageHashesMethods:
    """The methods of :class:`ImageHashes` (its fields come from the registry)."""

    def hash_value(self, name: str) -> str | None:
        """The value of hash type ``name`` (a field or a plug-in's entry in ``extra``), or None."""
        if name in _OWN_VALUES:
            return getattr(self, name)
        return self.extra.get(name)

    def variants(self, name: str) -> dict[str, str]:
        """Extra query values for type ``name`` by variant name (PDQ's dihedral variants), else empty."""
        column = _VARIANTS.get(name)
        values = getattr(self, column) if column else None
        if not values:
            return {}
        return dict(zip(get_hash_type(name).variant_names, values, strict=True))

    def candidates(self, name: str) -> dict[str, str]:
        """Query-side candidates for type ``name``: ``{"trimmed": hex, "rot90-real": hex, ...}``."""
        return candidates_for_type(self.candidate_hashes, name)

    @property
    def is_animation(self) -> bool:
        """Whether this is an animation (``frame_count`` recorded); a still image's frame columns are None."""
        return self.frame_count is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists, ``extra`` a plain dict)."""
        out = asdict(self)
        out["extra"] = dict(self.extra)
        out["candidate_hashes"] = dict(self.candidate_hashes)
        for column in _VARIANTS.values():
            if out[column] is not None:
                out[column] = list(out[column])
        if self.frame_hashes is not None:
            out["frame_hashes"] = [
                {"frame_index": f.frame_index, "hashes": dict(f.hashes)} for f in self.frame_hashes
            ]
        return out

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> ImageHashes:
        """Inverse of :meth:`to_dict`."""
        known = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in row.items() if k in known}
        for column in _VARIANTS.values():
            if kwargs.get(column) is not None:
                kwargs[column] = tuple(kwargs[column])
        kwargs["extra"] = dict(kwargs.get("extra") or {})
        kwargs["candidate_hashes"] = dict(kwargs.get("candidate_hashes") or {})
        kwargs["frame_hashes"] = _frames(kwargs.get("frame_hashes"))
        return cls(**kwargs)

    def to_columns(self) -> dict[str, Any]:
        """The ``images/`` columns these hashes fill: all but the run's and the fetch's (``run_id``, the URLs,
        ``depth``, ``http_status``, ``content_type``, ``hashed_at``)::

            ImageRecord(run_id=..., image_url=..., ..., **hashes.to_columns(), hashed_at=...)
        """
        out = {
            "bytes_length": self.bytes_length,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "exif_orientation": self.exif_orientation,
            "decode_status": self.decode_status,
            "decode_error": self.error_message,
            "extra_hashes": dict(self.extra),
            "candidate_hashes": dict(self.candidate_hashes),
            "frame_count": self.frame_count,
            "frames_hashed": self.frames_hashed,
            "frame_hashes": (
                None
                if self.frame_hashes is None
                else [FrameHashes(f.frame_index, dict(sorted(f.hashes.items()))) for f in self.frame_hashes]
            ),
        }
        for column in _COLUMNS:
            value = getattr(self, column.name)
            out[column.name] = (
                (list(value) if value else None) if column.role == ColumnRole.VARIANTS else value
            )
        return out

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> ImageHashes:
        """The hashes of an ``images/`` row (``ImageRecord._asdict()``, or a history row read back by a
        rescan, which may hold only the hash columns: the others are then None, 0 or empty)."""
        kwargs: dict[str, Any] = {column.name: row.get(column.name) for column in _COLUMNS}
        for column in _VARIANTS.values():
            kwargs[column] = tuple(kwargs[column]) if kwargs[column] else None
        return cls(
            bytes_length=row.get("bytes_length") or 0,
            format=row.get("format"),
            width=row.get("width"),
            height=row.get("height"),
            exif_orientation=row.get("exif_orientation"),
            decode_status=row.get("decode_status") or DecodeStatus.OK,
            error_message=row.get("decode_error"),
            extra=dict(row.get("extra_hashes") or ()),
            candidate_hashes=dict(row.get("candidate_hashes") or ()),
            frame_count=row.get("frame_count"),
            frames_hashed=row.get("frames_hashed"),
            frame_hashes=_frames(row.get("frame_hashes")),
            **kwargs,
        )

    @classmethod
    def of_value(cls, hash_type: str, value: str) -> ImageHashes:
        """The hashes of an image known by one value only: a query for the list entries equal to a list hash
        (the rescan asks whether an entry is still listed)."""
        if hash_type in _OWN_VALUES:
            return cls.from_columns({hash_type: value})
        return cls.from_columns({"extra_hashes": {hash_type: value}})


def _image_hashes_fields() -> list[tuple]:
    """ImageHashes's fields: the registry's hash columns placed among the picture's metadata. The order is
    ``to_dict()``'s, i.e. the keys ``hashwatch hash`` prints: byte digests, the picture's size, its hashes
    and qualities, its status, the plug-ins' values, the variants, orientation, candidates."""

    def column(c) -> tuple:
        if c.required:
            return (c.name, str)
        hint = Optional[tuple[str, ...]] if c.role == ColumnRole.VARIANTS else c.python_type  # noqa: UP045
        return (c.name, hint, field(default=None))

    def optional(name: str, hint: Any) -> tuple:
        return (name, Optional[hint], field(default=None))  # noqa: UP045

    def mapping(name: str) -> tuple:
        return (name, Mapping[str, str], field(default_factory=dict, hash=False))

    return [
        ("bytes_length", int),
        *[column(c) for c in _COLUMNS if c.required],
        optional("format", str),
        optional("width", int),
        optional("height", int),
        *[column(c) for c in _COLUMNS if not c.required and c.role != ColumnRole.VARIANTS],
        ("decode_status", str, field(default=DecodeStatus.OK)),
        optional("error_message", str),
        mapping("extra"),
        *[column(c) for c in _COLUMNS if c.role == ColumnRole.VARIANTS],
        optional("exif_orientation", int),
        mapping("candidate_hashes"),
        # Animations (hashwatch.hashing.animation); None on a still image. Appended: `hashwatch hash` keys.
        optional("frame_count", int),
        optional("frames_hashed", int),
        ("frame_hashes", Optional[tuple[FrameHashes, ...]], field(default=None, hash=False)),  # noqa: UP045
    ]


def _frames(value: Any) -> tuple[FrameHashes, ...] | None:
    """``frame_hashes`` from any of its shapes: FrameHashes or FrameHashesRow tuples, JSON dicts, or Arrow's
    ``to_pylist`` (dicts whose ``hashes`` map is a list of pairs)."""
    if value is None:
        return None
    out = []
    for item in value:
        index, hashes = (item["frame_index"], item["hashes"]) if isinstance(item, Mapping) else item
        out.append(FrameHashes(int(index), dict(hashes or ())))
    return tuple(out)


ImageHashes = dataclasses.make_dataclass(
    "ImageHashes",
    _image_hashes_fields(),
    bases=(_ImageHashesMethods,),
    frozen=True,
    kw_only=True,
    namespace={
        "__module__": __name__,
        "__doc__": """Everything computed from one image's bytes; never holds the bytes or pixels.

    Its fields are the registry's hash columns (:func:`~hashwatch.hashing.hash_types.hash_columns`) among
    the picture's metadata; keyword arguments only. Hex values are lower-case. ``md5``/``sha1``/``sha256``/
    ``crc32c`` are always present. The perceptual hashes are None unless ``decode_status == "ok"``; ``pdq``
    is also None when ``pdq_quality < 50`` (the quality is still recorded). ``pdq_dihedral`` holds the 7
    variants named in :data:`~hashwatch.hashing.algorithms.pdq.DIHEDRAL_VARIANTS`, in that order.
    ``width``/``height`` are the stored image's size from its header. ``extra`` maps plug-in type names to
    hex. ``candidate_hashes`` maps ``"<type>:<candidate>"`` (e.g. ``"pdq:trimmed"``) to the hash of a
    query-side candidate (:mod:`hashwatch.hashing.candidates`). An animation (GIF, WebP, APNG with more than
    one frame) has ``frame_count``, ``frames_hashed`` (distinct frames, frame 0 included) and
    ``frame_hashes`` (its later distinct frames' perceptual hashes; frame 0's are the fields above); all
    three are None on a still image. :meth:`to_columns` and :meth:`from_columns` convert to and from
    ``images/`` rows.
    """,
    },
)


def compute_image_hashes(data: bytes, config: HashConfig | None = None) -> ImageHashes:
    """Every hash of one image. Never raises on bad image data: failures are in ``decode_status``.

    A hash type that raises (a bug, or a failing plug-in) leaves its value None and sets
    ``decode_status="hash_error"`` with the type's name and the exception class in ``error_message``.
    """
    limit_blas_threads()
    config = config or DEFAULT_HASH_CONFIG
    data = bytes(data) if not isinstance(data, bytes) else data
    types = config.selected_types()
    acc = _Accumulator()

    # Byte digests (md5, sha1, sha256, crc32c, plug-ins such as sha512) need no decode.
    for ht in types:
        if ht.computed_from == Source.BYTES:
            acc.run(ht, data, None)

    # Frame types (Source.FRAMES) hash videos: not run on a still image.
    picture_types = [ht for ht in types if ht.computed_from == Source.PICTURE]
    decode_config = config.decode
    if any(ht.image_mode == "RGB" for ht in picture_types) and decode_config.mode != "RGB":
        decode_config = dataclasses.replace(decode_config, mode="RGB")
    decoded = decode_image(data, decode_config) if picture_types else None

    status = decoded.status if decoded else DecodeStatus.OK
    error_message = decoded.error_message if decoded else None
    candidate_hashes: dict[str, str] = {}
    if decoded is not None and decoded.image is not None:
        for ht in picture_types:
            acc.run(ht if config.pdq_dihedral else ht.without_variants(), data, decoded)
        # Candidates of the types that have a plain hash (PDQ under its quality gate has none).
        with_value = [ht.name for ht in picture_types if ht.query_candidates and acc.value(ht) is not None]
        if config.candidates and with_value:
            try:
                candidate_hashes = compute_candidates(decoded, config.candidates, with_value)
            except Exception as exc:  # a bug here must not lose the plain hashes; the record says so
                acc.errors.append(f"candidates failed ({type(exc).__name__})")
    frames = None
    if decoded is not None and decoded.image is not None and is_animated(data, decoded.format):
        own = {ht.name for ht in frame_types(picture_types)}
        first = {name: acc.value(get_hash_type(name)) for name in own}
        frames = hash_later_frames(data, first, frame_types(picture_types), config.decode, config.animation)
        acc.errors.extend(frames.errors)
        if frames.status != DecodeStatus.OK and status == DecodeStatus.OK:
            status, error_message = frames.status, frames.message
        elif frames.message:
            error_message = f"{error_message}; {frames.message}" if error_message else frames.message
    if acc.errors:  # a failing type, byte-only or not: the record says which
        failures = "; ".join(acc.errors)
        if status == DecodeStatus.OK:
            status, error_message = DecodeStatus.HASH_ERROR, failures
        else:
            error_message = f"{error_message}; {failures}" if error_message else failures

    return ImageHashes(
        bytes_length=len(data),
        format=decoded.format if decoded else None,
        width=decoded.width if decoded else None,
        height=decoded.height if decoded else None,
        decode_status=status,
        error_message=error_message,
        extra=acc.extra,
        exif_orientation=decoded.exif_orientation if decoded else None,
        candidate_hashes=candidate_hashes,
        frame_count=frames.frame_count if frames else None,
        frames_hashed=frames.frames_hashed if frames else None,
        frame_hashes=tuple(frames.frames) if frames else None,
        **{column.name: acc.values.get(column.name) for column in _COLUMNS},
    )


@dataclass
class _Accumulator:
    """Collects hash values of one image while the types run: built-ins by column, plug-ins in ``extra``."""

    values: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def value(self, ht: HashType) -> str | None:
        return self.values.get(ht.name) if ht.own_column else self.extra.get(ht.name)

    def run(self, ht: HashType, data: bytes, decoded: DecodedImage | None) -> None:
        try:
            result = ht.compute(data, decoded)
            value = ht.parse(result.value) if result.value is not None else None
        except Exception as exc:  # a plug-in must not take the whole record down; the record says what failed
            self.errors.append(f"{ht.name} failed ({type(exc).__name__})")
            return
        if ht.min_quality is not None and result.quality is not None and result.quality < ht.min_quality:
            value = None
        if not ht.own_column:
            if value is not None:
                self.extra[ht.name] = value
            return
        self.values[ht.name] = value
        if ht.quality_column:
            self.values[ht.quality_column] = result.quality
        if ht.variants_column and value is not None and result.variants:
            self.values[ht.variants_column] = tuple(result.variants[n] for n in ht.variant_names)
