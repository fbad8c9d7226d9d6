"""The frontier: which seeds, discovered links and image references become fetch tasks, and which become
"skipped" rows.

Pure functions shared by the Beam transforms and the Beam-free test driver (``benchmarks/crawl_driver.py``), so
both crawl identically. Every URL ends as exactly one fetch_log row: either a task that the fetch stage logs, or
a skipped row made here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.fetch_log_row import LoggedUrl
from hashwatch.crawling.url_rules import UrlError, link_skip_reason, normalize_url
from schemas.crawl import CrawlTask, DiscoveredLink, ImageRef, ImageTask
from schemas.fetch_log import FetchLogRecord
from schemas.outcomes import KIND_PAGE, OUTCOME_SKIPPED

_LINK_CAP_MESSAGE = "page had more links than --max-links-per-page"


def skipped_row(  # noqa: PLR0917
    run_id: str,
    url: str,
    depth: int,
    parent_url: str | None,
    error_kind: str,
    message: str,
    kind: str = KIND_PAGE,
    outcome: str = OUTCOME_SKIPPED,
) -> FetchLogRecord:
    """A fetch_log row for a URL decided against before any request."""
    return LoggedUrl(run_id, url, kind, depth, parent_url).row(outcome, error_kind, message)


def seed_key(raw: str) -> tuple[str, CrawlTask | None, tuple[str, str] | None]:
    """(dedupe key, task, None) for a usable seed, or (raw seed, None, (error kind, message)) for a bad
    one."""
    text = raw.strip()
    try:
        url = normalize_url(text)
    except UrlError as exc:
        return text, None, (exc.kind, f"seed is not usable: {exc}")
    return url, CrawlTask(url=url, depth=0, parent_url=None, seed_url=url), None


def choose_candidate(candidates: Iterable[DiscoveredLink]) -> DiscoveredLink:
    """The one discovery of a URL that counts: fetchable ones first, then shallowest, then by parent URL.

    Deterministic whatever order Beam delivers the candidates in.
    """
    return min(candidates, key=lambda c: (c.skip_kind is not None, c.depth, c.parent_url, c.seed_url))


def decide_link(
    link: DiscoveredLink, config: CrawlConfig, run_id: str
) -> tuple[CrawlTask | None, FetchLogRecord | None]:
    """A chosen candidate becomes a task, or a skipped row saying why not."""
    if link.skip_kind is not None:
        message = (
            _LINK_CAP_MESSAGE if link.skip_kind == "links_per_page_cap" else "scheme is not http or https"
        )
        return None, skipped_row(run_id, link.url, link.depth, link.parent_url, link.skip_kind, message)
    reason = link_skip_reason(link.url, link.seed_url, link.depth, config)
    if reason is not None:
        kind, message = reason
        return None, skipped_row(run_id, link.url, link.depth, link.parent_url, kind, message)
    return CrawlTask(url=link.url, depth=link.depth, parent_url=link.parent_url, seed_url=link.seed_url), None


def apply_host_cap(
    tasks: Sequence[CrawlTask], already_fetched: int, config: CrawlConfig, run_id: str
) -> tuple[list[CrawlTask], list[FetchLogRecord]]:
    """Split one host's tasks of a round into those within ``--max-pages-per-host`` and skipped rows.

    Deterministic: shallowest first, then by URL.
    """
    ordered = sorted(tasks, key=lambda t: (t.depth, t.url))
    room = max(0, config.max_pages_per_host - already_fetched)
    keep, over = ordered[:room], ordered[room:]
    rows = [
        skipped_row(
            run_id,
            t.url,
            t.depth,
            t.parent_url,
            "host_page_cap",
            f"host reached --max-pages-per-host {config.max_pages_per_host}",
        )
        for t in over
    ]
    return keep, rows


def page_links(  # noqa: PLR0917
    links: Sequence[str],
    skipped: Sequence[tuple[str, str]],
    page_url: str,
    depth: int,
    seed_url: str,
    config: CrawlConfig,
) -> list[DiscoveredLink]:
    """The candidates a page contributes: the first ``max_links_per_page`` links, the rest marked capped."""
    out = []
    for index, url in enumerate(links):
        skip = "links_per_page_cap" if index >= config.max_links_per_page else None
        out.append(DiscoveredLink(url, depth + 1, page_url, seed_url, skip))
    out.extend(DiscoveredLink(url, depth + 1, page_url, seed_url, kind) for url, kind in skipped)
    return out


def image_tasks(refs: Iterable[ImageRef]) -> list[ImageTask]:
    """Group image references into one task per distinct image URL (all its pages, its smallest depth)."""
    by_url: dict[str, list[ImageRef]] = defaultdict(list)
    for ref in refs:
        by_url[ref.image_url].append(ref)
    return [image_task_for(url, group) for url, group in sorted(by_url.items())]


def image_task_for(url: str, refs: Iterable[ImageRef]) -> ImageTask:
    """The one task of an image URL found on several pages: all its pages, its shallowest depth and seed."""
    refs = list(refs)
    shallowest = min(refs, key=lambda r: (r.depth, r.page_url))
    return ImageTask(
        image_url=url,
        depth=shallowest.depth,
        page_urls=sorted({r.page_url for r in refs}),
        seed_url=shallowest.seed_url,
    )
