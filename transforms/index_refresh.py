"""The known-hash index of a streaming run, refreshed without a restart.

:class:`IndexWatch` is a :class:`transforms.match.IndexSource` (the streaming one; a batch run's is a
:class:`transforms.match.FixedIndex`). It travels inside the match DoFn (it is picklable configuration: the
``--index`` spec, the output folder, the interval and the index the job started with). Each DoFn instance
asks it for the current :class:`~schemas.known_hashes.IndexRef` per element; at most every ``interval_s``
seconds it lists ``--index`` (a file, or a glob whose newest file wins), and when the file's size or time
changed it reads the checksum in the index header. A new checksum is published: the file is copied to ``<output>/_indexes/<checksum>.hwidx``
(content-addressed, never rewritten, so a worker that loads it reads exactly what was announced even if
``--index`` is replaced again meanwhile). The DoFn then loads it once per worker process (``Shared``, keyed by
checksum) and every match row records the ``index_checksum`` and ``list_version`` it was made against.

An index that cannot be read (missing, half-copied, corrupt) is logged and counted
(``IndexRefresh/unreadable_index``); the current one stays in use.

Why not a side input fed by ``PeriodicImpulse`` (the "slowly updating side input" pattern): tried first, on
Beam 2.62 with Flink 1.19 (portable runner, streaming, checkpointing on) it failed twice over: the main input
was processed with an *empty* side input before the first impulse fired, and every checkpoint of the operator
holding the side input was declined (``ClassCastException: [B cannot be cast to WindowedValue`` while
copying its pushed-back elements state), which restarted the job again and again. Polling inside the DoFn
needs no side input and no state.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time

from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from hashwatch.hashing.known_hash_index import KnownHashIndex
from schemas.known_hashes import IndexRef

__all__ = ["IndexWatch", "newest_index_file", "publish_index"]

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


class IndexWatch:
    """The current index of a streaming run (see the module docstring). Picklable; use one per DoFn::

    watch = IndexWatch("/lists/*.hwidx", output, interval_s=300, initial=ref)
    ref = watch.current()  # in process(): cheap, checks the files at most every interval_s
    """

    def __init__(self, spec: str, output: str, interval_s: float, initial: IndexRef):
        self._spec = spec
        self._output = output
        self._interval_s = interval_s
        self._initial = initial
        self._ref: IndexRef | None = None
        self._next_check = 0.0
        self._seen_file: tuple | None = None

    def current(self) -> IndexRef:
        now = time.monotonic()
        if self._ref is None:
            self._ref = self._initial
            self._next_check = now + self._interval_s
        elif now >= self._next_check:
            self._next_check = now + self._interval_s
            self.check_now()
        return self._ref

    def check_now(self) -> IndexRef:
        """Look for a new index now; returns the current ref (the new one if one was published)."""
        if self._ref is None:
            self._ref = self._initial
        Metrics.counter(_NAMESPACE, "checks").inc()
        try:
            path = newest_index_file(self._spec)
            if path is None:
                raise FileNotFoundError(f"nothing matches {self._spec}")
            found = FileSystems.match([path])[0].metadata_list
            if not found:
                raise FileNotFoundError(path)
            stamp = (path, found[0].size_in_bytes, found[0].last_updated_in_seconds)
            if stamp == self._seen_file:
                return self._ref
            with tempfile.TemporaryDirectory(prefix="hashwatch-index-") as scratch:
                checksum = KnownHashIndex.load(_local_copy(path, scratch)).checksum
            if checksum != self._ref.checksum:
                self._ref = publish_index(path, self._output)
                Metrics.counter(_NAMESPACE, "new_index_versions").inc()
                _LOGGER.info("new index version %s from %s", self._ref.checksum[:16], path)
            self._seen_file = stamp
        except Exception as exc:  # noqa: BLE001 - a bad new index must never stop matching with the old one
            Metrics.counter(_NAMESPACE, "unreadable_index").inc()
            _LOGGER.warning("index %s not usable, keeping %s: %s", self._spec, self._ref.checksum[:16], exc)
        return self._ref
