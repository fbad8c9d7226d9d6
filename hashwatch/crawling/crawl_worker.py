"""What one worker does with one task: fetch a page (robots, fetch, sniff, extract) or fetch an image and hand
its bytes to the image handler. Every call returns records and never raises; bytes never leave.

Used by the Beam DoFns (``transforms/crawl.py``) and the test driver (``benchmarks/crawl_driver.py``). Run tasks
through :class:`hashwatch.crawling.politeness.HostScheduler` so each gets a :class:`Pacer`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from hashwatch.crawling import address_guard, robots
from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.data_uri import DataUriImage
from hashwatch.crawling.fetch_log_row import LoggedUrl, now_us
from hashwatch.crawling.fetcher import Fetcher, FetchResult, one_line
from hashwatch.crawling.frontier import page_links
from hashwatch.crawling.html_extract import extract_page
from hashwatch.crawling.image_handler import FetchedBody, HandledImage, ImageBodyHandler
from hashwatch.crawling.politeness import HostSlots, Pacer, process_host_slots
from hashwatch.crawling.sniff import is_html, is_image_type, is_video_type, sniff_content_type
from hashwatch.crawling.url_rules import (
    denied_by,
    denied_host,
    denied_host_message,
    host_key,
    hostname,
    image_denied_by,
    in_scope,
)
from schemas.crawl import CrawlTask, DiscoveredLink, ImageRef, ImageTask
from schemas.fetch_log import FetchLogRecord
from schemas.images import ImageRecord
from schemas.outcomes import (
    KIND_IMAGE,
    KIND_PAGE,
    KIND_VIDEO,
    OUTCOME_FAILED,
    OUTCOME_OK,
    OUTCOME_SKIPPED,
    ROBOTS_NOT_APPLICABLE,
)

_SHARED_FETCHERS: dict[CrawlConfig, Fetcher] = {}
_SHARED_LOCK = threading.Lock()
_LOGGER = logging.getLogger("hashwatch.crawl")

# Logged once per worker process, at the first seed the address guard refuses: a local or intranet site
# crawled without the flag otherwise ends with every seed blocked and nothing else said.
BLOCKED_SEED_HINT = (
    "seed %s was refused by the address guard (%s). To crawl a local or intranet site, add "
    "--allow-private-networks (opens loopback and private ranges) or --allow-network CIDR (opens one network)."
)


class _Once:
    """True for the first caller only (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False

    def first(self) -> bool:
        with self._lock:
            done, self._done = self._done, True
            return not done


_BLOCKED_SEED_HINT = _Once()


def shared_fetcher(config: CrawlConfig) -> Fetcher:
    """One fetcher (one connection pool) per config per process, for workers that come and go: Beam DoFn
    instances of successive rounds reuse its keep-alive connections. Never closed: it lives as long as the
    process."""
    with _SHARED_LOCK:
        fetcher = _SHARED_FETCHERS.get(config)
        if fetcher is None:
            fetcher = _SHARED_FETCHERS[config] = Fetcher(config)
        return fetcher


@dataclass
class PageOutcome:
    """Everything a page fetch produced. ``fetch_log`` has the page's row first, then one per inline image."""

    fetch_log: list[FetchLogRecord] = field(default_factory=list)
    image_refs: list[ImageRef] = field(default_factory=list)
    # Video references (VideoRef: the ImageRef fields), and a seed or link that sniffed as a video (then with no
    # fetch_log row here: the video stage fetches it again, with its own cap, and writes its one row).
    video_refs: list[ImageRef] = field(default_factory=list)
    links: list[DiscoveredLink] = field(default_factory=list)
    inline_images: list[ImageRecord] = field(default_factory=list)
    dropped_references: int = 0  # unusable or overlong references on the page (counted only)
    elapsed_s: float = 0.0
    bytes_length: int = 0


@dataclass
class ImageOutcome:
    """An image (or video) task's result. ``fetch_log`` is None only when an image URL sniffed as a video:
    then ``video_ref`` hands it to the video stage, which fetches it again and writes its one row."""

    fetch_log: FetchLogRecord | None
    image: ImageRecord | None
    elapsed_s: float = 0.0
    bytes_length: int = 0
    video_ref: ImageRef | None = None


@dataclass
class _RobotsState:
    decision: str = ROBOTS_NOT_APPLICABLE


class _Fetched(NamedTuple):
    """A gated fetch of one URL (a refusal is a result that made no request), and its fetch_log row."""

    logged: LoggedUrl
    result: FetchResult
    robots: str
    fetched_at: int

    def row(
        self, outcome: str | None = None, error_kind: str | None = None, message: str | None = None
    ) -> FetchLogRecord:
        """The row: the fetch's own outcome, or the one given (e.g. ``not_html`` for a fetch that went well)."""
        return self.logged.row(
            outcome, error_kind, message, result=self.result, robots=self.robots, fetched_at=self.fetched_at
        )


class CrawlWorker:
    """Fetches pages and images for one run. Thread-safe; build once per DoFn instance (in ``setup``).

    ``slots`` and ``robots_cache`` default to the process-wide ones, so politeness and robots answers are
    shared
    by every worker of the process.
    """

    def __init__(
        self,
        config: CrawlConfig,
        run_id: str,
        image_handler: ImageBodyHandler,
        *,
        slots: HostSlots | None = None,
        robots_cache: robots.RobotsCache | None = None,
        fetcher: Fetcher | None = None,
        video_digests: Callable[[], object] | None = None,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.handler = image_handler
        self.slots = slots or process_host_slots()
        self.robots_cache = robots_cache or robots.process_robots_cache()
        self._owns_fetcher = fetcher is None
        self.fetcher = fetcher or Fetcher(config)
        # Robots answers depend on who asks and through which guard: key the shared cache by that too.
        self._robots_key = (config.user_agent, config.allow_private_networks, config.allowed_networks)
        # Makes the digests a video's chunks are fed to as they arrive (an object with ``update(bytes)``,
        # hashwatch.video.digests.VideoDigests in a crawl); handed over with the body as FetchedBody.digests.
        self.video_digests = video_digests
        image_handler.setup()

    def close(self) -> None:
        if self._owns_fetcher:
            self.fetcher.close()

    # --- robots ------------------------------------------------------------------------------------------

    def robots_verdict(self, url: str, pace: Callable[[str], None]) -> robots.RobotsVerdict:
        config = self.config
        if config.ignore_robots:
            return robots.verdict(robots.RobotsRules(state="allow_all"), url, config.robots_agent, True)
        key = host_key(url)
        rules = self.robots_cache.rules(
            repr((self._robots_key, key)), lambda _: self._fetch_robots(key, pace)
        )
        return robots.verdict(rules, url, config.robots_agent, False)

    def _fetch_robots(self, key: str, pace: Callable[[str], None]) -> robots.RobotsRules:
        config = self.config

        def no_denied_host(
            target: str,
        ) -> tuple[str, str, str] | None:  # a robots.txt redirect is a request too
            entry = denied_host(target, config)
            return (
                None if entry is None else (OUTCOME_FAILED, "denied_host", denied_host_message(target, entry))
            )

        result = self.fetcher.fetch(
            f"{key}/robots.txt",
            max_bytes=config.max_robots_bytes,
            hop_check=no_denied_host,
            pace=pace,
            truncate=True,
        )
        rules = robots.rules_from_fetch(
            result.status,
            result.body,
            result.error_kind,
            result.error_message,
            redirected=result.redirect_count > 0,
        )
        crawl_delay = rules.crawl_delay(config.robots_agent)
        if crawl_delay is not None:
            delay = max(config.per_host_delay, min(crawl_delay, config.max_crawl_delay))
            self.slots.set_delay(key, delay)
        return rules

    def refusal_before_fetch(self, url: str, kind: str) -> tuple[str, str, str] | None:
        """(outcome, error kind, message) for a URL refused before any request, robots.txt included: a denied
        host, an image URL matching one of the operator's deny patterns, or a literal address the guard
        refuses (names are checked when they resolve, inside the fetcher). None to go on."""
        config = self.config
        entry = denied_host(url, config)
        if entry is not None:
            return OUTCOME_SKIPPED, "denied_host", denied_host_message(url, entry)
        if kind in (KIND_IMAGE, KIND_VIDEO):
            pattern = image_denied_by(url, config)
            if pattern is not None:
                return OUTCOME_SKIPPED, "denied_pattern", f"matches deny pattern {pattern!r}"
        try:
            address_guard.check_literal_host(hostname(url), self.fetcher.policy)
        except address_guard.BlockedAddressError as exc:
            return OUTCOME_FAILED, "blocked_address", str(exc)
        return None

    def _gate(
        self, url: str, kind: str, pace: Callable[[str], None]
    ) -> tuple[str, tuple[str, str, str] | None]:
        """The robots decision and, if ``url`` must not be fetched, (outcome, error kind, message): the checks
        that need no request first, then robots.txt."""
        refused = self.refusal_before_fetch(url, kind)
        if refused is not None:
            return ROBOTS_NOT_APPLICABLE, refused
        verdict = self.robots_verdict(url, pace)
        if not verdict.allowed:
            return verdict.decision, (verdict.outcome, verdict.error_kind, verdict.error_message)
        return verdict.decision, None

    def _hop_check(self, task_depth: int, seed_url: str, kind: str, state: _RobotsState):
        """Vets each redirect target: denied hosts, literal addresses and (for images) deny patterns for
        every hop; scope and deny patterns for page links (not seeds); robots for everything. The address
        guard checks resolved names inside the fetcher."""
        config = self.config

        def check(target: str, pace: Callable[[str], None]):
            refused = self.refusal_before_fetch(target, kind)
            if refused is not None:
                _, error_kind, message = refused
                return OUTCOME_FAILED, error_kind, message  # a hop was requested: failed, not skipped
            if kind == KIND_PAGE and task_depth > 0:
                if not in_scope(target, seed_url, config):
                    return (
                        OUTCOME_FAILED,
                        "out_of_scope",
                        f"host {hostname(target)} is outside --scope {config.scope}",
                    )
                pattern = denied_by(target, config)
                if pattern is not None:
                    return OUTCOME_FAILED, "denied_pattern", f"matches deny pattern {pattern!r}"
            verdict = self.robots_verdict(target, pace)
            state.decision = verdict.decision
            if not verdict.allowed:
                return verdict.outcome, verdict.error_kind, verdict.error_message
            return None

        return check

    def _fetch(
        self, logged: LoggedUrl, seed_url: str, max_bytes: int, pace: Pacer, on_chunk=None
    ) -> _Fetched:
        """Gate ``logged.url`` (refusals need no request), then fetch it, vetting every redirect hop."""
        fetched_at = now_us()
        state = _RobotsState()
        state.decision, refused = self._gate(logged.url, logged.kind, pace)
        if refused is not None:
            outcome, error_kind, message = refused
            result = FetchResult(logged.url, outcome=outcome, error_kind=error_kind, error_message=message)
            return _Fetched(logged, result, state.decision, fetched_at)
        hop_check = self._hop_check(logged.depth, seed_url, logged.kind, state)
        result = self.fetcher.fetch(
            logged.url,
            max_bytes=max_bytes,
            hop_check=lambda target: hop_check(target, pace),
            pace=pace,
            on_chunk=on_chunk,
        )
        return _Fetched(logged, result, state.decision, fetched_at)  # hops may have changed the decision

    # --- pages -------------------------------------------------------------------------------------------

    def crawl_page(self, task: CrawlTask, pace: Pacer) -> PageOutcome:
        started = time.monotonic()
        outcome = PageOutcome()
        try:
            self._crawl_page(task, pace, outcome)
        except Exception as exc:  # a bug: one row, never a crashed bundle
            outcome.fetch_log = [self.internal_row(task.url, KIND_PAGE, task.depth, task.parent_url, exc)]
            outcome.image_refs, outcome.video_refs, outcome.links, outcome.inline_images = [], [], [], []
        outcome.elapsed_s = time.monotonic() - started
        row = outcome.fetch_log[0] if outcome.fetch_log else None
        if (
            task.depth == 0
            and row is not None
            and row.error_kind == "blocked_address"
            and _BLOCKED_SEED_HINT.first()
        ):
            _LOGGER.warning(BLOCKED_SEED_HINT, task.url, row.error_message)
        return outcome

    def _crawl_page(self, task: CrawlTask, pace: Pacer, out: PageOutcome) -> None:
        config = self.config
        fetched = self._fetch(
            LoggedUrl(self.run_id, task.url, KIND_PAGE, task.depth, task.parent_url),
            task.seed_url,
            max(config.max_page_bytes, config.max_image_bytes),
            pace,
        )
        result, row = fetched.result, fetched.row
        if not result.ok:
            out.fetch_log.append(row())
            return
        body = result.body or b""
        out.bytes_length = len(body)
        if is_video_type(result.content_type):
            # A seed or link that is a video: the video stage fetches it (its cap, streamed digests) and
            # writes its row; this body is dropped.
            result.body = None
            out.video_refs = [ImageRef(task.url, task.parent_url or "", task.depth, task.seed_url)]
            return
        if is_image_type(result.content_type):
            # A seed or link that is an image: hashed here, as the bytes must not leave this worker.
            image_task = ImageTask(
                image_url=task.url,
                depth=task.depth,
                page_urls=[task.parent_url] if task.parent_url else [],
                seed_url=task.seed_url,
            )
            handled = self._handle(image_task, result)
            if handled.record is not None:
                out.inline_images.append(handled.record)
            out.fetch_log.append(row(_handled_outcome(handled), handled.error_kind, handled.error_message))
            return
        if not is_html(result.content_type, result.declared_content_type):
            kind = result.content_type or "empty"
            out.fetch_log.append(
                row(OUTCOME_FAILED, "not_html", f"body is {kind}, neither HTML nor an image")
            )
            return
        if len(body) > config.max_page_bytes:
            message = f"page body over the {config.max_page_bytes} byte cap (--max-page-bytes)"
            out.fetch_log.append(row(OUTCOME_FAILED, "too_large", message))
            return
        page_url = result.final_url or task.url
        extraction = extract_page(
            body,
            page_url,
            max_url_length=config.max_url_length,
            max_data_uri_bytes=config.max_data_uri_bytes,
            obey_meta_robots=not config.ignore_robots,
        )
        out.dropped_references = extraction.dropped
        out.fetch_log.append(row())
        # A seed that redirected (example.com -> www.example.com) is judged by where it landed.
        scope_seed = page_url if task.depth == 0 else task.seed_url
        out.image_refs = [ImageRef(url, task.url, task.depth, scope_seed) for url in extraction.image_urls]
        out.video_refs = [ImageRef(url, task.url, task.depth, scope_seed) for url in extraction.video_urls]
        out.links = page_links(
            extraction.links, extraction.skipped_links, task.url, task.depth, scope_seed, config
        )
        for data_image in extraction.data_images:
            image_row, record = self._inline_image(task, data_image, scope_seed)
            out.fetch_log.append(image_row)
            if record is not None:
                out.inline_images.append(record)

    def _inline_image(
        self, task: CrawlTask, image: DataUriImage, seed_url: str
    ) -> tuple[FetchLogRecord, ImageRecord | None]:
        """An inline data: image of the page: read from the page in memory, no request (no status, no
        attempts); its declared type is the URI's, its length the decoded one."""
        logged = LoggedUrl(self.run_id, image.uri_id, KIND_IMAGE, task.depth, task.url)
        fetched_at = now_us()
        started = time.monotonic()
        read = FetchResult(image.uri_id, declared_content_type=image.mime, bytes_length=image.decoded_length)
        if image.body is None:
            outcome = OUTCOME_SKIPPED if image.error_kind == "data_uri_too_large" else OUTCOME_FAILED
            return logged.row(
                outcome, image.error_kind, image.error_message, result=read, fetched_at=fetched_at
            ), None
        read.content_type = sniffed = sniff_content_type(image.body)
        if not is_image_type(sniffed):
            handled = HandledImage(None, "not_an_image", f"inline data: image bytes are {sniffed or 'empty'}")
        else:
            image_task = ImageTask(image.uri_id, task.depth, [task.url], seed_url)
            handled = self._call_handler(
                image_task, FetchedBody(image.body, None, None, sniffed, image.mime, 0)
            )
        read.elapsed_s = time.monotonic() - started
        row = logged.row(
            _handled_outcome(handled),
            handled.error_kind,
            handled.error_message,
            result=read,
            fetched_at=fetched_at,
        )
        return row, handled.record

    # --- images ------------------------------------------------------------------------------------------

    def fetch_image(self, task: ImageTask, pace: Pacer) -> ImageOutcome:
        return self._timed_fetch(task, pace, KIND_IMAGE, self._fetch_image)

    def _timed_fetch(self, task: ImageTask, pace: Pacer, kind: str, fetch) -> ImageOutcome:
        """``fetch(task, pace, parent)``, timed; an unexpected exception is the URL's ``internal`` row."""
        started = time.monotonic()
        parent = task.page_urls[0] if task.page_urls else None
        try:
            outcome = fetch(task, pace, parent)
        except Exception as exc:
            outcome = ImageOutcome(self.internal_row(task.image_url, kind, task.depth, parent, exc), None)
        outcome.elapsed_s = time.monotonic() - started
        return outcome

    def _fetch_image(self, task: ImageTask, pace: Pacer, parent: str | None) -> ImageOutcome:
        fetched = self._fetch(
            LoggedUrl(self.run_id, task.image_url, KIND_IMAGE, task.depth, parent),
            task.seed_url,
            self.config.max_image_bytes,
            pace,
        )
        result, row = fetched.result, fetched.row
        if not result.ok:
            return ImageOutcome(row(), None)
        if is_video_type(result.content_type):  # the video stage fetches it again, with its own cap
            result.body = None
            ref = ImageRef(task.image_url, parent or "", task.depth, task.seed_url)
            return ImageOutcome(None, None, bytes_length=result.bytes_length or 0, video_ref=ref)
        if not is_image_type(result.content_type):
            message = f"body is {result.content_type or 'empty'}, not an image"
            return ImageOutcome(
                row(OUTCOME_FAILED, "not_an_image", message), None, bytes_length=result.bytes_length or 0
            )
        handled = self._handle(task, result)
        outcome = row(_handled_outcome(handled), handled.error_kind, handled.error_message)
        return ImageOutcome(outcome, handled.record, bytes_length=result.bytes_length or 0)

    # --- videos ------------------------------------------------------------------------------------------

    def fetch_video(self, task: ImageTask, pace: Pacer) -> ImageOutcome:
        """Fetch one video (a VideoTask: ``image_url`` is the video's URL) streamed into memory up to
        ``--max-video-bytes``, feeding its digests as the bytes arrive, and hand the body over (with its
        digests) to the handler. A body that is an image is handed over too (hashed as an image); a page,
        text or a document fails ``not_a_video``; over the cap fails ``video_too_large``."""
        return self._timed_fetch(task, pace, KIND_VIDEO, self._fetch_video)

    def _fetch_video(self, task: ImageTask, pace: Pacer, parent: str | None) -> ImageOutcome:
        digests = self.video_digests() if self.video_digests is not None else None
        cap = self.config.max_video_bytes
        fetched = self._fetch(
            LoggedUrl(self.run_id, task.image_url, KIND_VIDEO, task.depth, parent),
            task.seed_url,
            cap,
            pace,
            on_chunk=digests.update if digests is not None else None,
        )
        result, row = fetched.result, fetched.row
        if result.error_kind == "too_large":
            message = f"video body over the {cap} byte cap (--max-video-bytes)"
            return ImageOutcome(row(OUTCOME_FAILED, "video_too_large", message), None)
        if not result.ok:
            return ImageOutcome(row(), None)
        sniffed = result.content_type
        size = result.bytes_length or 0
        if not (is_video_type(sniffed) or is_image_type(sniffed) or sniffed == "application/octet-stream"):
            # octet-stream goes to the decoder: FFmpeg reads containers the sniffer does not name
            message = f"body is {sniffed or 'empty'}, not a video"
            return ImageOutcome(row(OUTCOME_FAILED, "not_a_video", message), None, bytes_length=size)
        handled = self._handle(task, result, digests)
        outcome = row(_handled_outcome(handled), handled.error_kind, handled.error_message)
        return ImageOutcome(outcome, handled.record, bytes_length=size)

    # --- helpers -----------------------------------------------------------------------------------------

    def _handle(self, task: ImageTask, result: FetchResult, digests: object | None = None) -> HandledImage:
        fetched = FetchedBody(
            body=result.body or b"",
            final_url=result.final_url,
            http_status=result.status,
            content_type=result.content_type,
            declared_content_type=result.declared_content_type,
            redirect_count=result.redirect_count,
            digests=digests,
        )
        try:
            return self._call_handler(task, fetched)
        finally:
            result.body = None  # drop the bytes as soon as the handler is done

    def _call_handler(self, task: ImageTask, fetched: FetchedBody) -> HandledImage:
        try:
            handled = self.handler(task, fetched)
        except (
            Exception
        ) as exc:  # the handler's bug must not lose the row; its text may quote content: not kept
            return HandledImage(None, "internal", f"image handler raised {type(exc).__name__}")
        record = handled.record
        if record is not None:
            record = record._replace(run_id=self.run_id)
        message = one_line(handled.error_message) if handled.error_message else None
        return HandledImage(record, handled.error_kind, message)

    def internal_row(
        self, url: str, kind: str, depth: int, parent_url: str | None, exc: BaseException
    ) -> FetchLogRecord:
        """The row of a task whose crawl raised (a hashwatch bug)."""
        return LoggedUrl(self.run_id, url, kind, depth, parent_url).internal(exc)


def _handled_outcome(handled: HandledImage) -> str:
    """A handled image is ok unless the handler named an error (a record may still come with it)."""
    return OUTCOME_FAILED if handled.error_kind else OUTCOME_OK
