"""SSRF guard: hashwatch only connects to public http(s) addresses.

A crawler fetches URLs that strangers wrote, so a page (or a redirect, or a DNS answer) could point it at the
machine's own services, the cloud metadata endpoint (169.254.169.254) or the intranet. The guard refuses
loopback, private, link-local, multicast, reserved, unspecified and other non-global addresses, in IPv4 and
IPv6, including IPv4-mapped, 6to4, Teredo and NAT64 IPv6 forms and every spelling ``inet_aton`` accepts
(2130706433, 0x7f000001, 0177.0.0.1, 127.1).

It acts in two places: on the URL before any request (a literal address, for a clear early answer), and inside
the HTTP connection (``GuardedHTTPAdapter``): the host name is resolved once, every address it resolves to is
checked, and the socket connects to the checked address itself, so a DNS answer that changes between check and
connect (DNS rebinding) cannot slip through. Redirects are new requests, so every hop passes through both.
``--allow-private-networks`` turns the guard off; ``--allow-network CIDR`` exempts chosen networks only.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddressError(Exception):
    """A request to an address the guard refuses. Deliberately not an ``OSError``: urllib3 must not retry or
    wrap it, so it reaches the fetcher unchanged."""

    error_kind = "blocked_address"


@dataclass(frozen=True)
class AddressPolicy:
    """What the guard lets through. ``exempt_networks`` are treated as public (tests, chosen intranets)."""

    allow_private: bool = False
    exempt_networks: tuple[str, ...] = ()

    def exempt(self, ip: IPAddress) -> bool:
        return any(ip in ipaddress.ip_network(net, strict=False) for net in self.exempt_networks)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, without DNS, or None for a host name.

    Accepts IPv6 (bracketed or not, with zone ids dropped) and every IPv4 form ``inet_aton`` accepts:
    dotted quads, fewer parts (``127.1``), decimal (``2130706433``), hex (``0x7f000001``) and octal
    (``0177``).
    """
    host = host.strip().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    return _parse_ipv4_loose(host)


def _parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    numbers = []
    for part in parts:
        lowered = part.lower()
        if lowered.startswith("0x"):
            digits, base = lowered[2:] or "0", 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        try:
            numbers.append(int(digits, base))
        except ValueError:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in leading:
        value = value * 256 + n
    value = value * 256 ** (5 - len(numbers)) + last
    return ipaddress.IPv4Address(value)


def blocked_reason(ip: IPAddress, policy: AddressPolicy = AddressPolicy()) -> str | None:
    """Why the guard refuses ``ip`` (a short phrase), or None if it may be connected to."""
    if policy.allow_private or policy.exempt(ip):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(embedded, policy)
            if inner is not None:
                return f"{inner} (embedded in IPv6 {ip})"
    for attribute, phrase in (
        ("is_unspecified", "unspecified address"),
        ("is_loopback", "loopback address"),
        ("is_link_local", "link-local address"),
        ("is_multicast", "multicast address"),
        ("is_private", "private address"),
        ("is_reserved", "reserved address"),
        ("is_site_local", "site-local address"),
    ):
        if getattr(ip, attribute, False):
            return phrase
    if not ip.is_global:
        return "non-global address"
    return None


def check_literal_host(host: str, policy: AddressPolicy) -> None:
    """Raise :class:`BlockedAddressError` if ``host`` is itself (in any spelling) a refused address."""
    ip = parse_ip_literal(host)
    if ip is not None:
        reason = blocked_reason(ip, policy)
        if reason is not None:
            raise BlockedAddressError(f"host {host} is a {reason}")


def resolve(host: str, port: int) -> list[tuple]:
    """``getaddrinfo`` for TCP; a seam the tests replace to simulate DNS answers (rebinding, loopback
    names)."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def checked_addresses(host: str, port: int, policy: AddressPolicy) -> list[str]:
    """Resolve ``host`` once and return its addresses, or raise if any of them is refused.

    One refused address refuses the name: an attacker controlling DNS would otherwise mix a public and a
    private answer and let the connection order decide.
    """
    ip = parse_ip_literal(host)
    if ip is not None:
        candidates: Iterable[IPAddress] = [ip]
    else:
        infos = resolve(host, port)
        candidates = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    addresses = []
    for candidate in candidates:
        reason = blocked_reason(candidate, policy)
        if reason is not None:
            if str(candidate) == host:
                raise BlockedAddressError(f"host {host} is a {reason}")
            raise BlockedAddressError(f"host {host} resolves to {candidate}, a {reason}")
        if str(candidate) not in addresses:
            addresses.append(str(candidate))
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "no addresses")
    return addresses


class _GuardedConnectionMixin:
    """Resolve, check, and connect to the checked address (not to a second DNS answer)."""

    policy: AddressPolicy = AddressPolicy()

    def _new_conn(self) -> socket.socket:
        try:
            addresses = checked_addresses(self._dns_host, self.port, self.policy)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        last_error: OSError | None = None
        for address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                last_error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")


def guarded_adapter(
    policy: AddressPolicy, pool_connections: int, pool_maxsize: int, connection_mixins: tuple[type, ...] = ()
) -> HTTPAdapter:
    """A requests adapter whose connections pass the guard (resolve once, check, connect to that address).

    ``connection_mixins`` are mixed into the connection classes first (the fetcher adds its deadline hook).
    ``max_retries=0``: the fetcher does its own retries, politely.
    """
    attrs = {"policy": policy}
    http_conn = type(
        "GuardedHTTPConnection", (*connection_mixins, _GuardedConnectionMixin, HTTPConnection), attrs
    )
    https_conn = type(
        "GuardedHTTPSConnection", (*connection_mixins, _GuardedConnectionMixin, HTTPSConnection), attrs
    )
    http_pool = type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn})
    https_pool = type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})

    class GuardedHTTPAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    return GuardedHTTPAdapter(pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=0)
