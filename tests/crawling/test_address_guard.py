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
    refusal,
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


FLAG = AddressPolicy(allow_private=True)  # --allow-private-networks


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.255.0.9", "10.0.0.1", "10.255.255.254", "172.16.0.1", "172.31.255.255", "192.168.0.1",
     "::1", "fc00::1", "fd12:3456::1"],
)  # fmt: skip
def test_the_flag_opens_loopback_and_private_ranges(address):
    ip = ipaddress.ip_address(address)
    assert blocked_reason(ip, GUARD) is not None
    assert blocked_reason(ip, FLAG) is None


@pytest.mark.parametrize(
    ("address", "phrase"),
    [
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),  # inside fc00::/7, which the flag opens: metadata wins
        ("100.100.100.200", "cloud metadata"),
        ("169.254.0.1", "link-local"),
        ("169.254.170.2", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "this host"),
        ("0.1.2.3", "this host"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("2002:a9fe:a9fe::1", "cloud metadata"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64
        ("2001:0:4136:e378:8000:63bf:5601:5601", "cloud metadata"),  # Teredo, client 169.254.169.254
        ("::ffff:0.0.0.0", "this host"),
    ],
)
def test_link_local_metadata_and_the_like_stay_blocked_under_the_flag(address, phrase):
    found = refusal(ipaddress.ip_address(address), FLAG)
    assert found is not None and phrase in found.reason
    assert found.address_class == "never" and "--allow-network" in found.hint


@pytest.mark.parametrize(
    "address",
    ["100.64.0.1", "100.127.255.254", "192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1", "192.0.0.1",
     "240.0.0.1", "2001:db8::1", "fec0::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::",
     "2002:c0a8:101::", "64:ff9b::a00:1", "2001:0:4136:e378:8000:63bf:80ff:fffe"],
)  # fmt: skip
def test_other_non_global_addresses_stay_blocked_under_the_flag(address):
    found = refusal(ipaddress.ip_address(address), FLAG)
    assert found is not None and found.address_class == "other", found
    assert "--allow-network" in found.hint


@pytest.mark.parametrize(
    "host",
    ["169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518", "0xa9.0xfe.0xa9.0xfe",
     "[::ffff:a9fe:a9fe]", "[fd00:ec2::254]", "100.100.100.200", "1684301000", "0.0.0.0", "0"],
)  # fmt: skip
def test_every_spelling_of_a_metadata_or_this_host_address_is_blocked_under_the_flag(host):
    with pytest.raises(BlockedAddressError, match="metadata|this host"):
        check_literal_host(host, FLAG)


def test_only_an_explicit_network_opens_a_metadata_address():
    metadata = ipaddress.ip_address("169.254.169.254")
    assert refusal(metadata, FLAG) is not None
    assert (
        refusal(metadata, AddressPolicy(allow_private=True, exempt_networks=("169.254.169.254/32",))) is None
    )
    assert refusal(metadata, AddressPolicy(exempt_networks=("10.0.0.0/8",))) is not None


def test_literal_check_names_the_reason_and_the_way_out():
    with pytest.raises(BlockedAddressError, match="loopback address; --allow-private-networks opens"):
        check_literal_host("2130706433", GUARD)
    with pytest.raises(BlockedAddressError, match="cloud metadata address; blocked under every flag"):
        check_literal_host("169.254.169.254", GUARD)
    with pytest.raises(BlockedAddressError, match="shared .*--allow-network CIDR opens"):
        check_literal_host("100.64.1.1", FLAG)
    check_literal_host("example.com", GUARD)  # names are checked after resolution, not here
    check_literal_host("10.1.1.1", FLAG)


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


@pytest.mark.parametrize("metadata", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"])
def test_a_name_resolving_to_a_metadata_address_is_blocked_under_the_flag(monkeypatch, metadata):
    _fake_dns(monkeypatch, {"metadata.google.internal": [metadata], "intranet.test": ["10.0.0.5", "fd12::5"]})
    with pytest.raises(BlockedAddressError, match=f"resolves to {metadata}, a cloud metadata address"):
        checked_addresses("metadata.google.internal", 80, FLAG)
    assert checked_addresses("intranet.test", 80, FLAG) == ["10.0.0.5", "fd12::5"]
