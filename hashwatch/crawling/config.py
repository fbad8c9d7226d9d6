"""Every crawl knob in one frozen, picklable :class:`CrawlConfig`, and the command-line flags that set it.

Defaults follow well-mannered crawlers (Nutch, StormCrawler, Scrapy): one request at a time per host, one
second apart, robots.txt obeyed, private networks refused. ``add_crawl_arguments`` adds the flags to any
argparse parser or argument group (the pipeline's ``PipelineOptions`` subclass calls it from
``_add_argparse_args``; ``--help`` shows them in three groups: :func:`add_scope_arguments`,
:func:`add_politeness_arguments`, :func:`add_fetch_limit_arguments`); ``CrawlConfig.from_options`` builds the
config back from the parsed values (a dict or an argparse namespace) and rejects bad values with a
:class:`hashwatch.errors.UserError` that says what to change.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from hashwatch import __version__
from hashwatch.crawling.url_rules import parse_deny_host
from hashwatch.errors import UserError

SCOPE_HOST = "host"  # the seed's exact host name (any port, http or https)
SCOPE_DOMAIN = "domain"  # the seed's registrable domain (example.co.uk), via tldextract's bundled list
SCOPE_ALLOW_LIST = "allow-list"  # hosts in allowed_hosts and their subdomains
SCOPES = (SCOPE_HOST, SCOPE_DOMAIN, SCOPE_ALLOW_LIST)

DEFAULT_USER_AGENT = (
    f"hashwatch/{__version__} (+https://github.com/hashwatch/hashwatch; known-image hash crawler)"
)
DEFAULT_ROBOTS_AGENT = "hashwatch"

# Search and lookup endpoints: each query is a new URL, so a crawler that follows them floods the site and
# learns nothing. Matched (re.search, case-insensitive) against normalised page links; never against images
# (they would refuse avatar?s=80 or image?q=75) or seeds. Your own --deny-pattern applies to images too.
# Replace them with --no-default-deny-patterns plus your own --deny-pattern.
DEFAULT_DENY_PATTERNS = (
    r"/(search|find|lookup|query|suche|recherche)(/|\?|$|\.[a-z]{2,5}(\?|$))",
    r"[?&](q|query|search|s|searchterm|search_query|keywords?|term)=",
    r"/(wp-login\.php|wp-admin/|cgi-bin/)",
    r"/(logout|log-out|signout|sign-out)(/|\?|$)",
    r"[?&](action=(edit|history|raw)|oldid=|diff=)",
    r"/(calendar|events?)/\d{4}[/-]\d{1,2}",  # classic link trap: a month page links to the next, forever
)

_MIB = 1024 * 1024


@dataclass(frozen=True)
class CrawlConfig:
    """All crawl settings. Frozen and picklable: Beam ships it to every worker inside the DoFns.

    Times are seconds, sizes bytes. See docs/crawling.md for the model behind each knob.
    """

    # Identity
    user_agent: str = DEFAULT_USER_AGENT  # sent on every request; keep a contact URL in it
    robots_agent: str = DEFAULT_ROBOTS_AGENT  # the product token matched against robots.txt User-agent lines

    # Politeness
    per_host_delay: float = 1.0  # rest between the end of one request to a host and the start of the next
    max_crawl_delay: float = 10.0  # robots.txt Crawl-delay is honoured up to this cap
    per_host_concurrency: int = 0  # requests in flight per host; 0 = auto: 1 with a delay, 8 with delay 0
    fetch_threads: int = 16  # fetch threads per worker (DoFn instance / driver), shared by all hosts

    # Time limits
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # longest silence between two reads
    total_deadline: float = 60.0  # whole response, headers to last byte: cuts off servers that trickle
    max_retry_after: float = 30.0  # a Retry-After longer than this ends the retries (bad_status)

    # Size limits (of the decoded body: a gzip bomb stops at the cap)
    max_page_bytes: int = 5 * _MIB
    max_image_bytes: int = 20 * _MIB
    # A video is streamed into memory (never to disk) up to this cap; its digests are computed as it arrives.
    max_video_bytes: int = 512 * _MIB
    # Video bodies in flight per worker: each fetch thread of the video stage holds at most one, and at most one
    # more waits for hashing, so a worker holds at most video_fetch_threads + 2 video bodies (docs/crawling.md).
    video_fetch_threads: int = 2
    max_robots_bytes: int = 512 * 1024  # RFC 9309 asks parsers to read at least 500 KiB
    max_data_uri_bytes: int = 2 * _MIB  # decoded size of one inline data: image
    max_url_length: int = 2048  # longer links are dropped (counted), never fetched

    # Protocol
    max_redirects: int = 5
    max_retries: int = 2  # extra attempts after a 429/5xx or a refused/broken connection
    retry_backoff: float = 1.0  # first wait; doubles per retry unless Retry-After says otherwise

    # Crawl shape
    max_depth: int = 1  # seeds are depth 0; links found at depth max_depth are logged as skipped
    scope: str = SCOPE_HOST
    allowed_hosts: tuple[str, ...] = ()  # for scope allow-list
    deny_patterns: tuple[str, ...] = DEFAULT_DENY_PATTERNS  # page links; those not built in: images too
    deny_hosts: tuple[
        str, ...
    ] = ()  # hosts and *.domain suffixes never requested: seeds, links, images, hops
    max_pages_per_host: int = 1000  # page fetches per host over the whole run
    max_links_per_page: int = 1000  # distinct links followed from one page; the rest are logged as skipped

    # Switches
    ignore_robots: bool = False  # only for operators legally entitled to
    # Fetch each image inside the page rounds as soon as a page shows it, instead of in one stage after the
    # last round. Off by default: on the GIMP manual (2026-12-08, quiet machine) the whole crawl took 55.6-63.0 s
    # with it against 42.1-48.1 s without, though images started 3-4 s earlier (docs/crawling.md, Benchmark).
    pipelined_images: bool = False
    # Opens loopback and private ranges only (127/8, 10/8, 172.16/12, 192.168/16, ::1, fc00::/7): local sites
    # and intranets. Link-local, cloud metadata, 0.0.0.0/8, multicast, broadcast stay blocked (address_guard).
    allow_private_networks: bool = False
    allowed_networks: tuple[str, ...] = ()  # CIDRs the SSRF guard lets through, whatever they hold

    # Not options: derived at construction.
    _deny_regexes: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)
    _image_deny_regexes: tuple[re.Pattern[str], ...] = field(
        default=(), init=False, repr=False, compare=False
    )
    _deny_host_names: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    _deny_host_suffixes: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        for name in (
            "per_host_delay",
            "max_crawl_delay",
            "max_retry_after",
            "retry_backoff",
        ):
            if getattr(self, name) < 0:
                problems.append(f"{_flag(name)} must be >= 0 (got {getattr(self, name)})")
        for name in ("connect_timeout", "read_timeout", "total_deadline"):
            if getattr(self, name) <= 0:
                problems.append(f"{_flag(name)} must be > 0 (got {getattr(self, name)})")
        for name in (
            "max_page_bytes",
            "max_image_bytes",
            "max_video_bytes",
            "video_fetch_threads",
            "max_robots_bytes",
            "max_data_uri_bytes",
            "max_url_length",
            "fetch_threads",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{_flag(name)} must be >= 1 (got {getattr(self, name)})")
        for name in (
            "per_host_concurrency",
            "max_redirects",
            "max_retries",
            "max_depth",
            "max_pages_per_host",
            "max_links_per_page",
        ):
            if getattr(self, name) < 0:
                problems.append(f"{_flag(name)} must be >= 0 (got {getattr(self, name)})")
        if self.scope not in SCOPES:
            problems.append(f"--scope must be one of {', '.join(SCOPES)} (got {self.scope!r})")
        if self.scope == SCOPE_ALLOW_LIST and not self.allowed_hosts:
            problems.append("--scope allow-list needs at least one --allow-host")
        if not self.user_agent.strip() or "\n" in self.user_agent or "\r" in self.user_agent:
            problems.append("--user-agent must be one non-empty line")
        if not re.fullmatch(r"[A-Za-z_-]+", self.robots_agent):
            problems.append(
                f"--robots-agent must be a robots.txt product token [A-Za-z_-]+ (got {self.robots_agent!r})"
            )
        for network in self.allowed_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                problems.append(f"--allow-network {network!r} is not an IP network (e.g. 10.1.0.0/16)")
        regexes = []
        for pattern in self.deny_patterns:
            try:
                regexes.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                problems.append(f"--deny-pattern {pattern!r} is not a valid regular expression: {exc}")
        deny_hosts = []
        for entry in self.deny_hosts:
            try:
                deny_hosts.append(parse_deny_host(entry))
            except ValueError as exc:
                problems.append(f"--deny-host {entry!r}: {exc}")
        if problems:
            raise UserError("invalid crawl options: " + "; ".join(problems))
        # Normalise sequences to tuples so the config stays hashable and picklable whatever the caller passed.
        object.__setattr__(
            self, "allowed_hosts", tuple(h.strip().lower().rstrip(".") for h in self.allowed_hosts)
        )
        object.__setattr__(self, "deny_patterns", tuple(self.deny_patterns))
        object.__setattr__(self, "allowed_networks", tuple(self.allowed_networks))
        object.__setattr__(self, "_deny_regexes", tuple(regexes))
        object.__setattr__(
            self, "_image_deny_regexes", tuple(r for r in regexes if r.pattern not in DEFAULT_DENY_PATTERNS)
        )
        object.__setattr__(self, "deny_hosts", tuple(dict.fromkeys(deny_hosts)))
        object.__setattr__(
            self, "_deny_host_names", frozenset(h for h in deny_hosts if not h.startswith("*."))
        )
        object.__setattr__(
            self, "_deny_host_suffixes", tuple(h[2:] for h in deny_hosts if h.startswith("*."))
        )

    @property
    def host_concurrency(self) -> int:
        """Requests in flight per host: the explicit setting, else 1 with a delay and 8 without."""
        if self.per_host_concurrency:
            return self.per_host_concurrency
        return 1 if self.per_host_delay > 0 else 8

    @property
    def deny_regexes(self) -> tuple[re.Pattern[str], ...]:
        """Every deny pattern: applied to page links."""
        return self._deny_regexes

    @property
    def image_deny_regexes(self) -> tuple[re.Pattern[str], ...]:
        """The deny patterns that are not built in: applied to image URLs too."""
        return self._image_deny_regexes

    @property
    def deny_host_names(self) -> frozenset[str]:
        """Denied hosts matched exactly (names and IP addresses in normal form)."""
        return self._deny_host_names

    @property
    def deny_host_suffixes(self) -> tuple[str, ...]:
        """Denied domains: each denies itself and every name under it (from ``*.domain`` entries)."""
        return self._deny_host_suffixes

    def replace(self, **changes) -> CrawlConfig:
        """A copy with some fields changed (validated again)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        values.update(changes)
        return CrawlConfig(**values)

    @classmethod
    def from_options(cls, options: argparse.Namespace | Mapping) -> CrawlConfig:
        """Build a config from parsed flag values: a dict by argparse ``dest`` (e.g. Beam's
        ``options.get_all_options()``) or an argparse namespace.

        Missing or ``None`` values keep their defaults; unknown keys are ignored, so every flag value of the
        run can be passed.

        >>> CrawlConfig.from_options({"max_depth": 3, "output_dir": "/out"}).max_depth
        3
        """
        if isinstance(options, Mapping):
            values = dict(options)
        elif isinstance(options, argparse.Namespace):
            values = vars(options)
        else:  # e.g. PipelineOptions, whose vars() hold none of the flags: every value would be a default
            raise TypeError(
                f"CrawlConfig.from_options takes a dict or a namespace, not {type(options).__name__}"
            )
        kwargs: dict = {}
        for name, dest in _OPTION_DESTS.items():
            value = values.get(dest)
            if value is None:
                continue
            kwargs[name] = value
        if values.get("no_default_deny_patterns"):
            kwargs["deny_patterns"] = tuple(values.get("deny_pattern") or ())
        elif values.get("deny_pattern"):
            kwargs["deny_patterns"] = DEFAULT_DENY_PATTERNS + tuple(values["deny_pattern"])
        if values.get("allow_host"):
            kwargs["allowed_hosts"] = tuple(values["allow_host"])
        if values.get("allow_network"):
            kwargs["allowed_networks"] = tuple(values["allow_network"])
        deny_hosts = tuple(values.get("deny_host") or ())
        if values.get("deny_hosts_file"):
            deny_hosts += read_deny_hosts_file(values["deny_hosts_file"])
        if deny_hosts:
            kwargs["deny_hosts"] = deny_hosts
        return cls(**kwargs)


