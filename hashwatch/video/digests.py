"""Digests of a video's bytes computed while they arrive (:class:`VideoDigests`): MD5 (pytx's ``video_md5``)
SHA-1 and SHA-256, without holding the body twice::

    digests = VideoDigests()
    for chunk in response.iter_content(1 << 16):
        digests.update(chunk)
    digests.md5, digests.sha1, digests.sha256, digests.bytes_length

:func:`hashwatch.video.hash_video.hash_video` takes a finished ``VideoDigests`` so the bytes are not hashed
again; given none, it digests the bytes itself.
"""

from __future__ import annotations

import hashlib

__all__ = ["VideoDigests"]


class VideoDigests:
    """Incremental MD5, SHA-1 and SHA-256 of a byte stream, and its length."""

    __slots__ = ("_md5", "_sha1", "_sha256", "bytes_length")

    def __init__(self, data: bytes | bytearray | memoryview = b"") -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self.bytes_length = 0
        if data:
            self.update(data)

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Add the next chunk of the body."""
        self._md5.update(chunk)
        self._sha1.update(chunk)
        self._sha256.update(chunk)
        self.bytes_length += memoryview(chunk).nbytes

    @property
    def md5(self) -> str:
        """Lower-case hex MD5 of the bytes so far."""
        return self._md5.hexdigest()

    @property
    def sha1(self) -> str:
        """Lower-case hex SHA-1 of the bytes so far (the ``sha1`` column of a video's matches/ rows)."""
        return self._sha1.hexdigest()

    @property
    def sha256(self) -> str:
        """Lower-case hex SHA-256 of the bytes so far."""
        return self._sha256.hexdigest()

    def __repr__(self) -> str:
        return f"VideoDigests(bytes_length={self.bytes_length}, md5={self.md5})"
