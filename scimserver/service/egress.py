"""The webhook sender's network: every connection to a checked address, within a deadline.

``GuardedBackend`` is the httpcore network backend of one ``Channel``: it resolves the
host itself, refuses the connection when any resolved address is one the subscription
may not reach (``scim.targets``), and connects to an address it checked. httpcore still
sends the URL's host as ``Host`` and as the TLS server name, so the certificate is
checked against the name while the socket goes to the address checked: a name that
resolves elsewhere a moment later (DNS rebinding) cannot move the connection.

Every step of an attempt (resolving, connecting, the TLS handshake, each write and each
read) gets at most the time left before the attempt's ``Deadline``: a receiver that
trickles its answer a byte at a time is cut off at the deadline, not per read.

Exceptions: ``TargetRefused`` (from ``scim.targets``) for a refused address;
``DeadlineExceeded`` (an httpcore ``TimeoutException``) once the deadline passed; httpcore's
``ConnectTimeout`` and ``ConnectError`` for a name that does not resolve in time or at
all; httpcore's own errors from the exchange.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import httpcore

from scimserver.scim.targets import Address, Reach, check_address

Resolve = Callable[[str, int], list[Address]]
"""A host name and port to the addresses to try, in order."""

WRITE_CHUNK = 16 * 1024
"""Bytes written under one timeout, so a receiver reading slowly meets the deadline too."""


def system_resolve(host: str, port: int) -> list[Address]:
    """The addresses the system resolver gives for ``host``, without duplicates."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class DeadlineExceeded(httpcore.TimeoutException):
    """The attempt ran out of time, whichever step it was at."""


class Deadline:
    """A point in (monotonic) time an attempt must be over by."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def left(self, timeout: float | None = None) -> float:
        """The time left, or ``timeout`` if shorter; a timeout error once none is left."""
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded(f"no answer within {self.seconds:g} s")
        return remaining if timeout is None else min(timeout, remaining)


class GuardedBackend(httpcore.NetworkBackend):
    """Connects to checked addresses only; ``deadline`` is set before each attempt."""

    def __init__(self, reach: Reach, resolve: Resolve, resolver: Executor) -> None:
        self.reach = reach
        self.resolve = resolve
        self.resolver = resolver
        self.deadline = Deadline(0)
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._addresses(host, port)
        for address in addresses:
            check_address(host, address, self.reach)
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                stream = self.inner.connect_tcp(
                    str(address), port, self.deadline.left(timeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return DeadlineStream(stream, self)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are not sent to unix sockets")

    def _addresses(self, host: str, port: int) -> list[Address]:
        """``resolve(host)``, given no more than the time left before the deadline."""
        pending = self.resolver.submit(self.resolve, host, port)
        try:
            return pending.result(timeout=self.deadline.left())
        except FutureTimeout:
            pending.cancel()
            raise httpcore.ConnectTimeout(f"{host} did not resolve in time") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from None


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation ends by its backend's current deadline."""

    def __init__(self, inner: httpcore.NetworkStream, backend: GuardedBackend) -> None:
        self.inner = inner
        self.backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self.backend.deadline.left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), WRITE_CHUNK):
            piece = buffer[start : start + WRITE_CHUNK]
            self.inner.write(piece, self.backend.deadline.left(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        secured = self.inner.start_tls(
            ssl_context, server_hostname, self.backend.deadline.left(timeout)
        )
        return DeadlineStream(secured, self.backend)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)
