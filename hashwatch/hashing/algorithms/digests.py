"""Digests of the raw bytes: md5, sha1, sha256 (matched exactly) and crc32c (a content key, never matched).

:class:`CryptoHashType` is also the base of a plug-in digest::

    class Sha512HashType(CryptoHashType):
        name, bits = "sha512", 512

    register_hash_type(Sha512HashType)
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from hashwatch.hashing.hash_types import HashResult, HashType, IndexKind, Source

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.decode import DecodedImage

__all__ = ["Crc32cHashType", "CryptoHashType", "Md5HashType", "Sha1HashType", "Sha256HashType"]


class CryptoHashType(HashType):
    """A cryptographic digest of the raw bytes (any ``hashlib`` algorithm called ``name``), matched exactly."""

    index_kind = IndexKind.EXACT
    computed_from = Source.BYTES

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.name} of the raw bytes"

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        return HashResult(hashlib.new(self.name, data).hexdigest())


class Md5HashType(CryptoHashType):
    name = "md5"
    bits = 128
    own_column = True


class Sha1HashType(CryptoHashType):
    name = "sha1"
    bits = 160
    own_column = True


class Sha256HashType(CryptoHashType):
    name = "sha256"
    bits = 256
    own_column = True


class Crc32cHashType(HashType):
    """CRC-32C of the raw bytes: a cheap content key for deduplication, too short to match lists on."""

    name = "crc32c"
    bits = 32
    index_kind = IndexKind.NONE
    computed_from = Source.BYTES
    matchable = False
    own_column = True
    description = "CRC-32C (Castagnoli) of the raw bytes; a content key, not matched"

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        import google_crc32c

        return HashResult(f"{google_crc32c.value(data):08x}")
