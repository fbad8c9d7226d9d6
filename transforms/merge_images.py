"""One images/ row per image URL: merging the records of an image that arrived more than once.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads the merge function's.
"""

from collections.abc import Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas import ImageRecord

__all__ = ["MergeImageRecords"]


def _merge(image_url: str, records: Iterable[ImageRecord]) -> ImageRecord:
    records = sorted(records, key=lambda record: (record.depth, record.hashed_at))
    first = records[0]
    if len(records) > 1:
        Metrics.counter("MergeImageRecords", "duplicate_image_rows_merged").inc(len(records) - 1)
    pages = sorted({page for record in records for page in record.page_urls})
    return first._replace(page_urls=pages, depth=first.depth)


@beam.ptransform_fn
@beam.typehints.with_input_types(ImageRecord)
@beam.typehints.with_output_types(ImageRecord)
def MergeImageRecords(records):  # noqa: N802 - a PTransform
    """One images/ row per image URL: rows for the same URL (an inline ``data:`` image on several pages, a
    URL seen both as a link and as an image) merge their pages; the shallowest row's hashes are kept (the
    bytes behind one data: id are identical by construction)."""
    return (
        records
        | "KeyByImageUrl" >> beam.Map(lambda record: (record.image_url, record))
        | "GroupByImageUrl" >> beam.GroupByKey()
        | "Merge" >> beam.MapTuple(_merge)
    )
