"""The crawl's counters: one catalogue, counted where the work happens, recorded by Beam on the DoFn's thread.

Beam records a metric only on the thread that runs the bundle: its metrics container is thread-local, and an
increment on any other thread is dropped without a word. The fetching DoFns fetch and hash on a pool of
threads, so ``HashImages.images_hashed``, ``same_bytes_hashed_once`` and ``hash_ms``, counted inside the
image handler on those threads, were missing from every run manifest. Here the work counts into a
thread-safe :class:`StageCounters`, one per DoFn instance; :meth:`StageCounters.publish`, called on the
DoFn's own thread (``process``, ``finish_bundle``), hands the counts to Beam's metrics, under the step that
did the work. The same increments feed the run's live totals in this process (:func:`run_totals`), which
:mod:`transforms.progress` reports every ``--progress-interval`` seconds while the work goes on.

Code that is not handed the counters (the image handler, called deep inside a fetch) counts with
:func:`count` / :func:`observe`: into the counters the fetching DoFn bound to the thread
(:meth:`StageCounters.bound`), or straight into Beam when none are bound (then it must be on a DoFn's
thread, as for any Beam metric)::

    counters = StageCounters(run_id)              # in DoFn.setup
    with counters.bound():                        # on a fetch thread
        result = fetch_and_hash(task)             # the handler calls count("HashImages", "images_hashed")
    counters.inc("hashwatch.FetchImages", "image_ok")
    counters.publish()                            # on the DoFn's thread

:data:`CRAWL_COUNTERS` lists every counter and distribution of a crawl run, as the run manifest names them
(``beam_counters``, ``beam_distributions``); docs/usage.md's table is checked against it by the tests.
"""

import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from apache_beam.metrics import Metrics

__all__ = [
    "CRAWL_COUNTERS",
    "CounterSpec",
    "StageCounters",
    "VIDEOS",
    "VIDEO_HASHING",
    "VIDEO_MATCHING",
    "count",
    "count_row",
    "observe",
    "reset_run_totals",
    "run_totals",
]

PAGES = "hashwatch.CrawlRounds"
IMAGES = "hashwatch.FetchImages"
HASHING = "HashImages"
MATCHING = "MatchKnownHashes"
VIDEOS = "hashwatch.FetchVideos"
VIDEO_HASHING = "HashVideos"
VIDEO_MATCHING = "MatchVideos"


class CounterSpec(NamedTuple):
    """One metric of a crawl run. ``name`` may hold a ``<placeholder>`` for a family (``error_<error_kind>``);
    ``kind`` is ``counter`` or ``distribution``; ``streaming``: only streaming runs have it; ``videos``: only
    runs that met a video have it (tests/test_video_crawl_e2e.py checks those reach the manifest)."""

    namespace: str
    name: str
    kind: str = "counter"
    streaming: bool = False
    videos: bool = False

    @property
    def key(self) -> str:
        """The manifest's name: ``namespace.name``."""
        return f"{self.namespace}.{self.name}"

    def matches(self, key: str) -> bool:
        """Whether a manifest name (``HashImages.images_hashed``) is this metric or one of its family."""
        parts = re.split(r"<[a-z_]+>", self.key)
        return re.fullmatch("[A-Za-z0-9_]+".join(re.escape(p) for p in parts), key) is not None


_D = "distribution"
CRAWL_COUNTERS: tuple[CounterSpec, ...] = (
    CounterSpec("ReadSeeds", "seed_files"),
    CounterSpec("ReadSeeds", "seeds"),
    CounterSpec("ReadSeeds", "invalid_seed_lines"),
    CounterSpec("ReadSeeds", "unreadable_seed_files"),
    CounterSpec(PAGES, "<kind>_<outcome>"),
    CounterSpec(PAGES, "error_<error_kind>"),
    CounterSpec(PAGES, "image_refs"),
    CounterSpec(PAGES, "links_found"),
    CounterSpec(PAGES, "inline_images"),
    CounterSpec(PAGES, "dropped_references"),
    CounterSpec(PAGES, "page_fetch_ms", _D),
    CounterSpec(PAGES, "page_bytes", _D),
    CounterSpec(IMAGES, "image_<outcome>"),
    CounterSpec(IMAGES, "error_<error_kind>"),
    CounterSpec(IMAGES, "image_fetch_ms", _D),
    CounterSpec(IMAGES, "image_bytes", _D),
    CounterSpec(HASHING, "images_hashed"),
    CounterSpec(HASHING, "same_bytes_hashed_once"),
    CounterSpec(HASHING, "decode_failures"),
    CounterSpec(HASHING, "hash_ms", _D),
    CounterSpec("MergeImageRecords", "duplicate_image_rows_merged"),
    CounterSpec(PAGES, "video_refs", videos=True),
    CounterSpec(VIDEOS, "video_<outcome>", videos=True),
    CounterSpec(VIDEOS, "error_<error_kind>", videos=True),
    CounterSpec(VIDEOS, "video_fetch_ms", _D, videos=True),
    CounterSpec(VIDEOS, "video_bytes", _D, videos=True),
    CounterSpec(VIDEO_HASHING, "videos_hashed", videos=True),
    CounterSpec(VIDEO_HASHING, "video_decode_failures", videos=True),
    CounterSpec(VIDEO_HASHING, "video_urls_that_were_images", videos=True),
    CounterSpec(VIDEO_HASHING, "video_hash_ms", _D, videos=True),
    CounterSpec(VIDEO_MATCHING, "index_loads", videos=True),
    CounterSpec(VIDEO_MATCHING, "videos_matched_against_index", videos=True),
    CounterSpec(VIDEO_MATCHING, "videos_with_a_match", videos=True),
    CounterSpec(VIDEO_MATCHING, "match_rows", videos=True),
    CounterSpec(MATCHING, "index_loads"),
    CounterSpec(MATCHING, "images_matched_against_index"),
    CounterSpec(MATCHING, "images_with_a_match"),
    CounterSpec(MATCHING, "match_rows"),
    CounterSpec(MATCHING, "matches_<hash_type>_<match_kind>"),
    CounterSpec(MATCHING, "allowlisted_matches"),
    CounterSpec("SeedSource", "seed_files", streaming=True),
    CounterSpec("SeedSource", "seed_lines", streaming=True),
    CounterSpec("SeedSource", "unreadable_seed_files", streaming=True),
    CounterSpec("hashwatch.<stage>", "first_seen", streaming=True),
    CounterSpec("hashwatch.<stage>", "recently_seen", streaming=True),
    CounterSpec("hashwatch.<stage>", "marked", streaming=True),
    CounterSpec("hashwatch.<stage>", "expired", streaming=True),
    CounterSpec("IndexRefresh", "checks", streaming=True),
    CounterSpec("IndexRefresh", "new_index_versions", streaming=True),
    CounterSpec("IndexRefresh", "unreadable_index", streaming=True),
    CounterSpec("WriteWindowedParquet", "rows_written", streaming=True),
    CounterSpec("WriteWindowedParquet", "files_written", streaming=True),
)

