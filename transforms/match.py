"""Joining image hashes against the known-hash index.

Where the index comes from is one interface, :class:`IndexSource`: ``current()`` gives the
:class:`~schemas.known_hashes.IndexRef` (path and checksum) to match against now. A batch run's is a
:class:`FixedIndex` (the file compiled or given at start); a streaming run's is a
:class:`transforms.index_refresh.IndexWatch` (``--index`` watched for new versions). The source travels
inside the DoFn (picklable configuration, not the list): each worker process loads the compiled index once
through :class:`apache_beam.utils.shared.Shared` and every DoFn instance in that process uses the same object.
A new checksum (a refreshed index in a streaming job) loads the new file.

An :class:`~hashwatch.hashing.allowlist.Allowlist` (known-collision list entries, known-innocent images)
removes matches before they are written; each removed match is counted (``allowlisted_matches``).

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import NamedTuple, Protocol

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.shared import Shared
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import PaneInfo, WindowedValue

from hashwatch.hashing.allowlist import Allowlist, image_hashes_mapping
from hashwatch.hashing.image_hashes import ImageHashes
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.match_policy import MATCH_BATCH, Match
from schemas import ImageRecord, MatchRecord
from schemas.known_hashes import IndexRef
from schemas.matches import match_records
from transforms.progress import ProgressConfig, report_bundle_end, start_reporting
from transforms.run_counters import MATCHING, StageCounters

__all__ = ["FixedIndex", "IndexSource", "MatchKnownHashes", "image_hashes_of", "SharedIndex", "load_index"]

_NAMESPACE = MATCHING  # MatchKnownHashes


def image_hashes_of(record: ImageRecord) -> ImageHashes:
    """The hashing library's view of an images/ row (no bytes needed: a rescan works from history)."""
    return ImageHashes.from_columns(record._asdict())


class IndexSource(Protocol):
    """Where :class:`MatchKnownHashes` finds the known-hash index. Picklable: it travels inside the DoFn, and
    ``current`` is called per image on the worker (keep it cheap)."""

    def current(self) -> IndexRef:
        """The index to match against now."""


class FixedIndex(NamedTuple):
    """The index of a batch run (or of a streaming run whose index never changes): one compiled file.

    >>> FixedIndex(IndexRef("/data/lists.hwidx", "ab" * 32)).current().path
    '/data/lists.hwidx'
    """

    ref: IndexRef

    def current(self) -> IndexRef:
        return self.ref


