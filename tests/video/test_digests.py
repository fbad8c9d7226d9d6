"""VideoDigests: incremental digests equal hashlib's of the whole body, whatever the chunking."""

from __future__ import annotations

import hashlib

import pytest

from hashwatch.video.digests import VideoDigests


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_chunked_digests_equal_whole_body(chunk: int) -> None:
    body = bytes(range(256)) * 1000 + b"tail"
    digests = VideoDigests()
    for start in range(0, len(body), chunk):
        digests.update(memoryview(body)[start : start + chunk])
    assert digests.md5 == hashlib.md5(body).hexdigest()
    assert digests.sha256 == hashlib.sha256(body).hexdigest()
    assert digests.bytes_length == len(body)


def test_empty_and_initial_data() -> None:
    empty = VideoDigests()
    assert empty.md5 == "d41d8cd98f00b204e9800998ecf8427e"
    assert empty.sha256 == hashlib.sha256(b"").hexdigest()
    assert empty.bytes_length == 0
    assert VideoDigests(b"abc").md5 == hashlib.md5(b"abc").hexdigest()
