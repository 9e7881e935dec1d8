"""Which webhook URLs and addresses are refused by default, and what the flags allow."""

from __future__ import annotations

import ipaddress

import pytest

from scimserver.scim.targets import (
    Reach,
    TargetRefused,
    check_address,
    check_url,
    literal_address,
    mask,
    refusal,
)

DEFAULT = Reach()
EVERYTHING = Reach(insecure_http=True, private_network=True)


@pytest.mark.parametrize(
    ("host", "meant"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("hooks.example.com", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("08.1.1.1", None),  # not octal: a name, which the resolver then answers for
    ],
)
def test_hosts_written_as_numbers_mean_the_address_inet_aton_reads(
    host: str, meant: str | None
) -> None:
    expected = ipaddress.ip_address(meant) if meant else None
    assert literal_address(host) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "a loopback address"),
        ("https://2130706433/hook", "a loopback address"),
        ("https://0x7f000001/hook", "a loopback address"),
        ("https://127.1:8443/hook", "a loopback address"),
        ("https://[::1]/hook", "a loopback address"),
        ("https://[::ffff:127.0.0.1]/hook", "an IPv6 form of a loopback address"),
        ("https://[64:ff9b::a00:1]/hook", "an IPv6 form of a private address"),
        ("https://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("https://[fd00:ec2::254]/", "a cloud metadata address"),
        ("https://169.254.10.1/", "a link-local address"),
        ("https://[fe80::1]/", "a link-local address"),
        ("https://10.0.0.8/", "a private address"),
        ("https://172.16.5.4/", "a private address"),
        ("https://192.168.1.1/", "a private address"),
        ("https://[fc00::1]/", "a private address"),
        ("https://0.0.0.0/", "an unspecified address"),
        ("https://[::]/", "an unspecified address"),
        ("https://224.0.0.1/", "a multicast address"),
        ("https://[ff02::1]/", "a multicast address"),
        ("https://100.64.0.1/", "not a public address"),
    ],
)
def test_addresses_inside_the_network_are_refused_unless_allowed(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match="--allow-private-network") as refused:
        check_url(url, DEFAULT)
    assert reason.removeprefix("an ").removeprefix("a ") in str(refused.value)
    assert check_url(url, Reach(private_network=True)).address is not None


def test_public_https_urls_pass_and_keep_their_port() -> None:
    target = check_url("https://hooks.example.com/scim", DEFAULT)
    assert (target.scheme, target.host, target.port, target.address) == (
        "https",
        "hooks.example.com",
        443,
        None,
    )
    assert check_url("https://93.184.215.14:8443/x", DEFAULT).port == 8443
    assert refusal(ipaddress.ip_address("2606:4700::1111")) is None


def test_plain_http_needs_insecure_http() -> None:
    with pytest.raises(TargetRefused, match="--insecure-http"):
        check_url("http://hooks.example.com/", DEFAULT)
    assert check_url("http://hooks.example.com/", Reach(insecure_http=True)).port == 80


@pytest.mark.parametrize(
    "url", ["https://user:pass@hooks.example.com/", "https://token@hooks.example.com/"]
)
def test_credentials_in_urls_are_refused_whatever_is_allowed(url: str) -> None:
    with pytest.raises(TargetRefused, match="credentials"):
        check_url(url, EVERYTHING)


@pytest.mark.parametrize(
    "url", ["ftp://x/", "https:///nohost", "hooks.example.com", "https://h:x/"]
)
def test_what_is_no_http_url_is_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, EVERYTHING)


def test_a_resolved_address_is_judged_by_the_same_rules() -> None:
    with pytest.raises(TargetRefused, match=r"hooks\.example\.com \(169\.254\.169\.254\)"):
        check_address("hooks.example.com", ipaddress.ip_address("169.254.169.254"), DEFAULT)
    check_address("hooks.example.com", ipaddress.ip_address("127.0.0.1"), EVERYTHING)
    check_address("hooks.example.com", ipaddress.ip_address("93.184.215.14"), DEFAULT)


def test_credentials_are_masked_for_display() -> None:
    assert mask("https://ops:hunter2@h.example/x?y=1") == "https://***@h.example/x?y=1"
    assert mask("https://h.example/x") == "https://h.example/x"
