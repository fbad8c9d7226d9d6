"""``rejected_rows/``: input rows a pipeline could not use, written instead of dropped (the dead letter).

The rescan writes one row per ``images/`` history row it cannot match (a malformed hash value, no image URL),
naming the file and the column; the value itself is not copied. Counted in the run manifest.
"""

from typing import NamedTuple, Optional

import pyarrow as pa

from schemas.arrow_util import check_record_matches_schema

ERROR_INVALID_HASH = "invalid_hash"  # a hash column holds a value of the wrong length or not lower-case hex
ERROR_MISSING_IMAGE_URL = "missing_image_url"
REJECT_ERROR_KINDS = frozenset({ERROR_INVALID_HASH, ERROR_MISSING_IMAGE_URL})


class RejectedRowRecord(NamedTuple):
    run_id: str  # the run that rejected it
    table: str  # the input table: images
    file: str  # the Parquet file it was read from
    image_url: Optional[str]
    column: Optional[str]  # the offending column
    error_kind: str  # REJECT_ERROR_KINDS
    error_message: str  # one line; never the value itself
    rejected_at: int  # epoch microseconds (UTC)


REJECTED_ROWS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("table", pa.string()),
        ("file", pa.string()),
        ("image_url", pa.string()),
        ("column", pa.string()),
        ("error_kind", pa.string()),
        ("error_message", pa.string()),
        ("rejected_at", pa.timestamp("us", tz="UTC")),
    ]
)

check_record_matches_schema(RejectedRowRecord, REJECTED_ROWS_SCHEMA)