# One lock for every table of the process: increments are a few per fetched URL, never contended enough to
# matter next to a fetch.
_lock = threading.Lock()
_totals: dict[str, Counter[str]] = {}  # run id -> "namespace.name" -> count, live, this process
_bound = threading.local()


def run_totals(run_id: str) -> dict[str, int]:
    """The counts of run ``run_id`` made in this process so far (``namespace.name -> n``)."""
    with _lock:
        return dict(_totals.get(run_id, {}))


def reset_run_totals(run_id: str) -> None:
    """Forget this process's live totals of ``run_id`` (a launcher starting a run whose id was used)."""
    with _lock:
        _totals.pop(run_id, None)


class StageCounters:
    """The counts of one DoFn instance: :meth:`inc` and :meth:`observe` from any thread, :meth:`publish` on
    the DoFn's thread. Make it in ``setup``; it never travels (not picklable by design: a lock)."""

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id
        self._pending: Counter[tuple[str, str]] = Counter()
        self._observed: dict[tuple[str, str], list[int]] = {}

    def inc(self, namespace: str, name: str, n: int = 1) -> None:
        with _lock:
            self._pending[(namespace, name)] += n
            totals = _totals.get(self._run_id)
            if totals is None:
                totals = _totals[self._run_id] = Counter()
            totals[f"{namespace}.{name}"] += n

    def observe(self, namespace: str, name: str, value: int) -> None:
        """A value of a distribution (a time in ms, a size in bytes)."""
        with _lock:
            self._observed.setdefault((namespace, name), []).append(int(value))

    def publish(self) -> None:
        """Hand what was counted since the last call to Beam. Only on the DoFn's thread, in a bundle."""
        with _lock:
            pending, self._pending = self._pending, Counter()
            observed, self._observed = self._observed, {}
        for (namespace, name), n in pending.items():
            Metrics.counter(namespace, name).inc(n)
        for (namespace, name), values in observed.items():
            distribution = Metrics.distribution(namespace, name)
            for value in values:
                distribution.update(value)

    @contextmanager
    def bound(self) -> Iterator["StageCounters"]:
        """For the block, :func:`count` and :func:`observe` on this thread count here."""
        previous = getattr(_bound, "counters", None)
        _bound.counters = self
        try:
            yield self
        finally:
            _bound.counters = previous


def count_row(counters: StageCounters, namespace: str, row) -> None:
    """Count a fetch_log row: ``<kind>_<outcome>``, and ``error_<error_kind>`` if it has one."""
    counters.inc(namespace, f"{row.kind}_{row.outcome}")
    if row.error_kind:
        counters.inc(namespace, f"error_{row.error_kind}")


def count(namespace: str, name: str, n: int = 1) -> None:
    """Count into the :class:`StageCounters` bound to this thread, else into Beam directly."""
    counters = getattr(_bound, "counters", None)
    if counters is not None:
        counters.inc(namespace, name, n)
    else:
        Metrics.counter(namespace, name).inc(n)


def observe(namespace: str, name: str, value: int) -> None:
    """A distribution value, into the :class:`StageCounters` bound to this thread, else into Beam directly."""
    counters = getattr(_bound, "counters", None)
    if counters is not None:
        counters.observe(namespace, name, value)
    else:
        Metrics.distribution(namespace, name).update(int(value))
