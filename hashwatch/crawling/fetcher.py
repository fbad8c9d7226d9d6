"""HTTP fetching that survives a hostile web: byte caps, a total deadline, manual redirects, polite retries.

One :class:`Fetcher` per worker holds a pooled ``requests`` session (thread-safe for our use: no cookies, no
proxies from the environment) whose connections pass the SSRF guard. ``fetch`` streams the body into memory up
to a cap (decompressing gzip/deflate/br incrementally, so a gzip bomb stops at the cap), cuts off a response
that exceeds the total deadline however slowly it trickles (a watchdog shuts the socket), follows redirects by
hand so every hop is re-checked, and retries 429/5xx with backoff that honours Retry-After. It never raises
for anything the network or a server does: every failure becomes ``FetchResult.error_kind`` plus a one-line
message built from our own words (never from response content).
"""

from __future__ import annotations

import contextlib
import email.utils
import heapq
import http.cookiejar
import itertools
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException

import requests
import urllib3.exceptions

from hashwatch.crawling import address_guard
from hashwatch.crawling.address_guard import AddressPolicy, BlockedAddressError
from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.sniff import sniff_content_type
from hashwatch.crawling.url_rules import UrlError, host_key, hostname, normalize_url

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_MAX_MESSAGE = 300

# A hop check returns None to go on, or (outcome, error_kind, message) to stop before requesting the hop.
HopCheck = Callable[[str], "tuple[str, str, str] | None"]
Pace = Callable[[str], None]


@dataclass
class FetchResult:
    """What one fetch ended as. ``body`` lives in memory only and is never logged or written anywhere."""

    url: str
    outcome: str = "ok"  # ok | failed | skipped (a hop check can skip)
    status: int | None = None
    final_url: str | None = None
    redirect_chain: tuple[str, ...] = ()  # the hop targets, in order (the first URL not included)
    body: bytes | None = field(default=None, repr=False)
    bytes_length: int | None = None  # of the decoded body, kept after the body is dropped
    content_type: str | None = None  # sniffed from the body
    declared_content_type: str | None = None  # the Content-Type header, as sent
    error_kind: str | None = None
    error_message: str | None = None
    attempts: int = 0  # requests made to the final hop (1 + retries); 0 when nothing was requested
    requests_made: int = 0  # every request: hops and retries
    started_at_us: int = 0  # epoch microseconds
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    @property
    def redirect_count(self) -> int:
        return len(self.redirect_chain)


