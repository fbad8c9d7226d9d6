"""Hashing as a step of its own: fetched image bodies in, images/ records and their final fetch_log rows out.

The fetching DoFns of :mod:`transforms.crawl` do not hash. Each body they fetch (an image, an inline ``data:``
image on a page, a seed or link that turned out to be an image) leaves them as a :class:`FetchedImage`: the
task, the body in memory and the fetch_log row the fetch wrote. :class:`HashImages` then runs the image
handler (:class:`transforms.hash_images.HashImageBody` in a crawl) on it and gives the row its final
outcome: a body that does not decode fails its row (``failed``/``decode_error``, as before).

Image bytes never leave the process: ``HashImages`` is a ParDo applied straight to the fetching ParDo's
output, with no GroupByKey or Flatten between them, so every runner fuses the two into one stage (the
embedded ``FnApiRunner``, Flink's portable runner) and the element is handed from one DoFn to the next as a
Python object. :class:`BodiesStayInMemory`, the coder registered for :class:`FetchedImage`, refuses to encode
one: a runner that tried to move the bodies across a stage boundary (to disk, to another worker) fails the
run loudly instead of writing image bytes anywhere (tests/transforms/test_hash_fetched.py breaks the fusion
with a Flatten and a GroupByKey to show it). It guards typed bodies only: a step that re-types them (a
``Reshuffle``, a ``Map`` to ``Any``) would get Beam's pickling coder, so nothing but ``HashImages`` may
consume the ``bodies`` output.

Example (what ``FetchImages`` does inside)::

    fetched = tasks | "Fetch" >> beam.ParDo(fetch_fn).with_outputs(BODIES, main="fetch_log")
    hashed = fetched[BODIES] | "HashImages" >> HashImages(run_id, HashImageBody(run_id), IMAGES)
    hashed.fetch_log, hashed.images

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

from collections.abc import Iterator
from typing import NamedTuple

import apache_beam as beam
from apache_beam.pvalue import PCollection, TaggedOutput

from hashwatch.crawling.fetcher import one_line
from hashwatch.crawling.image_handler import FetchedBody, HandledImage, ImageBodyHandler
from schemas.crawl import ImageTask
from schemas.fetch_log import FetchLogRecord
from schemas.images import ImageRecord
from schemas.outcomes import OUTCOME_FAILED
from transforms.coders import with_element_type
from transforms.progress import ProgressConfig, start_reporting
from transforms.run_counters import StageCounters, count_row

__all__ = ["BODIES", "BodiesStayInMemory", "FetchedImage", "HashImages", "HashedImages", "hashed_row"]

BODIES = "bodies"  # the fetching DoFns' tagged output of FetchedImage
_IMAGES = "images"


class FetchedImage(NamedTuple):
    """An image body on its way from the fetching DoFn to :class:`HashImages`, in memory only."""

    task: ImageTask
    fetched: FetchedBody  # the bytes, and what the fetch learned about them
    row: FetchLogRecord  # the row the fetch wrote (``ok``); hashing may fail it


class ImageBytesLeftTheStage(RuntimeError):
    """A runner tried to encode a :class:`FetchedImage`: image bytes would have crossed a stage boundary."""


class BodiesStayInMemory(beam.coders.Coder):
    """The coder of ``PCollection[FetchedImage]``: it never encodes. The fetch and hash steps are fused, so
    no runner needs to; one that does fails here, before any byte is written or sent."""

    def encode(self, value) -> bytes:
        raise ImageBytesLeftTheStage(
            "an image body was about to leave its stage (HashImages must stay fused with the fetch step)"
        )

    def decode(self, encoded: bytes):
        raise ImageBytesLeftTheStage("an image body was encoded: this never happens in a hashwatch job")

    def is_deterministic(self) -> bool:
        return False

    def estimate_size(self, value) -> int:
        # Beam samples element sizes for its metrics by encoding; say the size without encoding.
        return len(value.fetched.body) if isinstance(value, FetchedImage) else 0

    def to_type_hint(self):
        return FetchedImage

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


beam.coders.registry.register_coder(FetchedImage, BodiesStayInMemory)


class HashedImages(NamedTuple):
    fetch_log: PCollection  # [FetchLogRecord] the final row of every body
    images: PCollection  # [ImageRecord] the handler's record of every body it made one of


def hashed_row(row: FetchLogRecord, handled: HandledImage) -> FetchLogRecord:
    """The fetch_log row of a body after hashing: failed with the handler's error kind if it gave one."""
    if not handled.error_kind:
        return row
    message = one_line(handled.error_message) if handled.error_message else None
    return row._replace(outcome=OUTCOME_FAILED, error_kind=handled.error_kind, error_message=message)


