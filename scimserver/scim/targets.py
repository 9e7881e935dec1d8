"""Where a webhook may be sent: the URL rules and the address rules, without any IO.

A target URL is ``https`` (``http`` only for a subscription added with
``--insecure-http``), names a host and carries no credentials. An address is refused,
unless the subscription allows the private network, when it is not a public unicast
address: loopback, link-local (cloud metadata services live there), private, shared
(CGNAT), unspecified, multicast, reserved or documentation ranges, and IPv6 forms that
embed an IPv4 address (mapped, NAT64, 6to4), judged by that address. A host written as
a number in any form ``inet_aton`` accepts (``2130706433``, ``0x7f000001``, ``127.1``,
``0177.0.0.1``) is read as the address it means, since that is where a resolver would
send it.

Service code resolves host names, checks every address with ``refusal`` and connects
only to an address it checked.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_RANGES: tuple[tuple[str, str], ...] = (
    ("unspecified", "is_unspecified"),
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("multicast", "is_multicast"),
    ("private", "is_private"),
    ("reserved", "is_reserved"),
)


class TargetRefused(ValueError):
    """A webhook URL or address the subscription may not be sent to."""


@dataclass(frozen=True)
class Reach:
    """What a subscription was allowed when it was added."""

    insecure_http: bool = False
    private_network: bool = False


@dataclass(frozen=True)
class Target:
    """A checked URL: its scheme, host (an address when written as one) and port."""

    url: str
    scheme: str
    host: str
    port: int
    address: Address | None


def check_url(url: str, reach: Reach) -> Target:
    """The target of ``url``, or ``TargetRefused`` saying why it cannot be one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"A webhook URL must be https://host/...; not {mask(url)!r}.")
    if parts.scheme == "http" and not reach.insecure_http:
        raise TargetRefused(
            "A webhook URL must be https: changes carry personal data. "
            "Add it with --insecure-http to send it in clear anyway."
        )
    if parts.username is not None or parts.password is not None:
        raise TargetRefused(
            "A webhook URL must not carry credentials (user:password@); "
            "the receiver verifies the signature instead."
        )
    port = _port(parts)
    address = literal_address(parts.hostname)
    if address is not None and not reach.private_network:
        reason = refusal(address)
        if reason is not None:
            raise TargetRefused(_refused_text(parts.hostname, reason))
    return Target(url.strip(), parts.scheme, parts.hostname, port, address)


def check_address(host: str, address: Address, reach: Reach) -> None:
    """``TargetRefused`` when ``host`` resolved to an address the subscription may not reach."""
    if reach.private_network:
        return
    reason = refusal(address)
    if reason is not None:
        raise TargetRefused(_refused_text(f"{host} ({address})", reason))


def refusal(address: Address) -> str | None:
    """Why a webhook may not be sent to ``address`` by default; None for a public one."""
    if address in METADATA:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = refusal(embedded)
            return f"an IPv6 form of {inner}" if inner else None
    for name, test in _RANGES:
        if getattr(address, test):
            return f"a {name} address"
    if not address.is_global:
        return "not a public address"
    return None


def literal_address(host: str) -> Address | None:
    """The address ``host`` is written as (any ``inet_aton`` form for IPv4), else None."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return _inet_aton(bare)


def mask(url: str) -> str:
    """``url`` with any credentials replaced by ``***``: safe to show and log."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"***@{host}").geturl()


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"A webhook URL needs a valid port: {exc}.") from None
    return port if port is not None else (443 if parts.scheme == "https" else 80)


def _refused_text(what: str, reason: str) -> str:
    return (
        f"{what} is {reason}; webhooks are not sent inside the server's network. "
        "Add it with --allow-private-network if the receiver really lives there."
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """``inet_aton``'s reading: 1 to 4 parts, each decimal, 0x-hex or 0-octal; the last
    part fills the remaining bytes (``127.1`` is 127.0.0.1, ``2130706433`` is too)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    try:
        numbers = [_number(part) for part in parts]
    except ValueError:
        return None
    *leading, last = numbers
    if any(n > 0xFF for n in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    value = last
    for index, number in enumerate(leading):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int:
    lowered = part.lower()
    if lowered.startswith("0x"):
        return int(lowered[2:] or "0", 16)
    if len(lowered) > 1 and lowered.startswith("0"):
        return int(lowered[1:], 8)
    if not lowered.isdigit():
        raise ValueError(part)
    return int(lowered)