def read_deny_hosts_file(path: str) -> tuple[str, ...]:
    """The entries of a ``--deny-hosts-file``: one host, address or ``*.domain`` per line; ``#`` starts a
    comment; blank lines are skipped. A bad line is a :class:`UserError` naming the file and line.

    >>> read_deny_hosts_file("/dev/null")
    ()
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UserError(f"--deny-hosts-file {path}: cannot read it ({exc.strerror or exc})") from None
    entries = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{path}:{number}: not UTF-8 text (--deny-hosts-file)") from None
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            entries.append(parse_deny_host(text))
        except ValueError as exc:
            raise UserError(
                f"{path}:{number}: {text!r} is not a host to deny: {exc} (--deny-hosts-file)"
            ) from None
    return tuple(entries)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# field -> argparse dest, for the scalar options (lists and switches with inverted sense are handled apart)
_OPTION_DESTS = {
    "user_agent": "user_agent",
    "robots_agent": "robots_agent",
    "per_host_delay": "per_host_delay",
    "max_crawl_delay": "max_crawl_delay",
    "per_host_concurrency": "per_host_concurrency",
    "fetch_threads": "fetch_threads",
    "connect_timeout": "connect_timeout",
    "read_timeout": "read_timeout",
    "total_deadline": "total_deadline",
    "max_retry_after": "max_retry_after",
    "max_page_bytes": "max_page_bytes",
    "max_image_bytes": "max_image_bytes",
    "max_video_bytes": "max_video_bytes",
    "video_fetch_threads": "video_fetch_threads",
    "max_robots_bytes": "max_robots_bytes",
    "max_data_uri_bytes": "max_data_uri_bytes",
    "max_url_length": "max_url_length",
    "max_redirects": "max_redirects",
    "max_retries": "max_retries",
    "retry_backoff": "retry_backoff",
    "max_depth": "max_depth",
    "scope": "scope",
    "max_pages_per_host": "max_pages_per_host",
    "max_links_per_page": "max_links_per_page",
    "ignore_robots": "ignore_robots",
    "pipelined_images": "pipelined_images",
    "allow_private_networks": "allow_private_networks",
}


def add_crawl_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the crawl flags to ``parser`` using ``parser.add_argument`` only (Beam's option parser accepts
    that, and so does an argument group).

    Every flag defaults to ``None`` (or off) so ``CrawlConfig.from_options`` can tell "not given" from a value
    and keep the dataclass default, which is the single source of truth (shown in ``--help``).
    """
    add_scope_arguments(parser)
    add_politeness_arguments(parser)
    add_fetch_limit_arguments(parser)


