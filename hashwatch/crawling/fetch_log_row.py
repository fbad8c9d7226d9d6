"""The one place a ``fetch_log`` row is built.

Every URL the crawl meets ends as exactly one row, whichever path decided it: fetched (pages and images), refused
before any request (denied host, deny pattern, blocked address, robots.txt), skipped by the frontier (scope,
depth, caps), an inline ``data:`` image read from its page, or a hashwatch bug. Each path names the URL once as
a :class:`LoggedUrl` and says only what differs::

    url = LoggedUrl("run-1", "https://example.org/a.png", KIND_IMAGE, 1, "https://example.org/")
    url.row(result=fetch_result, robots="allowed", fetched_at=started)  # outcome and error from the fetch
    url.row(OUTCOME_SKIPPED, "denied_pattern", "matches deny pattern '*.gif'")  # refused: no request made
    url.internal(exc)  # a bug: one row, never a crashed bundle
"""

from __future__ import annotations

import time
from typing import NamedTuple

from hashwatch.crawling.fetcher import FetchResult, one_line
from schemas.fetch_log import FetchLogRecord
from schemas.outcomes import OUTCOME_FAILED, OUTCOME_OK, ROBOTS_NOT_APPLICABLE


def now_us() -> int:
    """Epoch microseconds (UTC): a row's ``fetched_at``."""
    return int(time.time() * 1_000_000)


class LoggedUrl(NamedTuple):
    """What every row about one URL shares: the run, the URL, page or image, its depth and the page that led
    to it (None for seeds)."""

    run_id: str
    url: str
    kind: str  # schemas.outcomes.FETCH_KINDS
    depth: int
    parent_url: str | None

    def row(
        self,
        outcome: str | None = None,
        error_kind: str | None = None,
        message: str | None = None,
        *,
        result: FetchResult | None = None,
        robots: str = ROBOTS_NOT_APPLICABLE,
        fetched_at: int | None = None,
    ) -> FetchLogRecord:
        """This URL's row. The response facts (status, redirects, content types, length, attempts, time) come
        from ``result``, empty when no request was made. The outcome, error kind and message are those given,
        else the fetch's own. ``message`` is folded to one short line; ``fetched_at`` defaults to now."""
        result = result or FetchResult(self.url)  # nothing requested: no status, no bytes, no attempts
        if outcome is None and error_kind is None:
            outcome, error_kind, message = result.outcome, result.error_kind, result.error_message
        return FetchLogRecord(
            run_id=self.run_id,
            url=self.url,
            kind=self.kind,
            depth=self.depth,
            parent_url=self.parent_url,
            outcome=outcome or OUTCOME_OK,
            error_kind=error_kind,
            error_message=one_line(message) if message else None,
            http_status=result.status,
            final_url=result.final_url,
            redirect_count=result.redirect_count,
            robots=robots,
            content_type=result.content_type,
            declared_content_type=result.declared_content_type,
            bytes_length=result.bytes_length,
            # Requests to the final hop: every request made, less one per redirect followed.
            attempts=result.requests_made - result.redirect_count,
            fetched_at=now_us() if fetched_at is None else fetched_at,
            elapsed_ms=result.elapsed_s * 1000,
        )

    def internal(self, exc: BaseException) -> FetchLogRecord:
        """The row of a URL whose crawl raised: a hashwatch bug. The exception's text may quote content: only
        its type is kept."""
        return self.row(
            OUTCOME_FAILED, "internal", f"unexpected {type(exc).__name__} while crawling (a hashwatch bug)"
        )
