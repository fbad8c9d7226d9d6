import ipaddress
import socket

import pytest

from hashwatch.crawling import address_guard
from hashwatch.crawling.address_guard import (
    AddressPolicy,
    BlockedAddressError,
    blocked_reason,
    check_literal_host,
    checked_addresses,
    parse_ip_literal,
)

GUARD = AddressPolicy()


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("169.254.169.254", "169.254.169.254"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_every_literal_spelling_is_parsed(host, address):
    assert parse_ip_literal(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "256.1.1.1", "0x100000000", "08.1.1.1", "a.1"])
def test_names_and_invalid_forms_are_not_literals(host):
    assert parse_ip_literal(host) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::a00:1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_blocked(address):
    assert blocked_reason(ipaddress.ip_address(address), GUARD) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::1"])
def test_public_addresses_pass(address):
    assert blocked_reason(ipaddress.ip_address(address), GUARD) is None


def test_policy_switches():
    loopback = ipaddress.ip_address("127.0.0.2")
    assert blocked_reason(loopback, AddressPolicy(allow_private=True)) is None
    assert blocked_reason(loopback, AddressPolicy(exempt_networks=("127.0.0.2/32",))) is None
    assert blocked_reason(ipaddress.ip_address("127.0.0.1"), AddressPolicy(exempt_networks=("127.0.0.2/32",)))


def test_literal_check_names_the_reason():
    with pytest.raises(BlockedAddressError, match="loopback"):
        check_literal_host("2130706433", GUARD)
    with pytest.raises(BlockedAddressError, match="link-local"):
        check_literal_host("169.254.169.254", GUARD)
    check_literal_host("example.com", GUARD)  # names are checked after resolution, not here


def _fake_dns(monkeypatch, answers: dict[str, list[str]]):
    calls = []

    def resolve(host, port):
        calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(address_guard, "resolve", resolve)
    return calls


def test_a_name_resolving_to_loopback_is_blocked(monkeypatch):
    _fake_dns(monkeypatch, {"evil.test": ["127.0.0.1"]})
    with pytest.raises(BlockedAddressError, match="evil.test resolves to 127.0.0.1"):
        checked_addresses("evil.test", 80, GUARD)


def test_one_private_answer_among_public_ones_blocks_the_name(monkeypatch):
    _fake_dns(monkeypatch, {"mixed.test": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(BlockedAddressError, match="10.0.0.5"):
        checked_addresses("mixed.test", 80, GUARD)


def test_public_answers_are_returned_for_connecting(monkeypatch):
    _fake_dns(monkeypatch, {"ok.test": ["93.184.216.34", "93.184.216.34", "2606:4700::1"]})
    assert checked_addresses("ok.test", 443, GUARD) == ["93.184.216.34", "2606:4700::1"]


def test_real_localhost_is_blocked():
    with pytest.raises(BlockedAddressError):
        checked_addresses("localhost", 80, GUARD)
