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


def _merge_with_pages(image_url: str, grouped: dict) -> Iterable[ImageRecord]:
    """The merged record with the pages of the late refs added; late refs of an image with no record (its
    fetch failed: its one fetch_log row says so) add nothing."""
    records = list(grouped["records"])
    if not records:
        return
    record = _merge(image_url, records)
    pages = {ref.page_url for ref in grouped["late"]}
    if pages - set(record.page_urls):
        record = record._replace(page_urls=sorted(pages | set(record.page_urls)))
    yield record


@beam.ptransform_fn
@beam.typehints.with_input_types(ImageRecord)
@beam.typehints.with_output_types(ImageRecord)
def MergeImageRecords(records, late_refs=None):  # noqa: N802 - a PTransform
    """One images/ row per image URL: rows for the same URL (an inline ``data:`` image on several pages, a
    URL seen both as a link and as an image) merge their pages; the shallowest row's hashes are kept (the
    bytes behind one data: id are identical by construction).

    ``late_refs``: ``PCollection[ImageRef]`` of references to images fetched before these pages were read
    (``CrawlRounds(fetch_images=True)``); each ref's page joins its image's row. Example::

        images = records | MergeImageRecords(crawl.late_image_refs)
    """
    keyed = records | "KeyByImageUrl" >> beam.Map(lambda record: (record.image_url, record))
    if late_refs is None:
        return keyed | "GroupByImageUrl" >> beam.GroupByKey() | "Merge" >> beam.MapTuple(_merge)
    late = late_refs | "KeyLateRefs" >> beam.Map(lambda ref: (ref.image_url, ref))
    return (
        {"records": keyed, "late": late}
        | "GroupByImageUrl" >> beam.CoGroupByKey()
        | "Merge" >> beam.FlatMapTuple(_merge_with_pages).with_output_types(ImageRecord)
    )
