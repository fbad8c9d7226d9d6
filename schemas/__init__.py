"""Typed records passed between pipeline stages, and the pyarrow schema of every Parquet output.

Each output record lives beside the schema that writes it (``fetch_log``, ``images``, ``matches``,
``retractions``, ``rejected_rows``); intra-run
records are in ``crawl``; the closed vocabularies (outcomes, error kinds) in ``outcomes``.

This package imports no Beam: the Beam-free libraries (``hashwatch.crawling``, ``hashwatch.hashing``) build
these records too. Beam encodes every type in :data:`RECORD_TYPES` with ``RowCoder``; the registration is on
the Beam side, in ``transforms/coders.py``, which ``transforms/__init__.py`` imports::

    >>> import apache_beam as beam
    >>> import transforms  # registers the coders
    >>> type(beam.coders.registry.get_coder(FetchLogRecord)).__name__
    'RowCoder'
"""

from schemas.crawl import CrawlTask, DiscoveredLink, ImageRef, ImageTask
from schemas.fetch_log import FETCH_LOG_SCHEMA, FetchLogRecord
from schemas.images import IMAGES_SCHEMA, FrameHashesRow, ImageRecord
from schemas.known_hashes import IndexRef
from schemas.matches import MATCH_IDENTITY, MATCHES_SCHEMA, MatchRecord, TimeRangeRow, match_key
from schemas.rejected_rows import REJECTED_ROWS_SCHEMA, RejectedRowRecord
from schemas.retractions import RETRACTIONS_SCHEMA, MatchEvent, RetractionRecord
from schemas.videos import VIDEOS_SCHEMA, VideoRecord, VpdqFrameRow

# Every record type defined in this package; each crosses a Beam coder somewhere (tests/test_layering.py
# checks that a new NamedTuple here is listed, and that Beam gives each one RowCoder).
RECORD_TYPES = (
    CrawlTask,
    DiscoveredLink,
    ImageRef,
    ImageTask,
    FetchLogRecord,
    ImageRecord,
    IndexRef,
    MatchRecord,
    RejectedRowRecord,
    RetractionRecord,
    MatchEvent,
    VideoRecord,
    VpdqFrameRow,
    TimeRangeRow,
    FrameHashesRow,
)

__all__ = [
    "FETCH_LOG_SCHEMA",
    "IMAGES_SCHEMA",
    "MATCHES_SCHEMA",
    "MATCH_IDENTITY",
    "RECORD_TYPES",
    "REJECTED_ROWS_SCHEMA",
    "RETRACTIONS_SCHEMA",
    "CrawlTask",
    "DiscoveredLink",
    "FetchLogRecord",
    "ImageRecord",
    "ImageRef",
    "ImageTask",
    "IndexRef",
    "MatchEvent",
    "MatchRecord",
    "RejectedRowRecord",
    "RetractionRecord",
    "VIDEOS_SCHEMA",
    "VideoRecord",
    "VpdqFrameRow",
    "TimeRangeRow",
    "FrameHashesRow",
    "match_key",
]
