"""The video hash types: ``video_md5`` (pytx's, the MD5 of the video file's bytes) and ``vpdq`` (Meta's vPDQ).

Both are computed from a video (``Source.FRAMES``) by :mod:`hashwatch.video.hash_video`, never from a still
image, and have no column in ``images/`` (they live in ``videos/``). They exist in the registry so lists can
name them and the index can hold them::

    get_hash_type("video_md5").parse("D41D8CD98F00B204E9800998ECF8427E")   # exact, 32 hex digits
    get_hash_type("vpdq").parse('["e271...055c,100,0.000"]')                # pytx's serialisation

A ``vpdq`` list value is either a whole video, pytx's JSON list (:mod:`hashwatch.video.vpdq_format`), or
one frame, ``"<pdq hex>,<quality>,<timestamp>"``, whose row's ``item_id`` names the video
(docs/hashing.md, "Video lists"). Its frames go into the PDQ Hamming index (threshold 31, frames under
quality 50 ignored, as the reference does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hashwatch.hashing.hash_types import HashResult, HashType, IndexKind, Source

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.decode import DecodedImage

__all__ = ["VideoMd5HashType", "VpdqHashType"]


class VideoMd5HashType(HashType):
    name = "video_md5"
    bits = 128
    index_kind = IndexKind.EXACT
    computed_from = Source.FRAMES
    description = "MD5 of a video file's bytes (pytx's video_md5); never computed for a still image"

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        return HashResult(None)  # the video path computes it (hashwatch.video.hash_video): never a picture


class VpdqHashType(HashType):
    name = "vpdq"
    bits = 256  # one frame's PDQ
    index_kind = IndexKind.HAMMING
    default_threshold = 31  # pytx's VPDQ_DISTANCE_THRESHOLD, per frame
    computed_from = Source.FRAMES
    min_quality = 50  # pytx's VPDQ_QUALITY_THRESHOLD: frames under it are ignored by matching
    description = (
        "vPDQ (Meta): a PDQ, its quality and timestamp per sampled frame; listed frames join the pdq index"
    )

    def parse(self, text: str) -> str:
        """A whole video (pytx's JSON list, at least one frame) or one frame (``hex,quality,timestamp``),
        checked; returns the value stripped (hex lower-cased). ValueError saying what is wrong."""
        from hashwatch.video.vpdq_format import json_to_vpdq, parse_feature

        if not isinstance(text, str):
            raise ValueError(f"vpdq value must be a string, not {type(text).__name__}")
        value = text.strip()
        if value.startswith("["):
            if not json_to_vpdq(value):
                raise ValueError("vpdq value lists no frame")
            return value.lower()
        parse_feature(value)
        return value.lower()

    def compute(self, data: bytes, decoded: DecodedImage | None) -> HashResult:
        return HashResult(None)  # the video path computes it (hashwatch.video.hash_video): never a picture
