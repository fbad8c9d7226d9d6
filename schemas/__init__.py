"""Typed records passed between pipeline stages, and the pyarrow schema of every Parquet output.

Each output record lives beside the schema that writes it (``fetch_log``, ``images``, ``matches``); intra-run
records are in ``crawl``; the closed vocabularies (outcomes, error kinds) in ``outcomes``.
"""

from schemas.crawl import CrawlTask, DiscoveredLink, ImageRef, ImageTask
from schemas.fetch_log import FETCH_LOG_SCHEMA, FetchLogRecord
from schemas.images import IMAGES_SCHEMA, ImageRecord
from schemas.matches import MATCHES_SCHEMA, MatchRecord

__all__ = [
    "FETCH_LOG_SCHEMA",
    "IMAGES_SCHEMA",
    "MATCHES_SCHEMA",
    "CrawlTask",
    "DiscoveredLink",
    "FetchLogRecord",
    "ImageRecord",
    "ImageRef",
    "ImageTask",
    "MatchRecord",
]
