"""Beam transforms of the crawl: rounds of page fetching from seeds, and fetching the distinct images found.

Thin adapters over :mod:`hashwatch.crawling`. Public transforms:

* :class:`CrawlRounds`: seed URLs -> :class:`CrawlResult` (fetch_log rows for every page URL attempted or
  skipped, image references, and records of images that arrived inline or as a seed/link).
* :class:`ImageTasksFromRefs`: image references -> one :class:`ImageTask` per distinct image URL.
* :class:`FetchImages`: image tasks -> :class:`FetchImagesResult` (fetch_log rows and image records).

How the work is split: every fetch stage groups its tasks by host (``scheme://host:port``), so one host's
tasks of a stage are handled by one DoFn call on one worker, where politeness (per-host concurrency and
delay) is enforced; a process-wide host table carries it across stages in the same process. One exception:
when no delay can apply to any request (``--per-host-delay 0`` and robots.txt ``Crawl-delay`` off:
``--max-crawl-delay 0`` or ``--ignore-robots``), the only limit is ``--per-host-concurrency`` N requests in
flight, so ``FetchImages`` spreads a host's images over N keys (``host#k/N``, by a stable hash of the image
URL), each fetched one request at a time: at most N in flight wherever Beam runs them, and up to N workers
share one host's fetching and hashing (:func:`image_shards`). Inside a DoFn
instance a pool of ``fetch_threads`` threads fetches many hosts at once: elements of a bundle are buffered,
fetched concurrently and drained by ``finish_bundle``. The fetch threads do not hash: each body they fetch
goes, in memory, to the ``HashImages`` step fused right after the fetching ParDo
(:mod:`transforms.hash_fetched`), which runs the image handler and gives the body's fetch_log row its final
outcome. At most ``fetch_threads`` bodies wait for it per DoFn instance; a fetch thread with one more waits
meanwhile (:mod:`transforms.polite_fetch`).

Rounds are unrolled (a Beam graph has no cycles). Each round is one GroupByKey by host of a single carried
collection: seed tasks (round 0), the links found by the previous round (keyed by their own host) and each
host's state (every URL of the host decided so far, pages fetched). The fetch DoFn drops links already seen,
decides each new URL once (a task, or a skipped row), fetches the tasks within ``--max-pages-per-host``, and
emits the host's new state and its pages' links for the next round. Round ``max_depth + 1`` fetches nothing:
it logs the last round's new links as ``skipped``/``max_depth``. Each round costs a few hundredths of a
second of runner overhead on FnApiRunner even when empty, so keep ``--max-depth`` as small as the job needs.

Counting rule: one fetch_log row per page URL (seeds included) and per image URL, except inline ``data:``
images, which get one row per page that embeds them (``url`` = ``data:<mime>;sha256=<hex>``, ``parent_url``
= the page).

Counting: the fetch threads count each task's rows, times and sizes as it finishes (the rows of bodies are
counted by ``HashImages`` once hashed), into the DoFn's :class:`transforms.run_counters.StageCounters`; the
DoFn's thread hands them to Beam's metrics. So the counts are live (:mod:`transforms.progress`) and none is
lost: Beam drops any metric updated on a thread other than the bundle's.

Type hints are evaluated (no ``from __future__ import annotations`` here): Beam reads the hints of
``expand``, ``process`` and mapped functions, and turns a string hint into ``Any`` with a log line each.
"""

import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol

import apache_beam as beam
from apache_beam.pvalue import PCollection, TaggedOutput

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.crawl_worker import ImageOutcome, PageOutcome
from hashwatch.crawling.frontier import (
    apply_host_cap,
    choose_candidate,
    decide_link,
    image_task_for,
    seed_key,
    skipped_row,
)
from hashwatch.crawling.image_handler import FetchedBody, HandledImage, ImageBodyHandler
from hashwatch.crawling.url_rules import host_key
from schemas.crawl import CrawlTask, DiscoveredLink, ImageRef, ImageTask
from schemas.fetch_log import FetchLogRecord
from schemas.outcomes import KIND_PAGE, OUTCOME_FAILED
from transforms.coders import with_element_type
from transforms.hash_fetched import BODIES, FetchedImage, HashImages
from transforms.polite_fetch import Handed, PoliteFetchFn, wv
from transforms.progress import ProgressConfig, report_bundle_end, start_reporting
from transforms.run_counters import IMAGES, PAGES, StageCounters, count_row