class _FetchFailure(Exception):
    def __init__(self, kind: str, message: str, outcome: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind
        self.outcome = outcome


def one_line(message: str) -> str:
    """Collapse whitespace and cap the length, so a message is always a single short line."""
    text = " ".join(message.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


# --- total deadline: a watchdog that shuts the socket of a response that runs over its time
# ------------------
#
# Where the socket lives moves during a request, so the watchdog cannot find it through the connection:
# * TLS: urllib3 connects (``_new_conn``) and wraps the socket before ``request`` is called; the wrap detaches
#   the plain socket object (its descriptor becomes -1) while the handshake runs.
# * HTTP/1.0 or ``Connection: close``: http.client hands the socket to the response and sets
#   ``HTTPConnection.sock`` to None (measured before this change, with a 2 s deadline against a 30 s trickle:
#   keep-alive 2.0 s, HTTP/1.0 30.2 s, close 30.1 s).
# So the deadline keeps its own duplicate descriptor of every socket the request uses, taken when the socket
# is created and when a pooled connection is reused. shutdown(2) acts on the connection whichever descriptor
# names it, so shutting the duplicate wakes a read blocked on the original, TLS or not. The duplicates are
# closed under the watchdog's lock when the fetch ends (or expires), so a descriptor number is never shut
# after the kernel could have reused it.

_current = threading.local()


class _Deadline:
    __slots__ = ("armed", "deadline", "expired", "seconds", "sockets")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.armed = True
        self.expired = False
        self.sockets: list[socket.socket] = []  # our duplicates of the request's sockets


def _watch_current(sock: socket.socket | None) -> None:
    ctx = getattr(_current, "deadline", None)
    if ctx is not None and sock is not None:
        _WATCHDOG.watch(ctx, sock)


class _DeadlineConnectionMixin:
    """Hands every socket a request uses to its deadline: new ones when they connect (before any TLS
    handshake), pooled ones when a request starts on them."""

    def _new_conn(self):
        sock = super()._new_conn()
        _watch_current(sock)
        return sock

    def request(self, *args, **kwargs):
        _watch_current(self.sock)  # a reused keep-alive connection; None for a new one (watched on connect)
        return super().request(*args, **kwargs)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One thread per process that shuts sockets of requests past their deadline.

    Per-recv timeouts cannot stop a server that sends a byte every second (every recv succeeds); shutting the
    socket down from another thread wakes the blocked read, which then fails and is reported as a timeout.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> _Deadline:
        ctx = _Deadline(seconds)
        with self._cv:
            heapq.heappush(self._heap, (ctx.deadline, next(self._counter), ctx))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="hashwatch-fetch-deadline", daemon=True
                )
                self._thread.start()
            self._cv.notify()
        return ctx

    def watch(self, ctx: _Deadline, sock: socket.socket) -> None:
        """Keep a duplicate of ``sock``'s descriptor for ``ctx`` (shut at once if ``ctx`` already expired)."""
        try:
            # fromfd dups the descriptor into a plain socket (SSLSocket.dup() is not allowed).
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        except OSError:
            return  # already closed: nothing left to shut
        with self._cv:
            if ctx.armed and not ctx.expired:
                ctx.sockets.append(dup)
                return
            if ctx.armed:  # expired while connecting (e.g. during a slow DNS answer): stop here
                _shut(dup)
        dup.close()

    def disarm(self, ctx: _Deadline) -> None:
        with self._cv:
            ctx.armed = False
            self._release(ctx)

    @staticmethod
    def _release(ctx: _Deadline) -> None:
        for dup in ctx.sockets:
            dup.close()
        ctx.sockets.clear()

    def _run(self) -> None:
        with self._cv:
            while True:
                while self._heap and not self._heap[0][2].armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cv.wait()
                    continue
                deadline, _, ctx = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                heapq.heappop(self._heap)
                ctx.expired = True
                for dup in ctx.sockets:
                    _shut(dup)
                self._release(ctx)


_WATCHDOG = _Watchdog()


# --- the fetcher --------------------------------------------------------------------------------------------


class Fetcher:
    """Fetch URLs under a :class:`CrawlConfig`. Thread-safe; make one per worker and ``close()`` it."""

    def __init__(self, config: CrawlConfig, exempt_networks: tuple[str, ...] = ()) -> None:
        self.config = config
        self.policy = AddressPolicy(
            allow_private=config.allow_private_networks,
            exempt_networks=tuple(config.allowed_networks) + tuple(exempt_networks),
        )
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc from the environment: the guard must see the target
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))  # stateless
        session.headers.clear()
        session.headers.update(
            {
                "User-Agent": config.user_agent,
                "Accept": "text/html,application/xhtml+xml,image/*,*/*;q=0.8",
                "Accept-Encoding": "gzip, deflate, br",
                "Connection": "keep-alive",
            }
        )
        adapter = address_guard.guarded_adapter(
            self.policy,
            pool_connections=256,
            pool_maxsize=max(config.fetch_threads, config.host_concurrency),
            connection_mixins=(_DeadlineConnectionMixin,),
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        hop_check: HopCheck | None = None,
        pace: Pace | None = None,
        truncate: bool = False,
        on_chunk: Callable[[bytes], None] | None = None,
    ) -> FetchResult:
        """Fetch a normalised http(s) URL, following redirects; never raises for network or server trouble.

        ``on_chunk(chunk)`` sees each decoded chunk of the final body as it arrives (a video's digests are
        computed while it streams in); it must not raise.

        ``max_bytes`` caps the decoded body (``truncate`` keeps the first ``max_bytes`` instead of failing, as
        robots.txt parsing wants). ``hop_check(url)`` vets each redirect target before it is requested (scope,
        robots); ``pace(host_key)`` is called before every request (politeness).
        """
        result = FetchResult(url=url, started_at_us=int(time.time() * 1_000_000))
        started = time.monotonic()
        try:
            self._fetch_into(result, url, max_bytes, hop_check, pace, truncate, on_chunk)
        except _FetchFailure as failure:
            result.outcome = failure.outcome
            result.error_kind = failure.kind
            result.error_message = one_line(str(failure))
            result.body = None
        except Exception as exc:  # a bug, not the network: recorded, never raised into the pipeline
            result.outcome = "failed"
            result.error_kind = "internal"
            result.error_message = one_line(f"unexpected {type(exc).__name__} in the fetcher")
            result.body = None
        result.elapsed_s = time.monotonic() - started
        return result

    def _fetch_into(  # noqa: PLR0917
        self,
        result: FetchResult,
        url: str,
        max_bytes: int,
        hop_check: HopCheck | None,
        pace: Pace | None,
        truncate: bool,
        on_chunk: Callable[[bytes], None] | None = None,
    ) -> None:
        current = url
        seen = {url}
        chain: list[str] = []
        while True:
            self._check_target(current)
            response = self._request_with_retries(result, current, pace)
            status = response.status_code
            result.status = status
            result.final_url = current
            result.declared_content_type = response.headers.get("Content-Type")
            if status in REDIRECT_STATUSES and response.headers.get("Location"):
                location = response.headers["Location"]
                self._discard(response)
                try:
                    target = normalize_url(location, base=current)
                except UrlError as exc:
                    raise _FetchFailure(
                        exc.kind, f"redirect from {current} to an unusable URL: {exc}"
                    ) from None
                if target in seen:
                    raise _FetchFailure(
                        "redirect_loop", f"redirect loop: {current} -> {target} was already visited"
                    )
                if len(chain) >= self.config.max_redirects:
                    raise _FetchFailure(
                        "too_many_redirects",
                        f"more than {self.config.max_redirects} redirects (--max-redirects)",
                    )
                chain.append(target)
                seen.add(target)
                result.redirect_chain = tuple(chain)
                if hop_check is not None:
                    verdict = hop_check(target)
                    if verdict is not None:
                        outcome, kind, message = verdict
                        raise _FetchFailure(kind, f"redirect to {target}: {message}", outcome=outcome)
                current = target
                result.final_url = current
                continue
            if not 200 <= status < 300:
                self._discard(response)
                raise _FetchFailure("bad_status", f"HTTP {status}" + _retry_note(result))
            result.body = self._read_body(response, max_bytes, truncate, on_chunk)
            result.bytes_length = len(result.body)
            result.content_type = sniff_content_type(result.body)
            return

    def _check_target(self, url: str) -> None:
        host = hostname(url)
        try:
            address_guard.check_literal_host(host, self.policy)
        except BlockedAddressError as exc:
            raise _FetchFailure("blocked_address", str(exc)) from None

    def _request_with_retries(self, result: FetchResult, url: str, pace: Pace | None) -> requests.Response:
        config = self.config
        attempt = 0
        result.attempts = 0
        while True:
            attempt += 1
            if pace is not None:
                pace(host_key(url))
            result.attempts = attempt
            result.requests_made += 1
            try:
                response = self._send(url)
            except _FetchFailure as failure:
                if failure.kind in ("connect", "protocol") and attempt <= config.max_retries:
                    time.sleep(config.retry_backoff * 2 ** (attempt - 1))
                    continue
                raise
            status = response.status_code
            if (status == 429 or 500 <= status < 600) and attempt <= config.max_retries:
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > config.max_retry_after:
                    self._discard(response)
                    raise _FetchFailure(
                        "bad_status",
                        f"HTTP {status} with Retry-After {wait:.0f} s, "
                        f"over the {config.max_retry_after:g} s cap (--max-retry-after)",
                    )
                if wait is None:
                    wait = config.retry_backoff * 2 ** (attempt - 1)
                self._discard(response)
                time.sleep(wait)
                continue
            return response

    def _send(self, url: str) -> requests.Response:
        config = self.config
        ctx = _WATCHDOG.arm(config.total_deadline)
        _current.deadline = ctx
        try:
            response = self._session.get(
                url,
                stream=True,
                allow_redirects=False,
                timeout=(config.connect_timeout, config.read_timeout),
            )
        except Exception as exc:
            _WATCHDOG.disarm(ctx)
            raise _classify(exc, url, ctx) from None
        finally:
            _current.deadline = None
        response._hashwatch_deadline = ctx  # read_body disarms it
        return response

    def _read_body(
        self,
        response: requests.Response,
        max_bytes: int,
        truncate: bool,
        on_chunk: Callable[[bytes], None] | None = None,
    ) -> bytes:
        ctx: _Deadline = response._hashwatch_deadline
        raw = response.raw
        try:
            encoding = response.headers.get("Content-Encoding", "").strip().lower()
            length = response.headers.get("Content-Length", "")
            if not truncate and encoding in ("", "identity") and length.isdigit() and int(length) > max_bytes:
                raise _FetchFailure(
                    "too_large", f"Content-Length {int(length)} bytes is over the {max_bytes} byte cap"
                )
            chunks: list[bytes] = []
            total = 0
            while True:
                chunk = raw.read(min(_CHUNK, max_bytes + 1 - total), decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if on_chunk is not None and total <= max_bytes:
                    on_chunk(chunk)
                if total > max_bytes:
                    if truncate:
                        return b"".join(chunks)[:max_bytes]
                    raise _FetchFailure(
                        "too_large",
                        f"body over the {max_bytes} byte cap" + (" after decompression" if encoding else ""),
                    )
                if ctx.expired or time.monotonic() > ctx.deadline:
                    raise _FetchFailure(
                        "timeout",
                        f"response took longer than the {self.config.total_deadline:g} s total deadline",
                    )
            if ctx.expired:
                raise _FetchFailure(
                    "timeout",
                    f"response took longer than the {self.config.total_deadline:g} s total deadline",
                )
            return b"".join(chunks)
        except _FetchFailure:
            response.close()
            raise
        except Exception as exc:
            response.close()
            raise _classify(exc, response.url, ctx) from None
        finally:
            _WATCHDOG.disarm(ctx)

    @staticmethod
    def _discard(response: requests.Response) -> None:
        """Drop a response without reading its body (closing the connection rather than draining it)."""
        ctx = getattr(response, "_hashwatch_deadline", None)
        if ctx is not None:
            _WATCHDOG.disarm(ctx)
        response.close()


def _retry_note(result: FetchResult) -> str:
    return f" after {result.attempts} attempts" if result.attempts > 1 else ""


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or
    unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _classify(exc: BaseException, url: str, ctx: _Deadline | None) -> _FetchFailure:
    """Map an exception from requests/urllib3/http.client to an error kind and a message in our own words.

    Exception text is never copied: some (``BadStatusLine``) carry bytes the server sent.
    """
    host = hostname(url)
    if ctx is not None and ctx.expired:
        return _FetchFailure("timeout", f"response took longer than the {ctx.seconds:g} s total deadline")
    chain = _exception_chain(exc)
    for item in chain:
        if isinstance(item, BlockedAddressError):
            return _FetchFailure("blocked_address", str(item))
        if isinstance(item, _FetchFailure):
            return item
    for item in chain:
        if isinstance(item, urllib3.exceptions.NameResolutionError | socket.gaierror):
            return _FetchFailure("dns", f"could not resolve host {host}")
    for item in chain:  # before timeouts: urllib3's NewConnectionError subclasses ConnectTimeoutError
        if isinstance(item, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return _FetchFailure("connect", f"could not connect to {host} ({_root_name(item)})")
    for item in chain:
        if isinstance(item, requests.exceptions.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
            return _FetchFailure("timeout", f"connecting to {host} timed out")
        if isinstance(
            item, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError | TimeoutError
        ):
            return _FetchFailure("timeout", f"{host} sent nothing within the read timeout")
    for item in chain:
        if isinstance(item, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
            return _FetchFailure("tls", f"TLS handshake or certificate check with {host} failed")
        if isinstance(item, urllib3.exceptions.DecodeError | requests.exceptions.ContentDecodingError):
            return _FetchFailure(
                "content_encoding", "response body does not decompress (broken gzip/deflate/br)"
            )
    for item in chain:
        if isinstance(
            item,
            HTTPException
            | urllib3.exceptions.ProtocolError
            | requests.exceptions.ChunkedEncodingError
            | urllib3.exceptions.InvalidHeader
            | requests.exceptions.InvalidHeader,
        ):
            return _FetchFailure(
                "protocol", f"malformed or cut-off HTTP response from {host} ({_root_name(exc)})"
            )
        if isinstance(item, requests.exceptions.InvalidURL | urllib3.exceptions.LocationParseError):
            return _FetchFailure("invalid_url", "URL rejected by the HTTP client")
    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError):
        return _FetchFailure("connect", f"connection to {host} failed ({_root_name(exc)})")
    return _FetchFailure("internal", f"unexpected {type(exc).__name__} while fetching from {host}")


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it wraps (cause, context, urllib3 ``reason``, requests ``args[0]``)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        item = todo.pop(0)
        if any(item is s for s in seen) or len(seen) > 20:
            continue
        seen.append(item)
        linked = [item.__cause__, item.__context__, getattr(item, "reason", None), *getattr(item, "args", ())]
        todo.extend(x for x in linked if isinstance(x, BaseException))  # ssl errors' ``reason`` is a str
    return seen


def _root_name(exc: BaseException) -> str:
    """The class name of the innermost wrapped exception (e.g. ConnectionRefusedError)."""
    return type(_exception_chain(exc)[-1]).__name__