def _adder(parser):
    def add(flag: str, type_, help_: str, default_value) -> None:
        parser.add_argument(flag, type=type_, default=None, help=f"{help_} (default: {default_value})")

    return add


def add_politeness_arguments(parser) -> None:
    """Who the crawler says it is, how fast it asks one host, robots.txt."""
    d = CrawlConfig()
    add = _adder(parser)
    add(
        "--user-agent",
        str,
        "User-Agent header sent with every request; keep a contact URL in it",
        d.user_agent,
    )
    add("--robots-agent", str, "product token matched against robots.txt User-agent lines", d.robots_agent)
    add(
        "--per-host-delay",
        float,
        "seconds a host rests between the end of one request and the start of the next",
        d.per_host_delay,
    )
    add("--max-crawl-delay", float, "cap on a robots.txt Crawl-delay, seconds", d.max_crawl_delay)
    add(
        "--per-host-concurrency",
        int,
        "requests in flight per host; 0 = 1 with a delay, 8 with --per-host-delay 0",
        d.per_host_concurrency,
    )
    add("--fetch-threads", int, "fetch threads per worker, shared by all hosts", d.fetch_threads)
    parser.add_argument(
        "--ignore-robots",
        action="store_true",
        default=False,
        help="do not fetch or obey robots.txt (only for operators legally entitled to)",
    )
    parser.add_argument(
        "--pipelined-images",
        action="store_true",
        default=False,
        help="fetch each image as soon as a page shows it, inside the page rounds (slower end to end here: "
        "docs/crawling.md)",
    )