__all__ = [
    "CrawlResult",
    "CrawlRounds",
    "FetchImages",
    "FetchImagesResult",
    "FetchedBody",
    "HandledImage",
    "ImageBodyHandler",
    "ImageTasksFromRefs",
    "SeenInRun",
    "SeenUrls",
    "image_shards",
]

_METRICS_PAGES = PAGES  # hashwatch.CrawlRounds
_METRICS_IMAGES = IMAGES  # hashwatch.FetchImages

_REFS = "image_refs"
_VIDEO_REFS = "video_refs"
_CARRY = "carry"
_SKIPPED = "skipped"


class CrawlResult(NamedTuple):
    fetch_log: PCollection  # [FetchLogRecord] one row per page URL attempted or skipped, seeds included
    image_refs: PCollection  # [ImageRef] every (page, http(s) image URL) pair found, all rounds
    video_refs: PCollection  # [VideoRef] every (page, video URL) pair, and seeds/links that were videos
    inline_images: (
        PCollection  # [ImageRecord] data: images (page_urls=[page]) and seeds/links that were images
    )


class FetchImagesResult(NamedTuple):
    fetch_log: PCollection  # [FetchLogRecord] one row per image task
    images: PCollection  # [ImageRecord] what the handler made of each image fetched
    video_refs: PCollection  # [VideoRef] image URLs whose bytes were a video: for the video stage


class _HostState(NamedTuple):
    """What one host's round hands to the next: every URL of the host decided so far, and pages fetched."""

    seen: tuple[str, ...]
    pages_fetched: int


# Tags of the values carried from one round to the next, all keyed by host. The values are pickled: they
# never leave the job, and a str key keeps the GroupByKey's key coder deterministic.
_CarryType = tuple[str, Any]
_CARRY_TASK = "task"  # a seed CrawlTask (round 0 only)
_CARRY_LINK = "link"  # a DiscoveredLink found on this round's pages
_CARRY_STATE = "state"  # the host's _HostState


class _FetchPagesFn(PoliteFetchFn):
    """One round for one host: decide its newly found links, fetch its pages, hand its state on.

    In: (host, [(tag, value)]) with seed tasks (round 0), links found on the previous round's pages that point
    to this host, and the host's state. Links to URLs already seen are dropped; each new URL is decided once
    (a task, or a skipped row); the tasks within ``--max-pages-per-host`` are fetched. The host's new state,
    and the links its pages contain (keyed by their own hosts), go to the next round through the ``carry``
    output: one collection, one GroupByKey per round.
    """

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        host, values = element
        tasks: list[CrawlTask] = []
        candidates: dict[str, list[DiscoveredLink]] = {}
        seen: set[str] = set()
        prior = 0
        for tag, value in values:
            if tag == _CARRY_TASK:
                tasks.append(value)
                seen.add(value.url)
            elif tag == _CARRY_LINK:
                candidates.setdefault(value.url, []).append(value)
            else:
                seen.update(value.seen)
                prior += value.pages_fetched
        for url in sorted(candidates):
            if url in seen:
                continue
            seen.add(url)
            task, row = decide_link(choose_candidate(candidates[url]), self._config, self._run_id)
            if row is not None:
                count_row(self._counters, _METRICS_PAGES, row)
                yield row
            else:
                tasks.append(task)
        keep: list[CrawlTask] = []
        if tasks:
            keep, capped = apply_host_cap(tasks, prior, self._config, self._run_id)
            for row in capped:
                count_row(self._counters, _METRICS_PAGES, row)
                yield row
        state = _HostState(tuple(sorted(seen)), prior + len(keep))
        yield TaggedOutput(_CARRY, (host, (_CARRY_STATE, state)))
        if keep:
            self._arrive(host)
        for task in keep:
            self._submit(host, task, timestamp, window)
        yield from self._drain()
        self._counters.publish()

    def _work(self, item, pacer):
        return self._worker.crawl_page(item[0], pacer)

    def _outcome(self, task: CrawlTask, result) -> PageOutcome:
        if isinstance(result, BaseException):  # crawl_page never raises; kept as a safety net
            row = self._worker.internal_row(task.url, KIND_PAGE, task.depth, task.parent_url, result)
            return PageOutcome(fetch_log=[row])
        return result

    def _rows(self, outcome: PageOutcome) -> list[FetchLogRecord]:
        return outcome.fetch_log

    def _count(self, outcome: PageOutcome, handed: Handed) -> None:
        counters = self._counters
        counters.observe(_METRICS_PAGES, "page_fetch_ms", int(outcome.elapsed_s * 1000))
        if outcome.bytes_length:
            counters.observe(_METRICS_PAGES, "page_bytes", outcome.bytes_length)
        if outcome.dropped_references:
            counters.inc(_METRICS_PAGES, "dropped_references", outcome.dropped_references)
        counters.inc(_METRICS_PAGES, "image_refs", len(outcome.image_refs))
        if outcome.video_refs:
            counters.inc(_METRICS_PAGES, "video_refs", len(outcome.video_refs))
        counters.inc(_METRICS_PAGES, "links_found", len(outcome.links))
        for row in handed.rows:  # the rows of bodies: counted by HashImages, with inline_images
            count_row(counters, _METRICS_PAGES, row)

    def _emit(self, task: CrawlTask, outcome: PageOutcome, handed: Handed, timestamp, window):
        for row in handed.rows:
            yield wv(row, timestamp, window)
        for ref in outcome.image_refs:
            yield wv(ref, timestamp, window, _REFS)
        for ref in outcome.video_refs:
            yield wv(ref, timestamp, window, _VIDEO_REFS)
        for link in outcome.links:
            yield wv((host_key(link.url), (_CARRY_LINK, link)), timestamp, window, _CARRY)


