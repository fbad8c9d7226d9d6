"""The hash columns of images/ and matches/ are derived from the hash-type registry (issue 18); what they
derive to must stay what the tables had when they were spelled by hand (main b988c3a), column for column.

A frozen copy, on purpose: dashboards, DuckDB macros and every earlier run's files read these columns, so a
change here is a schema migration, never a side effect of registering a type.
"""

import typing

import pyarrow as pa

from hashwatch.hashing.image_hashes import ImageHashes
from schemas import IMAGES_SCHEMA, MATCHES_SCHEMA, ImageRecord, MatchEvent, MatchRecord

S, I32, LIST = pa.string(), pa.int32(), pa.list_(pa.string())
MAP, TS = pa.map_(pa.string(), pa.string()), pa.timestamp("us", tz="UTC")

FROZEN_IMAGES = pa.schema(
    [
        ("run_id", S),
        ("image_url", S),
        ("final_url", S),
        ("page_urls", LIST),
        ("depth", I32),
        ("http_status", I32),
        ("content_type", S),
        ("bytes_length", pa.int64()),
        ("format", S),
        ("width", I32),
        ("height", I32),
        ("md5", S),
        ("sha1", S),
        ("sha256", S),
        ("crc32c", S),
        ("phash", S),
        ("dhash", S),
        ("pdq", S),
        ("pdq_quality", I32),
        ("pdq_dihedral", LIST),
        ("exif_orientation", I32),
        ("decode_status", S),
        ("decode_error", S),
        ("extra_hashes", MAP),
        ("candidate_hashes", MAP),
        ("hashed_at", TS),
    ]
)

FROZEN_MATCHES = pa.schema(
    [
        ("run_id", S),
        ("matched_at", TS),
        ("page_url", S),
        ("image_url", S),
        ("final_url", S),
        ("depth", I32),
        ("hash_type", S),
        ("hash_value", S),
        ("list_hash", S),
        ("distance", I32),
        ("match_kind", S),
        ("variant", S),
        ("corroboration", S),
        ("category", S),
        ("source", S),
        ("list_version", S),
        ("item_id", S),
        ("index_checksum", S),
        ("md5", S),
        ("sha1", S),
        ("sha256", S),
        ("phash", S),
        ("dhash", S),
        ("pdq", S),
        ("pdq_quality", I32),
    ]
)

# The records' field types decide Beam's RowCoder schema (nullability included): frozen as well.
OPT_S, OPT_I = "Optional[str]", "Optional[int]"
FROZEN_IMAGE_RECORD = {
    "run_id": "str",
    "image_url": "str",
    "final_url": OPT_S,
    "page_urls": "Sequence[str]",
    "depth": "int",
    "http_status": OPT_I,
    "content_type": OPT_S,
    "bytes_length": "int",
    "format": OPT_S,
    "width": OPT_I,
    "height": OPT_I,
    "md5": "str",
    "sha1": "str",
    "sha256": "str",
    "crc32c": "str",
    "phash": OPT_S,
    "dhash": OPT_S,
    "pdq": OPT_S,
    "pdq_quality": OPT_I,
    "pdq_dihedral": "Optional[Sequence[str]]",
    "exif_orientation": OPT_I,
    "decode_status": "str",
    "decode_error": OPT_S,
    "extra_hashes": "Mapping[str, str]",
    "candidate_hashes": "Mapping[str, str]",
    "hashed_at": "int",
}
FROZEN_MATCH_RECORD_HASHES = {
    "md5": "str",
    "sha1": "str",
    "sha256": "str",
    "phash": OPT_S,
    "dhash": OPT_S,
    "pdq": OPT_S,
    "pdq_quality": OPT_I,
}
FROZEN_MATCH_EVENT_HASHES = dict.fromkeys(("md5", "sha1", "sha256", "phash", "dhash", "pdq"), OPT_S)
# ``hashwatch hash`` prints ImageHashes.to_dict(): its keys, in this order.
FROZEN_IMAGE_HASHES_FIELDS = [
    "bytes_length",
    "md5",
    "sha1",
    "sha256",
    "crc32c",
    "format",
    "width",
    "height",
    "phash",
    "dhash",
    "pdq",
    "pdq_quality",
    "decode_status",
    "error_message",
    "extra",
    "pdq_dihedral",
    "exif_orientation",
    "candidate_hashes",
    # Issue 19: animations, appended on purpose (`hashwatch hash` prints these keys last; null on a still image).
    "frame_count",
    "frames_hashed",
    "frame_hashes",
]


# Issue 19 (videos and animations) appended columns, a deliberate additive migration: every earlier column
# keeps its place and type, and readers of files written before fill the new ones with null.
FROZEN_IMAGES_ANIMATION = pa.schema(
    [
        ("frame_count", I32),
        ("frames_hashed", I32),
        (
            "frame_hashes",
            pa.list_(pa.struct([("frame_index", I32), ("hashes", MAP)])),
        ),
    ]
)
FROZEN_MATCHES_MEDIA = pa.schema(
    [
        ("media_kind", S),
        ("frame_index", I32),
        ("frame_time", pa.float64()),
        ("query_match_percent", pa.float64()),
        ("compared_match_percent", pa.float64()),
        ("matched_ranges", pa.list_(pa.struct([("start", pa.float64()), ("end", pa.float64())]))),
    ]
)


def _appended(schema: pa.Schema, frozen: pa.Schema, appended: pa.Schema) -> None:
    n = len(frozen)
    assert pa.schema(list(schema)[:n]).equals(frozen), schema
    assert pa.schema(list(schema)[n:]).equals(appended), schema


def _hints(record: type) -> dict[str, str]:
    def short(hint) -> str:
        text = str(hint).replace("typing.", "").replace("collections.abc.", "")
        return {"<class 'str'>": "str", "<class 'int'>": "int"}.get(text, text)

    return {name: short(hint) for name, hint in typing.get_type_hints(record).items()}


def test_images_schema_is_frozen():
    _appended(IMAGES_SCHEMA, FROZEN_IMAGES, FROZEN_IMAGES_ANIMATION)
    hints = _hints(ImageRecord)
    assert {k: hints[k] for k in FROZEN_IMAGE_RECORD} == FROZEN_IMAGE_RECORD
    assert list(ImageRecord._fields) == list(FROZEN_IMAGE_RECORD) + FROZEN_IMAGES_ANIMATION.names


def test_matches_schema_is_frozen():
    _appended(MATCHES_SCHEMA, FROZEN_MATCHES, FROZEN_MATCHES_MEDIA)
    hints = _hints(MatchRecord)
    assert list(hints) == FROZEN_MATCHES.names + FROZEN_MATCHES_MEDIA.names
    assert {k: hints[k] for k in FROZEN_MATCH_RECORD_HASHES} == FROZEN_MATCH_RECORD_HASHES
    hash_names = list(hints)[: len(FROZEN_MATCHES)][-len(FROZEN_MATCH_RECORD_HASHES) :]
    assert hash_names == list(FROZEN_MATCH_RECORD_HASHES)


def test_match_event_hash_fields_are_frozen():
    hints = _hints(MatchEvent)
    assert list(hints)[-len(FROZEN_MATCH_EVENT_HASHES) :] == list(FROZEN_MATCH_EVENT_HASHES)
    assert {k: hints[k] for k in FROZEN_MATCH_EVENT_HASHES} == FROZEN_MATCH_EVENT_HASHES


def test_image_hashes_fields_are_frozen():
    assert list(ImageHashes.__dataclass_fields__) == FROZEN_IMAGE_HASHES_FIELDS
