"""robots.txt: fetched once per host (per process), parsed with protego, obeyed unless ``--ignore-robots``.

Rules (RFC 9309): a 2xx robots.txt is parsed (the first ``max_robots_bytes`` of it); a 4xx means no rules
(allow all, recorded as ``unavailable``); a 5xx means the host cannot say, which the RFC treats as disallow
all; a network failure (dns, connect, timeout, blocked address) is that host's failure and is reported as the
page's own error without a request for the page. Its message names the cause: the fetch's own message where
the cause belongs to the host itself (a refused address, no DNS answer, a refused connection or TLS failure,
without a redirect), else "robots.txt could not be fetched: <cause>; the URL was not requested". ``Crawl-delay`` for our agent raises the host's delay, capped
at ``max_crawl_delay``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from protego import Protego

from schemas.outcomes import ROBOTS_ALLOWED, ROBOTS_DISALLOWED, ROBOTS_IGNORED, ROBOTS_UNAVAILABLE

_MAX_HOSTS = 20_000  # an LRU bound on cached hosts per process
_MAX_AGE_S = 24 * 3600  # RFC 9309: a cached robots.txt should not be used for more than 24 hours


@dataclass(frozen=True)
class RobotsRules:
    """What a host's robots.txt said, in a form that answers questions without the network."""

    state: str  # parsed | allow_all | disallow_all | unreachable
    parser: Protego | None = None
    status: int | None = None
    error_kind: str | None = None  # for unreachable: the fetch's error kind
    error_message: str | None = None
    redirected: bool = False  # for unreachable: the failure was at a redirect target, not the host itself

    def crawl_delay(self, agent: str) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(agent)
        return float(delay) if delay is not None else None


@dataclass(frozen=True)
class RobotsVerdict:
    """The robots decision for one URL: ``decision`` is a schemas.outcomes ROBOTS_* value."""

    allowed: bool
    decision: str
    error_kind: str | None = None  # set when the URL must not be fetched
    error_message: str | None = None
    outcome: str = "ok"  # skipped (disallowed) or failed (robots.txt unreachable)


class RobotsCache:
    """Per-host robots.txt rules, fetched through the caller's fetch function. Thread-safe, single-flight:
    concurrent questions about one host wait for one fetch."""

    def __init__(self, max_hosts: int = _MAX_HOSTS, max_age_s: float = _MAX_AGE_S) -> None:
        self._lock = threading.Lock()
        self._rules: OrderedDict[str, tuple[float, RobotsRules]] = OrderedDict()
        self._max_age_s = max_age_s
        self._inflight: dict[str, threading.Event] = {}
        self._max_hosts = max_hosts

    def rules(self, host_key: str, fetch_rules) -> RobotsRules:
        """The rules of ``host_key`` (``scheme://host:port``); ``fetch_rules(host_key) -> RobotsRules`` on a
        miss."""
        while True:
            with self._lock:
                cached = self._rules.get(host_key)
                if cached is not None and time.monotonic() - cached[0] <= self._max_age_s:
                    self._rules.move_to_end(host_key)
                    return cached[1]
                event = self._inflight.get(host_key)
                if event is None:
                    event = self._inflight[host_key] = threading.Event()
                    owner = True
                else:
                    owner = False
            if not owner:
                event.wait()
                continue
            try:
                rules = fetch_rules(host_key)
            except (
                Exception
            ):  # never let a robots bug stop the crawl: treat as no rules, recorded as unavailable
                rules = RobotsRules(state="allow_all")
            with self._lock:
                self._rules[host_key] = (time.monotonic(), rules)
                self._rules.move_to_end(host_key)
                while len(self._rules) > self._max_hosts:
                    self._rules.popitem(last=False)
                del self._inflight[host_key]
            event.set()
            return rules


_PROCESS_CACHE = RobotsCache()


def process_robots_cache() -> RobotsCache:
    """The robots cache shared by everything in this process (all DoFn instances, all rounds)."""
    return _PROCESS_CACHE


# Failures that belong to the host (and port) itself: the URL, on the same host, would fail the same way.
_HOST_FAILURES = frozenset({"blocked_address", "dns", "connect", "tls"})


def rules_from_fetch(
    status: int | None,
    body: bytes | None,
    error_kind: str | None,
    message: str | None,
    *,
    redirected: bool = False,
) -> RobotsRules:
    """Turn the result of fetching ``/robots.txt`` into rules (see the module docstring for the RFC 9309
    rules)."""
    if error_kind is None and status is not None and 200 <= status < 300:
        text = (body or b"").decode("utf-8", errors="replace")
        return RobotsRules(state="parsed", parser=Protego.parse(text), status=status)
    if error_kind == "bad_status" and status is not None and 400 <= status < 500:
        return RobotsRules(state="allow_all", status=status)
    if error_kind == "bad_status" and status is not None and status >= 500:
        return RobotsRules(state="disallow_all", status=status)
    if error_kind in (
        "too_large",
        "not_html",
        "redirect_loop",
        "too_many_redirects",
        "content_encoding",
        "denied_host",  # redirected to a --deny-host: a redirect we will not follow (RFC 9309 2.3.1.2)
    ):
        # Unusable but answered: like a 4xx, no rules.
        return RobotsRules(state="allow_all", status=status)
    return RobotsRules(
        state="unreachable",
        status=status,
        error_kind=error_kind,
        error_message=message,
        redirected=redirected,
    )


def verdict(rules: RobotsRules, url: str, agent: str, ignore_robots: bool) -> RobotsVerdict:
    """May ``url`` be fetched under ``rules``?"""
    if ignore_robots:
        return RobotsVerdict(True, ROBOTS_IGNORED)
    if rules.state == "allow_all":
        return RobotsVerdict(True, ROBOTS_UNAVAILABLE)
    if rules.state == "disallow_all":
        return RobotsVerdict(
            False,
            ROBOTS_DISALLOWED,
            "robots_disallowed",
            f"robots.txt answered HTTP {rules.status}; RFC 9309 treats a server error as disallow-all",
            outcome="skipped",
        )
    if rules.state == "unreachable":
        cause = rules.error_message or rules.error_kind or "unknown failure"
        if rules.error_kind not in _HOST_FAILURES or rules.redirected:
            cause = f"robots.txt could not be fetched: {cause}; the URL was not requested"
        return RobotsVerdict(
            False, ROBOTS_UNAVAILABLE, rules.error_kind or "connect", cause, outcome="failed"
        )
    if rules.parser is None or rules.parser.can_fetch(url, agent):
        return RobotsVerdict(True, ROBOTS_ALLOWED)
    return RobotsVerdict(
        False,
        ROBOTS_DISALLOWED,
        "robots_disallowed",
        f"disallowed by robots.txt for agent {agent}",
        outcome="skipped",
    )