class _FetchImagesFn(PoliteFetchFn):
    """(host or host shard, [ImageTask]) -> fetch_log rows (main) and bodies for HashImages (``bodies``).

    The key is what the politeness table counts requests in flight under: the host, or one of its shards
    (``host#k/N``, then with a concurrency of 1). With shards no delay applies (see :func:`image_shards`), so
    the requests to the host itself need no pacing beyond that."""

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        host, tasks = element
        self._arrive(host)
        for task in tasks:
            self._submit(host, task, timestamp, window)
        yield from self._drain()
        self._counters.publish()

    def _work(self, item, pacer):
        return self._worker.fetch_image(item[0], pacer)

    def _outcome(self, task: ImageTask, result) -> ImageOutcome:
        if isinstance(result, BaseException):
            parent = task.page_urls[0] if task.page_urls else None
            row = self._worker.internal_row(task.image_url, "image", task.depth, parent, result)
            return ImageOutcome(row, None)
        return result

    def _rows(self, outcome: ImageOutcome) -> list[FetchLogRecord]:
        return [outcome.fetch_log] if outcome.fetch_log is not None else []

    def _count(self, outcome: ImageOutcome, handed: Handed) -> None:
        counters = self._counters
        counters.observe(_METRICS_IMAGES, "image_fetch_ms", int(outcome.elapsed_s * 1000))
        if outcome.bytes_length:
            counters.observe(_METRICS_IMAGES, "image_bytes", outcome.bytes_length)
        for row in handed.rows:  # a body's row is counted by HashImages
            count_row(counters, _METRICS_IMAGES, row)

    def _emit(self, task: ImageTask, outcome: ImageOutcome, handed: Handed, timestamp, window):
        for row in handed.rows:
            yield wv(row, timestamp, window)
        if outcome.video_ref is not None:
            yield wv(outcome.video_ref, timestamp, window, _VIDEO_REFS)


# --- frontier DoFns (no network)
# -----------------------------------------------------------------------------


class _DecideSeedsFn(beam.DoFn):
    """(key, [(key, task or None, problem)]) -> a CrawlTask (main) or a failed row for an unusable seed."""

    def __init__(self, run_id: str, progress: ProgressConfig | None = None) -> None:
        self._run_id = run_id
        self._progress = progress

    def setup(self) -> None:
        self._counters = StageCounters(self._run_id)
        start_reporting(self._progress)

    def process(self, element):
        key, decisions = element
        _, task, problem = next(iter(decisions))
        if task is not None:
            yield task
        else:
            kind, message = problem
            self._counters.inc(_METRICS_PAGES, f"error_{kind}")
            yield TaggedOutput(
                _SKIPPED, skipped_row(self._run_id, key, 0, None, kind, message, outcome=OUTCOME_FAILED)
            )

    def finish_bundle(self) -> None:
        self._counters.publish()
        report_bundle_end(self._progress)


def _decide_seed(line: str) -> tuple[str, CrawlTask | None, tuple[str, str] | None]:
    """A seed line -> (its key: the normalised URL or the line, a task or None, the problem or None)."""
    return seed_key(line)


def _image_task(image_url: str, refs: Iterable[ImageRef]) -> ImageTask:
    """One image URL's references -> its ImageTask (every page, the smallest depth)."""
    return image_task_for(image_url, refs)


