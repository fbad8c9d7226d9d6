"""Records survive Beam's RowCoder and become Arrow tables of their declared schema."""

from typing import NamedTuple

import pyarrow as pa
import pytest
from apache_beam.coders import RowCoder

from schemas import (
    FETCH_LOG_SCHEMA,
    IMAGES_SCHEMA,
    MATCHES_SCHEMA,
    REJECTED_ROWS_SCHEMA,
    RETRACTIONS_SCHEMA,
    CrawlTask,
    DiscoveredLink,
    FetchLogRecord,
    ImageRecord,
    ImageRef,
    ImageTask,
    MatchEvent,
    MatchRecord,
    RejectedRowRecord,
    RetractionRecord,
)
from schemas.arrow_util import check_record_matches_schema, records_to_table

FETCH = FetchLogRecord(
    run_id="r1",
    url="http://a.example/x",
    kind="page",
    depth=0,
    parent_url=None,
    outcome="failed",
    error_kind="timeout",
    error_message="read timed out after 10.0 s",
    http_status=None,
    final_url=None,
    redirect_count=0,
    robots="allowed",
    content_type=None,
    declared_content_type=None,
    bytes_length=None,
    attempts=3,
    fetched_at=1_764_000_000_123_456,
    elapsed_ms=30012.5,
)

IMAGE = ImageRecord(
    run_id="r1",
    image_url="http://a.example/i.jpg",
    final_url="http://a.example/i.jpg",
    page_urls=["http://a.example/", "http://a.example/b"],
    depth=1,
    http_status=200,
    content_type="image/jpeg",
    bytes_length=1234,
    format="JPEG",
    width=640,
    height=480,
    md5="0" * 32,
    sha1="1" * 40,
    sha256="2" * 64,
    crc32c="0000abcd",
    phash="f" * 16,
    dhash="e" * 16,
    pdq="a" * 64,
    pdq_quality=100,
    pdq_dihedral=["b" * 64] * 7,
    exif_orientation=None,
    decode_status="ok",
    decode_error=None,
    extra_hashes={"toy": "ab"},
    candidate_hashes={"pdq:trimmed": "c" * 64, "phash:trimmed": "d" * 16},
    hashed_at=1_764_000_000_000_000,
)

MATCH = MatchRecord(
    run_id="r1",
    matched_at=1_764_000_000_000_000,
    page_url="http://a.example/",
    image_url="http://a.example/i.jpg",
    final_url=None,
    depth=0,
    hash_type="pdq",
    hash_value="a" * 64,
    list_hash="b" * 64,
    distance=12,
    match_kind="near",
    variant="rot90",
    corroboration=None,
    category="A",
    source="demo",
    list_version="v1",
    item_id="case-17",
    index_checksum="c" * 64,
    md5="0" * 32,
    sha1="1" * 40,
    sha256="2" * 64,
    phash=None,
    dhash=None,
    pdq="a" * 64,
    pdq_quality=90,
)


RETRACTION = RetractionRecord(
    run_id="rescan-1",
    retracted_at=1_764_100_000_000_000,
    image_url="http://a.example/i.jpg",
    page_url=None,
    hash_type="pdq",
    list_hash="b" * 64,
    source="demo",
    reason="allowlisted",
    match_run_id="r1",
    matched_at=1_764_000_000_000_000,
    category="A",
    list_version="v1",
    cause_list_version=None,
    allowlist_sha256="d" * 64,
    allowlist_scope="list",
    allowlist_hash_type="pdq",
    allowlist_hash_value="b" * 64,
    allowlist_reason="collides with a logo",
    index_checksum="c" * 64,
)

REJECTED = RejectedRowRecord(
    run_id="rescan-1",
    table="images",
    file="/data/images/dt=2026-11-01/run_id=r1/part-00000-of-00001.parquet",
    image_url=None,
    column="image_url",
    error_kind="missing_image_url",
    error_message="no image_url",
    rejected_at=1_764_100_000_000_000,
)

EVENT = MatchEvent(
    "match",
    "r1",
    1,
    "http://a/i",
    None,
    "md5",
    "0" * 32,
    None,
    None,
    None,
    "0" * 32,
    None,
    None,
    None,
    None,
    None,
)


@pytest.mark.parametrize(
    "record",
    [
        FETCH,
        IMAGE,
        MATCH,
        RETRACTION,
        REJECTED,
        EVENT,
        CrawlTask("http://a/", 0, None, "http://a/"),
        DiscoveredLink("http://a/b", 1, "http://a/", "http://a/", None),
        ImageTask("http://a/i", 1, ["p"], "s"),
    ],
)
def test_rowcoder_round_trip(record):
    coder = RowCoder.from_type_hint(type(record), None)
    decoded = coder.decode(coder.encode(record))
    assert tuple(decoded) == tuple(record)


@pytest.mark.parametrize(
    ("record", "schema"),
    [
        (FETCH, FETCH_LOG_SCHEMA),
        (IMAGE, IMAGES_SCHEMA),
        (MATCH, MATCHES_SCHEMA),
        (RETRACTION, RETRACTIONS_SCHEMA),
        (REJECTED, REJECTED_ROWS_SCHEMA),
    ],
)
def test_records_become_tables_of_their_schema(record, schema):
    table = records_to_table([record, record], schema)
    assert table.schema == schema
    assert table.num_rows == 2
    row = table.slice(0, 1).to_pylist()[0]
    first_ts = next(name for name in schema.names if pa.types.is_timestamp(schema.field(name).type))
    assert row[first_ts].timestamp() == pytest.approx(getattr(record, first_ts) / 1e6)


def test_drift_between_record_and_schema_is_caught():
    with pytest.raises(TypeError, match="do not match"):
        check_record_matches_schema(FetchLogRecord, MATCHES_SCHEMA)


@pytest.mark.parametrize(
    "record_type",
    [
        FetchLogRecord,
        ImageRecord,
        MatchRecord,
        RetractionRecord,
        RejectedRowRecord,
        MatchEvent,
        CrawlTask,
        DiscoveredLink,
        ImageTask,
        ImageRef,
    ],
)
def test_every_field_has_a_portable_schema_type(record_type):
    """A field Beam cannot map (e.g. ``str | None`` on Beam 2.62) silently becomes a pickled Python object,
    which other runners' coders cannot read. Nullable fields must be typing.Optional."""
    coder = RowCoder.from_type_hint(record_type, None)
    fallback = [
        field.name
        for field in coder.schema.fields
        if field.type.WhichOneof("type_info") == "logical_type"
        and field.type.logical_type.urn == "beam:logical:pythonsdk_any:v1"
    ]
    assert fallback == []


def test_map_fields_are_written_in_key_order_whatever_order_they_arrive_in():
    """A map that passed through Flink's Java side comes back reordered; the row written must not differ."""
    from schemas.arrow_util import record_to_dict, records_to_table

    class Row(NamedTuple):
        url: str
        candidate_hashes: dict

    schema = pa.schema([("url", pa.string()), ("candidate_hashes", pa.map_(pa.string(), pa.string()))])
    one = Row("u", {"pdq:trimmed": "a", "phash:rot90-real": "b", "pdq:extend-c5": "c"})
    other = Row("u", {"phash:rot90-real": "b", "pdq:extend-c5": "c", "pdq:trimmed": "a"})
    assert record_to_dict(one) == record_to_dict(other)
    assert list(record_to_dict(other)["candidate_hashes"]) == [
        "pdq:extend-c5",
        "pdq:trimmed",
        "phash:rot90-real",
    ]
    assert records_to_table([one], schema).equals(records_to_table([other], schema))
