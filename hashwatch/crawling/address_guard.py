"""SSRF guard: hashwatch only connects to public http(s) addresses, unless told which others it may reach.

A crawler fetches URLs that strangers wrote, so a page (or a redirect, or a DNS answer) could point it at the
machine's own services, the cloud metadata endpoint (169.254.169.254) or the intranet. Every address falls in
one of four classes (:func:`classify`):

* ``public``: global unicast; always allowed.
* ``private``: loopback and the private ranges (127/8, 10/8, 172.16/12, 192.168/16, ::1, fc00::/7).
  Refused unless ``--allow-private-networks``, which opens exactly these.
* ``never``: link-local (169.254/16, fe80::/10), the clouds' metadata addresses (169.254.169.254,
  fd00:ec2::254, 100.100.100.200), 0.0.0.0/8 and ::, multicast and broadcast. No switch opens them: an
  ``--allow-network CIDR`` that covers one is the only way (docs/crawling.md says why you would not).
* ``other``: every other non-global address (100.64/10, documentation and benchmark ranges, reserved,
  IPv4-mapped, 6to4, Teredo and NAT64 IPv6 forms, site-local...). Refused, also under
  ``--allow-private-networks``; ``--allow-network CIDR`` opens a chosen network.

An IPv6 form with an IPv4 address inside (``::ffff:169.254.169.254``) takes the stricter class of the two; the
flag never opens such forms. Every spelling ``inet_aton`` accepts (2130706433, 0x7f000001, 0177.0.0.1, 127.1)
is read as the address it denotes.

The guard acts in two places: on the URL before any request (a literal address, for a clear early answer), and
inside the HTTP connection (``GuardedHTTPAdapter``): the host name is resolved once, every address it resolves
to is checked, and the socket connects to the checked address itself, so a DNS answer that changes between
check and connect (DNS rebinding) cannot slip through. Redirects are new requests, so every hop passes
through both.

>>> refusal(ipaddress.ip_address("169.254.169.254"), AddressPolicy(allow_private=True)).reason
'a cloud metadata address'
>>> refusal(ipaddress.ip_address("10.1.2.3"), AddressPolicy(allow_private=True)) is None
True
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

PUBLIC, PRIVATE, OTHER, NEVER = "public", "private", "other", "never"  # classes, least to most dangerous
_RANK = {PUBLIC: 0, PRIVATE: 1, OTHER: 2, NEVER: 3}

# What --allow-private-networks opens: loopback and the private ranges, nothing else.
PRIVATE_NETWORKS = tuple(
    (ipaddress.ip_network(net), phrase)
    for net, phrase in (
        ("127.0.0.0/8", "a loopback address"),
        ("::1/128", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("fc00::/7", "a unique-local (private) address"),
    )
)
# The clouds' instance metadata services (AWS, GCP, Azure, Oracle, DigitalOcean: 169.254.169.254; AWS over
# IPv6: fd00:ec2::254; Alibaba: 100.100.100.200). They hand out credentials to whoever asks from the machine.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Refused under every switch (only an --allow-network CIDR covering them opens them): nothing a crawler
# should ever reach. 0.0.0.0/8 and :: connect to the local machine on Linux.
NEVER_NETWORKS = tuple(
    (ipaddress.ip_network(net), phrase)
    for net, phrase in (
        ("0.0.0.0/8", "a 'this host' address (0.0.0.0/8 reaches the local machine)"),
        ("::/128", "an unspecified address (:: reaches the local machine)"),
        ("169.254.0.0/16", "a link-local address"),
        ("fe80::/10", "a link-local address"),
        ("224.0.0.0/4", "a multicast address"),
        ("ff00::/8", "a multicast address"),
        ("255.255.255.255/32", "a broadcast address"),
    )
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")

_HINTS = {
    PRIVATE: "--allow-private-networks opens loopback and private ranges",
    OTHER: "not opened by --allow-private-networks; only --allow-network CIDR opens a chosen network",
    NEVER: "blocked under every flag; only an explicit --allow-network CIDR opens it (see docs/crawling.md)",
}


class BlockedAddressError(Exception):
    """A request to an address the guard refuses. Deliberately not an ``OSError``: urllib3 must not retry or
    wrap it, so it reaches the fetcher unchanged."""

    error_kind = "blocked_address"


@dataclass(frozen=True)
class AddressPolicy:
    """What the guard lets through: ``allow_private`` opens the PRIVATE class (``--allow-private-networks``);
    ``exempt_networks`` are treated as public whatever their class (``--allow-network``; tests)."""

    allow_private: bool = False
    exempt_networks: tuple[str, ...] = ()

    def exempt(self, ip: IPAddress) -> bool:
        return any(ip in ipaddress.ip_network(net, strict=False) for net in self.exempt_networks)


@dataclass(frozen=True)
class Refusal:
    """Why an address is refused: ``reason`` is a phrase ("a loopback address"), ``address_class`` one of
    PRIVATE, OTHER, NEVER, and ``hint`` says which option could open it."""

    reason: str
    address_class: str

    @property
    def hint(self) -> str:
        return _HINTS[self.address_class]


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


def classify(ip: IPAddress) -> tuple[str, str]:
    """The class of ``ip`` (PUBLIC, PRIVATE, OTHER or NEVER) and a phrase naming it, whatever the policy.

    >>> classify(ipaddress.ip_address("::ffff:10.0.0.1"))
    ('other', 'a private address (10.0.0.1 inside the IPv6 address ::ffff:a00:1)')
    """
    if ip in METADATA_ADDRESSES:
        return NEVER, "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner_class, inner_phrase = classify(embedded)
            if inner_class != PUBLIC:
                # Never opened by the flag: a private address inside is OTHER, a metadata one stays NEVER.
                stricter = max(inner_class, OTHER, key=_RANK.__getitem__)
                return stricter, f"{inner_phrase} ({embedded} inside the IPv6 address {ip})"
    for network, phrase in NEVER_NETWORKS:
        if ip.version == network.version and ip in network:
            return NEVER, phrase
    for network, phrase in PRIVATE_NETWORKS:
        if ip.version == network.version and ip in network:
            return PRIVATE, phrase
    if ip.version == 4 and ip in _SHARED:
        return OTHER, "a shared (carrier-grade NAT) address"
    if ip.is_reserved:
        return OTHER, "a reserved address"
    if getattr(ip, "is_site_local", False):
        return OTHER, "a site-local address"
    if ip.is_private or not ip.is_global:
        return OTHER, "a special-purpose non-global address"
    return PUBLIC, "a public address"


def refusal(ip: IPAddress, policy: AddressPolicy = AddressPolicy()) -> Refusal | None:
    """Why the guard refuses ``ip`` under ``policy``, or None if it may be connected to."""
    if policy.exempt(ip):
        return None
    address_class, phrase = classify(ip)
    if address_class == PUBLIC or (address_class == PRIVATE and policy.allow_private):
        return None
    return Refusal(phrase, address_class)


def blocked_reason(ip: IPAddress, policy: AddressPolicy = AddressPolicy()) -> str | None:
    """Why the guard refuses ``ip`` (a short phrase), or None if it may be connected to."""
    found = refusal(ip, policy)
    return found.reason if found is not None else None


def check_literal_host(host: str, policy: AddressPolicy) -> None:
    """Raise :class:`BlockedAddressError` if ``host`` is itself (in any spelling) a refused address."""
    ip = parse_ip_literal(host)
    if ip is not None:
        found = refusal(ip, policy)
        if found is not None:
            raise BlockedAddressError(f"host {host} is {found.reason}; {found.hint}")


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
        found = refusal(candidate, policy)
        if found is not None:
            if ip is not None:
                raise BlockedAddressError(f"host {host} is {found.reason}; {found.hint}")
            raise BlockedAddressError(f"host {host} resolves to {candidate}, {found.reason}; {found.hint}")
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
