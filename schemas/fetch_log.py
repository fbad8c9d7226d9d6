"""``fetch_log/``: one row per URL attempted or discovered-and-skipped. Never any response content."""

from typing import NamedTuple, Optional

import pyarrow as pa

from schemas.arrow_util import check_record_matches_schema


class FetchLogRecord(NamedTuple):
    run_id: str
    url: (
        str  # the URL as discovered, normalised (data: URIs appear as data:<mime>;sha256=<hex>, never inline)
    )
    kind: str  # schemas.outcomes.FETCH_KINDS
    depth: int  # crawl round: seeds are 0
    parent_url: Optional[str]  # the page that linked it (None for seeds)
    outcome: str  # schemas.outcomes.OUTCOMES
    error_kind: Optional[str]  # schemas.outcomes.ERROR_KINDS when outcome != ok
    error_message: Optional[str]  # one line; never response content
    http_status: Optional[int]  # last response's status, if any
    final_url: Optional[str]  # after redirects
    redirect_count: int
    robots: str  # schemas.outcomes.ROBOTS_DECISIONS
    content_type: Optional[str]  # sniffed from the bytes
    declared_content_type: Optional[str]  # the Content-Type header
    bytes_length: Optional[int]  # decoded body length
    attempts: int  # 1 + retries
    fetched_at: int  # epoch microseconds (UTC) when the attempt started; timestamp[us, UTC] in Parquet
    elapsed_ms: float  # total time including retries and redirects


FETCH_LOG_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("url", pa.string()),
        ("kind", pa.string()),
        ("depth", pa.int32()),
        ("parent_url", pa.string()),
        ("outcome", pa.string()),
        ("error_kind", pa.string()),
        ("error_message", pa.string()),
        ("http_status", pa.int32()),
        ("final_url", pa.string()),
        ("redirect_count", pa.int32()),
        ("robots", pa.string()),
        ("content_type", pa.string()),
        ("declared_content_type", pa.string()),
        ("bytes_length", pa.int64()),
        ("attempts", pa.int32()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
        ("elapsed_ms", pa.float64()),
    ]
)

check_record_matches_schema(FetchLogRecord, FETCH_LOG_SCHEMA)