def _local_path(ref: IndexRef) -> str:
    """A local file for the index: itself if local, else a copy in the temp folder (hashes only)."""
    if "://" not in ref.path:
        return ref.path
    local = os.path.join(tempfile.gettempdir(), f"hashwatch-index-{ref.checksum}")
    if not os.path.exists(local):
        partial = f"{local}.{os.getpid()}.part"
        with FileSystems.open(ref.path) as source, open(partial, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        os.replace(partial, local)
    return local


def load_index(ref: IndexRef) -> KnownHashIndex:
    index = KnownHashIndex.load(_local_path(ref))
    if index.checksum != ref.checksum:
        raise ValueError(
            f"index {ref.path} has checksum {index.checksum}, the pipeline expected {ref.checksum}: "
            "it was replaced while the job ran; rebuild or restart"
        )
    return index


class SharedIndex:
    """Call with an IndexRef: the index, loaded once per worker process through ``shared``; holds it (Shared
    keeps only a weak reference), reloads when the checksum changes."""

    def __init__(self, shared: Shared, namespace: str):
        self._shared = shared
        self._namespace = namespace
        self._index: KnownHashIndex | None = None
        self._checksum: str | None = None

    def __call__(self, ref: IndexRef) -> KnownHashIndex:
        if self._index is None or self._checksum != ref.checksum:
            loads = Metrics.counter(self._namespace, "index_loads")

            def load():
                loads.inc()
                return load_index(ref)

            self._index = self._shared.acquire(load, tag=ref.checksum)
            self._checksum = ref.checksum
        return self._index


class _Pending(NamedTuple):
    """An image waiting for its batch, with the index it is matched against and where its rows go."""

    image: ImageRecord
    index: KnownHashIndex
    checksum: str
    timestamp: Timestamp
    window: BoundedWindow
    pane: PaneInfo


class _MatchDoFn(beam.DoFn):
    """Matches images in batches through :meth:`KnownHashIndex.match_many` (one search call per hash type per
    batch): ``process`` holds each image with its window, timestamp and pane, and a batch is matched when it
    holds :data:`MATCH_BATCH` images or the bundle ends; its rows go out in their image's window, at its
    timestamp, so batching changes neither the rows nor where they land (batch or streaming)."""

    def __init__(
        self,
        index: IndexSource,
        run_id: str,
        match_options,
        shared: Shared,
        allowlist: Allowlist | None = None,
        progress: ProgressConfig | None = None,
    ):
        self._index = index
        self._run_id = run_id
        self._match_options = match_options
        self._shared = shared
        self._allowlist = allowlist
        self._progress = progress

    def setup(self):
        # Counted as matched, for the live progress lines; handed to Beam at the end of each bundle.
        self._counters = StageCounters(self._run_id)
        start_reporting(self._progress)
        # The DoFn holds the index: Shared keeps only a weak reference.
        self._index_for = SharedIndex(self._shared, _NAMESPACE)

    def start_bundle(self):
        self._pending: list[_Pending] = []

    def process(
        self,
        image: ImageRecord,
        timestamp=beam.DoFn.TimestampParam,
        window=beam.DoFn.WindowParam,
        pane=beam.DoFn.PaneInfoParam,
    ) -> Iterator[MatchRecord]:
        ref = self._index.current()
        index = self._index_for(ref)
        self._counters.inc(_NAMESPACE, "images_matched_against_index")
        self._pending.append(_Pending(image, index, ref.checksum, timestamp, window, pane))
        if len(self._pending) >= MATCH_BATCH:
            yield from self._match_pending()

    def finish_bundle(self):
        yield from self._match_pending()
        self._counters.publish()
        report_bundle_end(self._progress)

    def _match_pending(self) -> Iterator[WindowedValue]:
        """Match the held images, a batch per index (a streaming job may swap it mid-bundle), in order."""
        pending, self._pending = self._pending, []
        now_us = time.time_ns() // 1000
        for _, group in itertools.groupby(pending, key=lambda p: id(p.index)):
            batch = list(group)
            found = batch[0].index.match_many([image_hashes_of(p.image) for p in batch], self._match_options)
            for p, matches in zip(batch, found, strict=True):
                for record in self._rows(p.image, matches, p.checksum, now_us):
                    yield WindowedValue(record, p.timestamp, (p.window,), p.pane)

    def _rows(self, image: ImageRecord, matches: list[Match], checksum: str, now_us: int):
        """One image's match rows after the allowlist, counted."""
        counters = self._counters
        if matches and self._allowlist is not None:
            matches, suppressed = self._allowlist.split(matches, image_hashes_mapping(image))
            if suppressed:
                counters.inc(
                    _NAMESPACE, "allowlisted_matches", len(suppressed) * max(1, len(image.page_urls or ()))
                )
        if not matches:
            return
        counters.inc(_NAMESPACE, "images_with_a_match")
        for record in match_records(self._run_id, image._asdict(), matches, checksum, now_us):
            counters.inc(_NAMESPACE, f"matches_{record.hash_type}_{record.match_kind}")
            counters.inc(_NAMESPACE, "match_rows")
            yield record


class MatchKnownHashes(beam.PTransform):
    """Match images against the known-hash index: ``PCollection[ImageRecord] -> PCollection[MatchRecord]``.

    ``index`` is an :class:`IndexSource`: a :class:`FixedIndex`, or (streaming) a
    :class:`transforms.index_refresh.IndexWatch`, which each DoFn instance asks for the current index, so a
    new compiled index is used without a restart. Each image gives
    one row per page that showed it and per list entry it matched (exact for MD5/SHA, within the type's
    Hamming threshold for pHash/dHash/PDQ). With an ``allowlist``, matches of allowlisted list entries and of
    allowlisted images are left out and counted (``MatchKnownHashes.allowlisted_matches``, in rows that
    would have been written).

    ``progress``: report the match rows live (:mod:`transforms.progress`). Example::

        index = FixedIndex(IndexRef("/data/list.hwidx", checksum))
        matches = images | "MatchKnownHashes" >> MatchKnownHashes(index, run_id)
    """

    def __init__(
        self,
        index: IndexSource,
        run_id: str,
        match_options=None,
        allowlist: Allowlist | None = None,
        progress: ProgressConfig | None = None,
    ):
        super().__init__()
        self._index = index
        self._run_id = run_id
        self._match_options = match_options
        self._allowlist = allowlist
        self._progress = progress

    def expand(self, images: beam.PCollection[ImageRecord]) -> beam.PCollection[MatchRecord]:
        fn = _MatchDoFn(
            self._index, self._run_id, self._match_options, Shared(), self._allowlist, self._progress
        )
        return images | "Match" >> beam.ParDo(fn).with_output_types(MatchRecord)
