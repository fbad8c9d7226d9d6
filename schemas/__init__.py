"""Typed records passed between pipeline stages, and the pyarrow schema of every Parquet output.

Each output record lives beside the schema that writes it (``fetch_log``, ``images``, ``matches``,
``retractions``, ``rejected_rows``); intra-run
records are in ``crawl``; the closed vocabularies (outcomes, error kinds) in ``outcomes``.
"""

from schemas.crawl import CrawlTask, DiscoveredLink, ImageRef, ImageTask
from schemas.fetch_log import FETCH_LOG_SCHEMA, FetchLogRecord
from schemas.images import IMAGES_SCHEMA, ImageRecord
from schemas.matches import MATCH_IDENTITY, MATCHES_SCHEMA, MatchRecord, match_key
from schemas.rejected_rows import REJECTED_ROWS_SCHEMA, RejectedRowRecord
from schemas.retractions import RETRACTIONS_SCHEMA, MatchEvent, RetractionRecord

__all__ = [
    "FETCH_LOG_SCHEMA",
    "IMAGES_SCHEMA",
    "MATCHES_SCHEMA",
    "MATCH_IDENTITY",
    "REJECTED_ROWS_SCHEMA",
    "RETRACTIONS_SCHEMA",
    "CrawlTask",
    "DiscoveredLink",
    "FetchLogRecord",
    "ImageRecord",
    "ImageRef",
    "ImageTask",
    "MatchEvent",
    "MatchRecord",
    "RejectedRowRecord",
    "RetractionRecord",
    "match_key",
]
