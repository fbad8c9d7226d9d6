"""The known-hash index of a streaming run, refreshed without a restart (the slowly-updating side input).

:class:`WatchIndex` polls ``--index`` (a file, or a glob whose newest file wins) every ``interval_s`` seconds
with ``PeriodicImpulse``. When the checksum in the index header changes, the new file is copied to
``<output>/_indexes/<checksum>.hwidx`` (content-addressed, never rewritten, so a worker that loads it later
reads exactly what was announced even if ``--index`` is replaced again meanwhile) and an
:class:`IndexVersion` is emitted. The collection is in the global window with a trigger per element
(discarding), and :class:`transforms.match.MatchKnownHashes` reads it as a list side input and uses the
newest version: whether a runner keeps the last pane or all of them, the newest wins. Each worker process
then loads the new file once (``Shared``, keyed by checksum) and every match row records ``index_checksum``
and ``list_version`` of the index it was made against.

An index that cannot be read (missing, half-copied, corrupt) is logged and counted
(``IndexRefresh/unreadable_index``); the current one stays in use.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from typing import Any

import apache_beam as beam
from apache_beam.coders import StrUtf8Coder
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, userstate, window
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from hashwatch.hashing.known_hash_index import KnownHashIndex
from schemas.known_hashes import IndexRef, IndexVersion

__all__ = ["IndexVersion", "WatchIndex", "newest_index_file", "publish_index"]

_LOGGER = logging.getLogger("hashwatch.index_refresh")
_NAMESPACE = "IndexRefresh"
INDEX_SUFFIX = ".hwidx"


def newest_index_file(spec: str) -> str | None:
    """``spec`` itself if it has no glob characters, else the newest file it matches (None if none)."""
    if not any(c in spec for c in "*?["):
        return spec
    found = FileSystems.match([spec])[0].metadata_list
    if not found:
        return None
    return max(found, key=lambda m: (m.last_updated_in_seconds, m.path)).path


def _local_copy(path: str, scratch: str) -> str:
    if "://" not in path:
        return path
    local = os.path.join(scratch, "index" + INDEX_SUFFIX)
    with FileSystems.open(path) as source, open(local, "wb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
    return local


def publish_index(source: str, output: str) -> IndexRef:
    """Copy ``source`` to ``<output>/_indexes/<checksum[:32]>.hwidx`` (if not there yet) and return its ref.

    The checksum is read from the copy, after copying, so the ref always names the bytes in that file.
    """
    with tempfile.TemporaryDirectory(prefix="hashwatch-index-") as scratch:
        staged = os.path.join(scratch, "staged" + INDEX_SUFFIX)
        with FileSystems.open(source) as reader, open(staged, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
        checksum = KnownHashIndex.load(staged, verify=True).checksum
        target = FileSystems.join(output, "_indexes", checksum[:32] + INDEX_SUFFIX)
        if not FileSystems.exists(target):
            if "://" in output:
                with open(staged, "rb") as reader, FileSystems.create(target) as writer:
                    shutil.copyfileobj(reader, writer, 1 << 20)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                partial = f"{target}.{os.getpid()}.part"
                shutil.copyfile(staged, partial)
                os.replace(partial, target)
    return IndexRef(target, checksum)


_LAST = userstate.ReadModifyWriteStateSpec("last_checksum", StrUtf8Coder())
_LAST_PARAM = beam.DoFn.StateParam(_LAST)


class _PublishNewIndexFn(beam.DoFn):
    """(key, tick) -> an IndexVersion when the index under ``spec`` has a new checksum (state: the last one)."""

    def __init__(self, spec: str, output: str):
        self._spec = spec
        self._output = output

    def setup(self):
        self._checks = Metrics.counter(_NAMESPACE, "checks")
        self._published = Metrics.counter(_NAMESPACE, "new_index_versions")
        self._unreadable = Metrics.counter(_NAMESPACE, "unreadable_index")

    def process(self, element, last=_LAST_PARAM):
        self._checks.inc()
        try:
            path = newest_index_file(self._spec)
            if path is None:
                raise FileNotFoundError(f"nothing matches {self._spec}")
            with tempfile.TemporaryDirectory(prefix="hashwatch-index-") as scratch:
                checksum = KnownHashIndex.load(_local_copy(path, scratch)).checksum
            if checksum == last.read():
                return
            ref = publish_index(path, self._output)
        except Exception as exc:  # noqa: BLE001 - a bad new index must never stop matching with the old one
            self._unreadable.inc()
            _LOGGER.warning("index %s not usable, keeping the current one: %s", self._spec, exc)
            return
        last.write(ref.checksum)
        self._published.inc()
        _LOGGER.info("index version %s published from %s", ref.checksum[:16], path)
        yield IndexVersion(time.time_ns() // 1000, ref)


class WatchIndex(beam.PTransform):
    """``PBegin -> PCollection[IndexVersion]``: the current index at start, then each new one.

    Example::

        versions = pipeline | "WatchIndex" >> WatchIndex("/lists/current.hwidx", output, interval_s=300)
        matches = images | "Match" >> MatchKnownHashes(versions, run_id, versions=True)
    """

    def __init__(self, spec: str, output: str, interval_s: float, stop_after_s: float | None = None):
        super().__init__()
        self._spec = spec
        self._output = output
        self._interval_s = interval_s
        self._stop_after_s = stop_after_s

    def expand(self, pbegin) -> beam.PCollection[IndexVersion]:
        start = Timestamp.of(time.time())
        stop = start + self._stop_after_s if self._stop_after_s else MAX_TIMESTAMP
        return (
            pbegin
            | "Tick"
            >> PeriodicImpulse(start_timestamp=start, stop_timestamp=stop, fire_interval=self._interval_s)
            | "OneKey" >> beam.Map(lambda tick: ("index", tick))
            | "PublishNewIndex"
            >> beam.ParDo(_PublishNewIndexFn(self._spec, self._output)).with_input_types(tuple[str, Any])
            | "EveryVersion"
            >> beam.WindowInto(
                window.GlobalWindows(),
                trigger=trigger.Repeatedly(trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
            )
        )