def add_fetch_limit_arguments(parser) -> None:
    """Time, size and retry limits of one fetch."""
    d = CrawlConfig()
    add = _adder(parser)
    add("--connect-timeout", float, "TCP/TLS connect timeout, seconds", d.connect_timeout)
    add("--read-timeout", float, "longest silence between two reads, seconds", d.read_timeout)
    add(
        "--total-deadline",
        float,
        "whole-response deadline, seconds (cuts off trickling servers)",
        d.total_deadline,
    )
    add(
        "--max-retry-after",
        float,
        "longest Retry-After honoured before giving up, seconds",
        d.max_retry_after,
    )
    add("--max-page-bytes", int, "largest page body (decoded), bytes", d.max_page_bytes)
    add("--max-image-bytes", int, "largest image body (decoded), bytes", d.max_image_bytes)
    add("--max-video-bytes", int, "largest video body (streamed into memory), bytes", d.max_video_bytes)
    add(
        "--video-fetch-threads",
        int,
        "videos fetched at once per worker (each is held in memory while it is hashed)",
        d.video_fetch_threads,
    )
    add("--max-robots-bytes", int, "largest robots.txt read, bytes", d.max_robots_bytes)
    add("--max-data-uri-bytes", int, "largest inline data: image (decoded), bytes", d.max_data_uri_bytes)
    add("--max-redirects", int, "redirect hops followed per URL", d.max_redirects)
    add("--max-retries", int, "retries after HTTP 429/5xx or a failed connection", d.max_retries)
    add("--retry-backoff", float, "first retry wait, seconds; doubles per retry", d.retry_backoff)