def _handle(handler: ImageBodyHandler, image: FetchedImage, run_id: str) -> HandledImage:
    try:
        handled = handler(image.task, image.fetched)
    # The handler's bug must not lose the row; its text may quote content, so only its type is kept.
    except Exception as exc:  # noqa: BLE001
        return HandledImage(None, "internal", f"image handler raised {type(exc).__name__}")
    record = handled.record._replace(run_id=run_id) if handled.record is not None else None
    return HandledImage(record, handled.error_kind, handled.error_message)


class _HashFn(beam.DoFn):
    """FetchedImage -> its final fetch_log row (main) and the handler's record (tagged ``images``).

    The rows and records are counted under the fetching stage's namespace (``hashwatch.FetchImages``,
    ``hashwatch.CrawlRounds``), as when the fetch hashed; the handler counts its own (``HashImages.*``)."""

    def __init__(
        self,
        run_id: str,
        handler: ImageBodyHandler,
        namespace: str,
        records_counter: str | None,
        progress: ProgressConfig | None,
    ) -> None:
        self._run_id = run_id
        self._handler = handler
        self._namespace = namespace
        self._records_counter = records_counter
        self._progress = progress

    def setup(self) -> None:
        self._counters = StageCounters(self._run_id)
        start_reporting(self._progress)
        self._handler.setup()

    def process(self, image: FetchedImage) -> Iterator[FetchLogRecord]:
        with self._counters.bound():  # the handler's own counts (HashImages.*) go here too
            handled = _handle(self._handler, image, self._run_id)
        row = hashed_row(image.row, handled)
        count_row(self._counters, self._namespace, row)
        yield row
        if handled.record is not None:
            if self._records_counter:
                self._counters.inc(self._namespace, self._records_counter)
            yield TaggedOutput(_IMAGES, handled.record)

    def finish_bundle(self) -> None:
        self._counters.publish()


class HashImages(beam.PTransform):
    """Hash fetched bodies: ``PCollection[FetchedImage] -> HashedImages(fetch_log, images)``.

    Apply it directly to the fetching ParDo's ``bodies`` output (see the module docstring): the two must
    fuse. ``namespace``: where the final rows are counted (``<kind>_<outcome>``, ``error_<kind>``);
    ``records_counter``: a counter of records made, in that namespace (the page rounds' ``inline_images``).
    Example::

        hashed = fetched[BODIES] | "HashImages" >> HashImages(run_id, handler, "hashwatch.FetchImages")
    """

    def __init__(
        self,
        run_id: str,
        handler: ImageBodyHandler,
        namespace: str,
        records_counter: str | None = None,
        progress: ProgressConfig | None = None,
    ) -> None:
        super().__init__()
        self._fn = _HashFn(run_id, handler, namespace, records_counter, progress)

    # No return hint: Beam warns about any output hint but a PCollection's, and this returns a NamedTuple.
    def expand(self, bodies: PCollection[FetchedImage]):
        hashed = bodies | "Hash" >> beam.ParDo(self._fn).with_output_types(FetchLogRecord).with_outputs(
            _IMAGES, main="fetch_log"
        )
        return HashedImages(
            fetch_log=hashed.fetch_log, images=with_element_type(hashed[_IMAGES], ImageRecord)
        )