def image_shards(config: CrawlConfig) -> int:
    """How many keys ``FetchImages`` spreads one host's images over: 1, unless no delay can apply to any
    request to any host (``per_host_delay`` 0, and robots.txt ``Crawl-delay`` capped at 0 or robots ignored),
    in which case ``host_concurrency``: each key then has at most one request in flight, so the host never
    has more than its concurrency in flight, however many workers share its keys."""
    no_crawl_delay = config.max_crawl_delay == 0 or config.ignore_robots
    if config.per_host_delay > 0 or not no_crawl_delay:
        return 1
    return config.host_concurrency


def _image_key(url: str, shards: int) -> str:
    """The grouping key of an image task: its host, or ``host#k/N`` (a stable hash: the same on every worker)."""
    host = host_key(url)
    if shards == 1:
        return host
    return f"{host}#{zlib.crc32(url.encode('utf-8')) % shards}/{shards}"


# --- which URLs the rounds have seen: within this run (batch), or within a TTL across windows (streaming)
# ---------------------------------------------------------------------------------------------------------


class SeenUrls(Protocol):
    """How :class:`CrawlRounds` drops URLs already seen. Two behaviours, one interface: :class:`SeenInRun`
    (batch: each distinct seed once, links the host's state already holds are dropped in the round itself)
    and :class:`transforms.streaming_crawl.SeenWithinTtl` (streaming: seeds and links seen in earlier windows
    within ``--dedupe-ttl`` are dropped too). Both apply their steps under the labels given (``Seeds/...``,
    ``Round<d>/...``), inside ``CrawlRounds``."""

    def seeds_by_url(self, seeds: PCollection) -> PCollection:
        """Seed lines -> ``(key, [seed_key decisions])`` per distinct URL (or junk line), for Seeds/Decide."""

    def fresh_links(self, name: str, carry: PCollection, earlier_rows: list[PCollection]) -> PCollection:
        """What round ``name`` (after the first) groups by host: the previous round's carry (links and host
        states), less the links this policy has seen. ``earlier_rows``: the fetch_log rows decided so far."""


class SeenInRun:
    """Batch: duplicate seeds are grouped into one; links are checked against each host's state."""

    def seeds_by_url(self, seeds: PCollection) -> PCollection:
        return (
            seeds
            | "Seeds/Normalise" >> beam.Map(_decide_seed)
            | "Seeds/KeyByUrl" >> beam.Map(lambda d: (d[0], d))
            | "Seeds/GroupByUrl" >> beam.GroupByKey()
        )

    def fresh_links(self, name: str, carry: PCollection, earlier_rows: list[PCollection]) -> PCollection:
        return carry


# --- public transforms
# ---------------------------------------------------------------------------------------


