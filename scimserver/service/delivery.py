"""Turning a change into an HTTP request for a subscription, and judging the answer.

A format (``Formatter``) splits a transaction's changes into units (one change each for
``json``; one resource's changes for ``set``), renders a unit as a ``Message`` and
decides what a receiver's status means: delivered, retry later, or reject (park at
once, retrying cannot help). ``Sender`` POSTs a message within a wall-clock deadline
per attempt, reads at most ``MAX_ANSWER_BYTES`` of the answer, connects only to
addresses the subscription may reach (``service.egress``), never follows a redirect,
and reports the ``Result``; it never raises for a receiver's failure. The ``json``
format is the Standard Webhooks one; the RFC 8935 ``set`` format plugs in beside it as
another ``Formatter``.
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import certifi
import httpcore

from scimserver.scim.targets import Reach, TargetRefused, check_url
from scimserver.scim.versions import now, timestamp
from scimserver.service.changes import change_json
from scimserver.service.egress import (
    Deadline,
    DeadlineExceeded,
    GuardedBackend,
    Resolve,
    system_resolve,
)
from scimserver.service.signatures import signature_header
from scimserver.store.models import Change, Subscription

TEST_EVENT = "webhook.test"


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECT = "reject"


@dataclass(frozen=True)
class Message:
    """One POST: its id (its first change's id), headers and body."""

    id: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    status: int | None
    error: str | None
    duration_ms: int
    error_class: str | None = None
    """The kind of failure when there was no answer: ``DeadlineExceeded``, ``TargetRefused``…"""

    @property
    def summary(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else f"error: {self.error}"


class Formatter(Protocol):
    def units(self, changes: Sequence[Change]) -> list[list[Change]]:
        """The changes of one transaction, oldest first, split into what one message
        each carries, in the order they go out."""
        ...

    def render(self, subscription: Subscription, unit: Sequence[Change]) -> Message: ...

    def test(self, subscription: Subscription) -> Message: ...

    def verdict(self, status: int, body: bytes) -> Verdict: ...


def signing_keys(subscription: Subscription) -> list[str]:
    """The current secret, plus the previous one while its overlap lasts."""
    keys = [subscription.secret]
    expires = subscription.previous_expires_at
    if subscription.previous_secret and expires is not None and expires > now():
        keys.append(subscription.previous_secret)
    return keys


class JsonFormatter:
    """Standard Webhooks: ``{"type", "timestamp", "data": <the feed's change JSON>}``."""

    def __init__(self, namings: Mapping[str, str | None]) -> None:
        self.namings = namings

    def units(self, changes: Sequence[Change]) -> list[list[Change]]:
        return [[change] for change in changes]  # one event per change: a public interface

    def render(self, subscription: Subscription, unit: Sequence[Change]) -> Message:
        (change,) = unit
        event = {"type": change.type, "timestamp": timestamp(change.time)}
        return self._message(
            subscription, change.id, {**event, "data": change_json(change, self.namings)}
        )

    def test(self, subscription: Subscription) -> Message:
        event = {"type": TEST_EVENT, "timestamp": timestamp(now())}
        data = {"subscription": subscription.id}
        return self._message(subscription, f"test_{uuid.uuid4()}", {**event, "data": data})

    def verdict(self, status: int, body: bytes) -> Verdict:
        return Verdict.DELIVERED if 200 <= status < 300 else Verdict.RETRY

    @staticmethod
    def _message(subscription: Subscription, message_id: str, event: object) -> Message:
        body = json.dumps(event, separators=(",", ":")).encode()
        sent = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(sent),
            "webhook-signature": signature_header(
                signing_keys(subscription), message_id, sent, body
            ),
        }
        return Message(message_id, headers, body)


MAX_ANSWER_BYTES = 64 * 1024
"""How much of a receiver's answer is read; the status decides, the body only explains."""
_FAILURES = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError)


class Sender:
    """Opens ``Channel``s: POSTs bounded by a wall-clock ``deadline`` per attempt.

    ``resolve`` turns a host name into addresses (the system resolver by default);
    ``ssl_context`` verifies receivers' certificates (certifi's roots by default).
    """

    def __init__(
        self,
        deadline: float,
        resolve: Resolve = system_resolve,
        ssl_context: ssl.SSLContext | None = None,
        resolvers: int = 4,
    ) -> None:
        self.deadline = deadline
        self.resolve = resolve
        # One context for every connection: building one loads the whole CA bundle.
        self.ssl_context = ssl_context or ssl.create_default_context(cafile=certifi.where())
        self.resolver = ThreadPoolExecutor(resolvers, thread_name_prefix="webhook-dns")

    def channel(self, reach: Reach) -> Channel:
        """Connections for one subscription's deliveries, used by one thread at a time."""
        return Channel(self, GuardedBackend(reach, self.resolve, self.resolver))

    def send(self, url: str, message: Message, formatter: Formatter, reach: Reach) -> Result:
        """One POST on a channel of its own."""
        with self.channel(reach) as channel:
            return channel.send(url, message, formatter)

    def close(self) -> None:
        self.resolver.shutdown(wait=False, cancel_futures=True)


class Channel:
    """One subscription's connection pool; never raises for a receiver's failure."""

    def __init__(self, sender: Sender, backend: GuardedBackend) -> None:
        self.sender = sender
        self.backend = backend
        self.pool = httpcore.ConnectionPool(
            ssl_context=sender.ssl_context, max_connections=1, network_backend=backend
        )

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.pool.close()

    def send(self, url: str, message: Message, formatter: Formatter) -> Result:
        started = time.monotonic()
        try:
            check_url(url, self.backend.reach)
        except TargetRefused as exc:
            return _failed(Verdict.REJECT, exc, started)
        deadline = self.backend.deadline = Deadline(self.sender.deadline)
        try:
            status, answer = self._post(url, message)
        except TargetRefused as exc:
            return _failed(Verdict.RETRY, exc, started)
        except _FAILURES as exc:
            late = DeadlineExceeded(f"no answer within {deadline.seconds:g} s")
            return _failed(Verdict.RETRY, late if deadline.passed else exc, started)
        return Result(formatter.verdict(status, answer), status, None, _since(started))

    def _post(self, url: str, message: Message) -> tuple[int, bytes]:
        """The status and up to ``MAX_ANSWER_BYTES`` of the body; the rest is never read."""
        timeout = self.sender.deadline
        extensions = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)}
        with self.pool.stream(
            "POST",
            url,
            headers=list(message.headers.items()),
            content=message.body,
            extensions=extensions,
        ) as response:
            answer = bytearray()
            for chunk in response.iter_stream():
                answer += chunk[: MAX_ANSWER_BYTES - len(answer)]
                if len(answer) >= MAX_ANSWER_BYTES:
                    break
            return response.status, bytes(answer)


def _failed(verdict: Verdict, exc: Exception, started: float) -> Result:
    kind = type(exc).__name__
    return Result(verdict, None, f"{kind}: {exc}"[:500], _since(started), kind)


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
