"""Turning a change into an HTTP request for a subscription, and judging the answer.

A format (``Formatter``) renders a change as a ``Message`` and decides what a receiver's
status means: delivered, retry later, or reject (park at once, retrying cannot help).
``Sender`` POSTs a message with timeouts and reports the ``Result``; it never raises for
a receiver's failure. The ``json`` format is the Standard Webhooks one; the RFC 8935
``set`` format plugs in beside it as another ``Formatter``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import httpx

from scimserver.scim.versions import now, timestamp
from scimserver.service.changes import change_json
from scimserver.service.signatures import signature_header
from scimserver.store.models import Change, Subscription

TEST_EVENT = "webhook.test"


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECT = "reject"


@dataclass(frozen=True)
class Message:
    """One POST: its id (the change id), headers and body."""

    id: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    status: int | None
    error: str | None
    duration_ms: int

    @property
    def summary(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else f"error: {self.error}"


class Formatter(Protocol):
    def render(self, subscription: Subscription, change: Change) -> Message: ...

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

    def render(self, subscription: Subscription, change: Change) -> Message:
        event = {"type": change.type, "timestamp": timestamp(change.time)}
        return self._message(subscription, change.id, {**event, "data": change_json(change)})

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


class Sender:
    """POSTs messages over one connection pool, with a timeout for each request."""

    def __init__(self, timeout: float) -> None:
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)

    def send(self, url: str, message: Message, formatter: Formatter) -> Result:
        started = time.monotonic()
        try:
            response = self.client.post(url, content=message.body, headers=message.headers)
        except httpx.HTTPError as exc:
            return Result(Verdict.RETRY, None, _describe(exc), _since(started))
        verdict = formatter.verdict(response.status_code, response.content)
        return Result(verdict, response.status_code, None, _since(started))

    def close(self) -> None:
        self.client.close()


def _describe(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