class CrawlRounds(beam.PTransform):
    """Crawl from seed URLs for ``config.max_depth`` rounds.

    In: ``PCollection[str]`` of seed URLs (duplicates and junk allowed: a bad seed becomes a failed row).
    Out: :class:`CrawlResult` (fetch_log, image_refs, inline_images). ``progress``: report the run's
    counts live (:mod:`transforms.progress`). ``seen``: which URLs count as seen (:class:`SeenUrls`;
    default :class:`SeenInRun`, a batch run's). Example::

        result = seeds | "Crawl" >> CrawlRounds(CrawlConfig(max_depth=2), run_id, handler)
        tasks = result.image_refs | "ImageTasks" >> ImageTasksFromRefs()
        images = tasks | "FetchImages" >> FetchImages(config, run_id, handler)
    """

    def __init__(
        self,
        config: CrawlConfig,
        run_id: str,
        image_handler: ImageBodyHandler,
        progress: ProgressConfig | None = None,
        seen: SeenUrls | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id
        self._handler = image_handler
        self._progress = progress
        self._seen = seen if seen is not None else SeenInRun()

    # No return hint: Beam warns about any output hint but a PCollection's, and this returns a NamedTuple.
    def expand(self, seeds: PCollection[str]):
        config, run_id = self._config, self._run_id
        decide = (
            beam.ParDo(_DecideSeedsFn(run_id, self._progress))
            .with_output_types(CrawlTask)
            .with_outputs(_SKIPPED, main="tasks")
        )
        decided = self._seen.seeds_by_url(seeds) | "Seeds/Decide" >> decide
        carry = with_element_type(decided.tasks, CrawlTask) | "Seeds/KeyByHost" >> beam.Map(
            lambda task: (host_key(task.url), (_CARRY_TASK, task))
        ).with_output_types(_CarryType)
        fetch_logs = [with_element_type(decided[_SKIPPED], FetchLogRecord)]
        refs, video_refs, inline = [], [], []
        # Round max_depth + 1 fetches nothing: it only logs the last round's new links as skipped/max_depth.
        for depth in range(config.max_depth + 2):
            name = f"Round{depth}"
            if depth > 0:
                carry = self._seen.fresh_links(name, carry, fetch_logs)
            fetched = (
                carry
                | f"{name}/GroupByHost" >> beam.GroupByKey()
                | f"{name}/FetchPages"
                >> beam.ParDo(_FetchPagesFn(config, run_id, progress=self._progress))
                .with_output_types(FetchLogRecord)
                .with_outputs(_REFS, _VIDEO_REFS, BODIES, _CARRY, main="fetch_log")
            )
            # Seeds and links that were images, and inline data: images: hashed in the round's stage.
            hashed = with_element_type(fetched[BODIES], FetchedImage) | f"{name}/HashImages" >> HashImages(
                run_id,
                self._handler,
                _METRICS_PAGES,
                records_counter="inline_images",
                progress=self._progress,
            )
            fetch_logs += [with_element_type(fetched.fetch_log, FetchLogRecord), hashed.fetch_log]
            refs.append(with_element_type(fetched[_REFS], ImageRef))
            video_refs.append(with_element_type(fetched[_VIDEO_REFS], ImageRef))
            inline.append(hashed.images)
            carry = with_element_type(fetched[_CARRY], _CarryType)

        return CrawlResult(
            fetch_log=tuple(fetch_logs) | "FetchLog" >> beam.Flatten(),
            image_refs=tuple(refs) | "ImageRefs" >> beam.Flatten(),
            video_refs=tuple(video_refs) | "VideoRefs" >> beam.Flatten(),
            inline_images=tuple(inline) | "InlineImages" >> beam.Flatten(),
        )


class ImageTasksFromRefs(beam.PTransform):
    """Image references -> one :class:`ImageTask` per distinct image URL (all its pages, its smallest depth).

    Example: ``tasks = crawl.image_refs | "ImageTasks" >> ImageTasksFromRefs()``.
    """

    def expand(self, refs: PCollection[ImageRef]) -> PCollection[ImageTask]:
        return (
            refs
            | "KeyByImageUrl" >> beam.Map(lambda r: (r.image_url, r))
            | "GroupByImageUrl" >> beam.GroupByKey()
            | "ToTask" >> beam.MapTuple(_image_task).with_output_types(ImageTask)
        )


class FetchImages(beam.PTransform):
    """Fetch each distinct image once (step ``Fetch``) and hand its bytes to ``image_handler`` in the step
    fused right after it (``HashImages``, :mod:`transforms.hash_fetched`).

    In: ``PCollection[ImageTask]``, already one per distinct URL (see :class:`ImageTasksFromRefs`).
    Out: :class:`FetchImagesResult` (one fetch_log row per task; the handler's records). Tasks are grouped by
    host, or, when no politeness delay can apply, by ``per_host_concurrency`` shards of each host
    (:func:`image_shards`), so that several workers can share one host's images. Example::

        result = tasks | "FetchImages" >> FetchImages(config, run_id, handler)
        result.images | "WriteImages" >> ...
    """

    def __init__(
        self,
        config: CrawlConfig,
        run_id: str,
        image_handler: ImageBodyHandler,
        progress: ProgressConfig | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id
        self._handler = image_handler
        self._progress = progress

    # No return hint: Beam warns about any output hint but a PCollection's, and this returns a NamedTuple.
    def expand(self, tasks: PCollection[ImageTask]):
        shards = image_shards(self._config)
        fetch_fn = _FetchImagesFn(
            self._config,
            self._run_id,
            key_concurrency=1 if shards > 1 else None,
            progress=self._progress,
        )
        fetched = (
            tasks
            | "KeyByHost" >> beam.Map(lambda t: (_image_key(t.image_url, shards), t))
            | "GroupByHost" >> beam.GroupByKey()
            | "Fetch"
            >> beam.ParDo(fetch_fn)
            .with_output_types(FetchLogRecord)
            .with_outputs(BODIES, _VIDEO_REFS, main="fetch_log")
        )
        hashed = with_element_type(fetched[BODIES], FetchedImage) | "HashImages" >> HashImages(
            self._run_id, self._handler, _METRICS_IMAGES, progress=self._progress
        )
        fetch_log = (
            with_element_type(fetched.fetch_log, FetchLogRecord),
            hashed.fetch_log,
        ) | "FetchLog" >> beam.Flatten()
        return FetchImagesResult(
            fetch_log=fetch_log,
            images=hashed.images,
            video_refs=with_element_type(fetched[_VIDEO_REFS], ImageRef),
        )