def add_scope_arguments(parser) -> None:
    """How deep and how wide the crawl goes, and what it never requests."""
    d = CrawlConfig()
    add = _adder(parser)
    add("--max-depth", int, "crawl rounds after the seeds (0 = seeds only)", d.max_depth)
    parser.add_argument(
        "--scope",
        choices=SCOPES,
        default=None,
        help=f"which links to follow: the seed's host, its registrable domain, or --allow-host list "
        f"(default: {d.scope})",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=None,
        help="a host (and its subdomains) in scope for --scope allow-list; repeat the flag",
    )
    parser.add_argument(
        "--deny-pattern",
        action="append",
        default=None,
        help="a regular expression; page links and image URLs it matches are not fetched; repeat the flag "
        "(added to the defaults for search and lookup endpoints, which apply to page links only)",
    )
    parser.add_argument(
        "--deny-host",
        action="append",
        default=None,
        help="a host never requested (seeds, links, images, redirect hops): a name, an IP address, or "
        "*.example.com for example.com and every name under it; repeat the flag",
    )
    parser.add_argument(
        "--deny-hosts-file",
        default=None,
        help="a file of hosts to deny, one per line as for --deny-host; # starts a comment",
    )
    parser.add_argument(
        "--no-default-deny-patterns",
        action="store_true",
        default=False,
        help="drop the built-in deny patterns for search/lookup endpoints (keep only --deny-pattern)",
    )
    add("--max-pages-per-host", int, "page fetches per host over the run", d.max_pages_per_host)
    add("--max-links-per-page", int, "distinct links followed from one page", d.max_links_per_page)
    add("--max-url-length", int, "longer discovered URLs are dropped", d.max_url_length)
    parser.add_argument(
        "--allow-private-networks",
        action="store_true",
        default=False,
        help="let the crawler reach loopback and private ranges (127/8, 10/8, 172.16/12, 192.168/16, ::1, "
        "fc00::/7): local sites and intranets; link-local, cloud metadata (169.254.169.254...), 0.0.0.0/8, "
        "multicast and broadcast stay blocked",
    )
    parser.add_argument(
        "--allow-network",
        action="append",
        default=None,
        help="a CIDR network the SSRF guard lets through, whatever it holds (e.g. one intranet); repeat the "
        "flag; the only way to open link-local or metadata addresses, which you should not",
    )
