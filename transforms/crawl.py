"""Beam transforms of the crawl: rounds of page fetching from seeds, and fetching the distinct images found.

Thin adapters over :mod:`hashwatch.crawling`. Public transforms:

* :class:`CrawlRounds`: seed URLs -> :class:`CrawlResult` (fetch_log rows for every page URL attempted or
  skipped, image references, and records of images that arrived inline or as a seed/link). With
  ``fetch_images=True`` (what ``crawl_match`` uses) the rounds also fetch and hash each distinct image as
  soon as a page shows it (issue 24): its fetch_log row, its record, and late refs for pages read after it.
* :class:`ImageTasksFromRefs`: image references -> one :class:`ImageTask` per distinct image URL.
* :class:`FetchImages`: image tasks -> :class:`FetchImagesResult` (fetch_log rows and image records): the
  two-stage form, images after the last round.

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
emits the host's new state and its pages' links for the next round. Round ``max_depth + 1`` fetches no page:
it logs the last round's new links as ``skipped``/``max_depth``. With ``fetch_images`` the host's state also
holds every image URL of the host decided so far; an image of a host handled in the same bundle is decided
and queued at once (in the host's ``images`` lane: pages and images share its slots), one of another host is
carried to that host's next round, and with no delay possible the decided images go to image shards
(:func:`round_image_shards`) fetched in the next round (one more round fetches the last ones). Each round costs a few hundredths of a
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
from transforms.fetch_images import (
    _VIDEO_REFS,
    FetchImages,
    FetchImagesResult,
    ImageTasksFromRefs,
    _count_image,
    _emit_image,
    _image_key,
    _image_outcome,
    _image_rows,
    image_shards,
    round_image_shards,
)
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
_CARRY = "carry"
_SKIPPED = "skipped"


class CrawlResult(NamedTuple):
    fetch_log: PCollection  # [FetchLogRecord] one row per page URL attempted or skipped, seeds included
    image_refs: PCollection  # [ImageRef] every (page, http(s) image URL) pair found, all rounds
    video_refs: PCollection  # [VideoRef] every (page, video URL) pair, and seeds/links that were videos
    inline_images: (
        PCollection  # [ImageRecord] data: images (page_urls=[page]) and seeds/links that were images
    )
    # With fetch_images (else None): the images the rounds fetched (page_urls: the pages that showed the image
    # by the time it was decided) and the later refs to them (ImageRef: MergeImageRecords adds their pages).
    images: PCollection | None = None  # [ImageRecord]
    late_image_refs: PCollection | None = None  # [ImageRef]


class _HostState(NamedTuple):
    """What one host's round hands to the next: every page URL of the host decided so far, pages fetched,
    and (when the rounds fetch images) every image URL of the host decided so far."""

    seen: tuple[str, ...]
    pages_fetched: int
    images_seen: tuple[str, ...] = ()


# Tags of the values carried from one round to the next, all keyed by host. The values are pickled: they
# never leave the job, and a str key keeps the GroupByKey's key coder deterministic.
_CarryType = tuple[str, Any]
_CARRY_TASK = "task"  # a seed CrawlTask (round 0 only)
_CARRY_LINK = "link"  # a DiscoveredLink found on this round's pages
_CARRY_STATE = "state"  # the host's _HostState
_CARRY_IMAGE = "image"  # an ImageRef to this host found on another host's page (rounds that fetch images)
_CARRY_IMAGE_TASK = "image_task"  # an ImageTask decided by its host, for one of the host's image shards

_IMAGE_BODIES = "image_bodies"  # bodies of image tasks fetched in a round: its HashFetchedImages step
_LATE_REFS = "late_image_refs"  # refs to an image already decided: its images/ row gets their pages
_IMAGE_LANE = "images"  # a host's image tasks take turns with its pages under the host's slots


class _RoundConcurrency:
    """Requests in flight per key in a round: 1 for an image shard (``host#k/S``), ``pages`` for a host."""

    def __init__(self, pages: int) -> None:
        self._pages = pages

    def __call__(self, key: str) -> int:
        return 1 if "#" in key else self._pages


class _LiveHost:
    """A host (key, window) handled in the current bundle: the images decided for it so far and where to
    emit. Its state goes to the next round at the end of the bundle, once every page of it has been read."""

    def __init__(self, state: _HostState, images_seen: set[str], timestamp, window) -> None:
        self.state = state
        self.images_seen = images_seen
        self.timestamp = timestamp
        self.window = window
        self.arrived = False


class _FetchPagesFn(PoliteFetchFn):
    """One round for one host: decide its newly found links, fetch its pages, hand its state on.

    In: (host, [(tag, value)]) with seed tasks (round 0), links found on the previous round's pages that point
    to this host, and the host's state. Links to URLs already seen are dropped; each new URL is decided once
    (a task, or a skipped row); the tasks within ``--max-pages-per-host`` are fetched. The host's new state,
    and the links its pages contain (keyed by their own hosts), go to the next round through the ``carry``
    output: one collection, one GroupByKey per round.

    With ``fetch_images`` the round fetches images too, as soon as a page shows them: an image of a host
    handled in this bundle is decided at once against that host's images seen (a new URL becomes an image
    task in the host's ``images`` lane, sharing its slots with the pages; a URL already decided becomes a
    late ref, whose page joins the image's row in ``MergeImageRecords``); an image of another host is
    carried to that host's next round (tag ``image``). Every image URL of a host is decided by the one call
    that handles the host in a round, so each is fetched once, whatever worker runs it.
    """

    def __init__(
        self,
        config: CrawlConfig,
        run_id: str,
        progress: ProgressConfig | None = None,
        fetch_images: bool = False,
    ) -> None:
        self._shards = round_image_shards(config) if fetch_images else 0
        concurrency = _RoundConcurrency(config.host_concurrency - self._shards) if self._shards else None
        super().__init__(config, run_id, concurrency, progress)
        self._fetch_images = fetch_images
        self._live: dict[tuple[str, Any], _LiveHost] = {}

    def start_bundle(self) -> None:
        self._live = {}

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        host, values = element
        tasks: list[CrawlTask] = []
        candidates: dict[str, list[DiscoveredLink]] = {}
        image_refs: dict[str, list[ImageRef]] = {}
        seen: set[str] = set()
        images_seen: set[str] = set()
        shard_tasks: list[ImageTask] = []
        prior = 0
        for tag, value in values:
            if tag == _CARRY_TASK:
                tasks.append(value)
                seen.add(value.url)
            elif tag == _CARRY_LINK:
                candidates.setdefault(value.url, []).append(value)
            elif tag == _CARRY_IMAGE:
                image_refs.setdefault(value.image_url, []).append(value)
            elif tag == _CARRY_IMAGE_TASK:  # an image shard's key: tasks decided by their host, fetched here
                shard_tasks.append(value)
            else:
                seen.update(value.seen)
                images_seen.update(value.images_seen)
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
        live = None
        if shard_tasks or "#" in host:  # an image shard: no state, nothing decided here
            self._arrive(host)
            for task in shard_tasks:
                self._submit(host, task, timestamp, window, _IMAGE_LANE)
        elif (
            self._fetch_images
        ):  # the state goes on at the end of the bundle, with the images decided by then
            live = self._live[(host, window)] = _LiveHost(state, images_seen, timestamp, window)
        else:
            yield TaggedOutput(_CARRY, (host, (_CARRY_STATE, state)))
        if keep:
            self._arrive(host)
            if live is not None:
                live.arrived = True
        for task in keep:
            self._submit(host, task, timestamp, window)
        for url in sorted(image_refs):  # images shown by other hosts' pages last round
            yield from self._decide_image(host, window, image_refs[url])
        yield from self._drain()
        self._counters.publish()

    def _decide_image(self, key: str, window, refs: list[ImageRef]):
        """Decide one image URL of a host of this bundle: a task in the host's images lane if new, else late
        refs (their pages join the image's row)."""
        live = self._live[(key, window)]
        url = refs[0].image_url
        if url in live.images_seen:
            for ref in refs:
                yield wv(ref, live.timestamp, window, _LATE_REFS)
            return
        live.images_seen.add(url)
        task = image_task_for(url, refs)
        if self._shards:  # fetched next round by one of the host's image shards, on any worker
            shard = _image_key(url, self._shards)
            yield wv((shard, (_CARRY_IMAGE_TASK, task)), live.timestamp, window, _CARRY)
            return
        if not live.arrived:
            self._arrive(key)
            live.arrived = True
        self._submit(key, task, live.timestamp, window, _IMAGE_LANE)

    def finish_bundle(self):
        yield from super().finish_bundle()
        for (host, window), live in sorted(self._live.items(), key=lambda item: item[0][0]):
            state = live.state._replace(images_seen=tuple(sorted(live.images_seen)))
            yield wv((host, (_CARRY_STATE, state)), live.timestamp, window, _CARRY)
        self._live = {}

    def _bodies_tag(self, task) -> str:
        return _IMAGE_BODIES if isinstance(task, ImageTask) else BODIES

    def _work(self, item, pacer):
        task = item[0]
        if isinstance(task, ImageTask):
            return self._worker.fetch_image(task, pacer)
        return self._worker.crawl_page(task, pacer)

    def _outcome(self, task, result):
        if isinstance(task, ImageTask):
            return _image_outcome(self._worker, task, result)
        if isinstance(result, BaseException):  # crawl_page never raises; kept as a safety net
            row = self._worker.internal_row(task.url, KIND_PAGE, task.depth, task.parent_url, result)
            return PageOutcome(fetch_log=[row])
        return result

    def _rows(self, outcome) -> list[FetchLogRecord]:
        if isinstance(outcome, ImageOutcome):
            return _image_rows(outcome)
        return outcome.fetch_log

    def _count(self, outcome, handed: Handed) -> None:
        counters = self._counters
        if isinstance(outcome, ImageOutcome):
            _count_image(counters, outcome, handed)
            return
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

    def _emit(self, task, outcome, handed: Handed, timestamp, window):
        if isinstance(outcome, ImageOutcome):
            yield from _emit_image(outcome, handed, timestamp, window)
            return
        for row in handed.rows:
            yield wv(row, timestamp, window)
        for ref in outcome.image_refs:
            yield wv(ref, timestamp, window, _REFS)
            if self._fetch_images:
                key = host_key(ref.image_url)
                if (key, window) in self._live:
                    yield from self._decide_image(key, window, [ref])
                else:
                    yield wv((key, (_CARRY_IMAGE, ref)), timestamp, window, _CARRY)
        for ref in outcome.video_refs:
            yield wv(ref, timestamp, window, _VIDEO_REFS)
        for link in outcome.links:
            yield wv((host_key(link.url), (_CARRY_LINK, link)), timestamp, window, _CARRY)


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
        fetch_images: bool = False,
    ) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id
        self._handler = image_handler
        self._progress = progress
        self._seen = seen if seen is not None else SeenInRun()
        self._fetch_images = fetch_images

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
        refs, video_refs, inline, images, late = [], [], [], [], []
        outputs = (_REFS, _VIDEO_REFS, BODIES, _CARRY) + (
            (_IMAGE_BODIES, _LATE_REFS) if self._fetch_images else ()
        )
        # Round max_depth + 1 fetches no page: it logs the last round's new links as skipped/max_depth (and
        # fetches the images they showed on other hosts). With image shards, images decided in a round are
        # fetched in the next one: one more round fetches those decided in round max_depth + 1.
        rounds = config.max_depth + 2 + (1 if self._fetch_images and round_image_shards(config) else 0)
        for depth in range(rounds):
            name = f"Round{depth}"
            if depth > 0:
                carry = self._seen.fresh_links(name, carry, fetch_logs)
            fetched = (
                carry
                | f"{name}/GroupByHost" >> beam.GroupByKey()
                | f"{name}/FetchPages"
                >> beam.ParDo(_FetchPagesFn(config, run_id, self._progress, self._fetch_images))
                .with_output_types(FetchLogRecord)
                .with_outputs(*outputs, main="fetch_log")
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
            if self._fetch_images:  # the images the round's pages showed, hashed in the same stage
                fetched_images = with_element_type(
                    fetched[_IMAGE_BODIES], FetchedImage
                ) | f"{name}/HashFetchedImages" >> HashImages(
                    run_id, self._handler, _METRICS_IMAGES, progress=self._progress
                )
                fetch_logs.append(fetched_images.fetch_log)
                images.append(fetched_images.images)
                late.append(with_element_type(fetched[_LATE_REFS], ImageRef))
            carry = with_element_type(fetched[_CARRY], _CarryType)

        return CrawlResult(
            fetch_log=tuple(fetch_logs) | "FetchLog" >> beam.Flatten(),
            image_refs=tuple(refs) | "ImageRefs" >> beam.Flatten(),
            video_refs=tuple(video_refs) | "VideoRefs" >> beam.Flatten(),
            inline_images=tuple(inline) | "InlineImages" >> beam.Flatten(),
            images=tuple(images) | "Images" >> beam.Flatten() if images else None,
            late_image_refs=tuple(late) | "LateImageRefs" >> beam.Flatten() if late else None,
        )
