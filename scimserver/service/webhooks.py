"""Webhook subscriptions: add, list, remove, rotate the secret, test, redeliver.

A new subscription starts at its tenant's current change-log head: it receives the
changes committed after it was added, never a backfill of older ones (read those from
``/Users``, ``/Groups`` and the change feed).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scimserver.scim.changes import EVENT_TYPES
from scimserver.scim.targets import Address, Reach, TargetRefused, check_address, check_url, mask
from scimserver.scim.versions import now
from scimserver.service.delivery import Formatter, Result, Sender
from scimserver.service.egress import Resolve, system_resolve
from scimserver.service.signatures import new_secret
from scimserver.store.db import Database
from scimserver.store.models import DeadLetter, DeliveryAttempt, Subscription
from scimserver.store.webhooks import ACTIVE, WebhookRepository

DEFAULT_REACH = Reach()
"""https only, public addresses only."""


class WebhookError(ValueError):
    """A webhook command was given something it cannot use."""


@dataclass(frozen=True)
class SubscriptionInfo:
    id: str
    tenant: str
    url: str
    """The URL with any credentials masked (rows from before they were refused)."""
    format: str
    events: list[str] | None
    state: str
    cursor: int
    attempts: int
    max_attempts: int
    created: datetime
    previous_expires_at: datetime | None
    insecure_http: bool
    private_network: bool

    @property
    def flags(self) -> list[str]:
        """What the subscription was allowed beyond the defaults, for every listing."""
        allowed = [(self.insecure_http, "insecure-http"), (self.private_network, "private-network")]
        return [name for granted, name in allowed if granted]


@dataclass(frozen=True)
class Attempt:
    """One POST of one change to a subscription, and what came of it."""

    change_seq: int
    change_id: str
    attempt: int
    time: datetime
    status: int | None
    error: str | None
    duration_ms: int
    outcome: str
    """delivered, retry or parked."""


@dataclass(frozen=True)
class Parked:
    """A change a subscription gave up on (a dead letter); ``queued`` once redelivered."""

    change_seq: int
    change_id: str
    parked_at: datetime
    reason: str
    queued: bool


@dataclass(frozen=True)
class DeliveryState:
    """A subscription as the console shows it: how far behind, what failed, what is parked."""

    info: SubscriptionInfo
    lag: int
    """Changes committed after the subscription's cursor."""
    next_attempt_at: datetime
    last_attempt: Attempt | None
    dead_letters: list[Parked]

    @property
    def due_at(self) -> datetime | None:
        """When the worker tries next; None while nothing waits for it (or it is parked)."""
        if self.lag == 0 or self.info.state != ACTIVE:
            return None
        return self.next_attempt_at


def parse_events(text: str | None) -> list[str] | None:
    """``user.deactivated,user.deleted`` as a list; None (every type) when empty."""
    if not text:
        return None
    events = sorted({part.strip() for part in text.split(",") if part.strip()})
    unknown = [event for event in events if event not in EVENT_TYPES]
    if unknown:
        raise WebhookError(
            f"Unknown event type(s) {', '.join(unknown)}; use {', '.join(EVENT_TYPES)}."
        )
    return events or None


class WebhookService:
    def __init__(
        self,
        db: Database,
        formatters: dict[str, Formatter],
        max_attempts: int,
        timeout: float,
        resolve: Resolve = system_resolve,
    ) -> None:
        self.db = db
        self.formatters = formatters
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.resolve = resolve

    def add(
        self,
        url: str,
        tenant_id: int,
        fmt: str,
        events: Sequence[str] | None,
        full: bool = False,
        reach: Reach = DEFAULT_REACH,
    ) -> tuple[SubscriptionInfo, str]:
        """Subscribe ``url`` from the tenant's current head; returns the secret, once.

        ``full`` (``set`` format only) sends full-mode SETs: the resource or the PatchOp.
        ``reach`` allows plain http and the private network (see ``scim.targets``); the
        worker checks the addresses again at every connection.
        """
        url = self._check_target(url, reach)
        if fmt not in self.formatters:
            raise WebhookError(f"Format must be one of {', '.join(sorted(self.formatters))}.")
        if full and fmt != "set":
            raise WebhookError("--full is for the set format (RFC 9967 full-mode SETs).")
        created = now()
        secret = new_secret()
        with self.db.write() as session:
            repo = WebhookRepository(session)
            row = Subscription(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                url=url,
                format=fmt,
                events=list(events) if events is not None else None,
                full=full,
                insecure_http=reach.insecure_http,
                private_network=reach.private_network,
                secret=secret,
                state=ACTIVE,
                max_attempts=self.max_attempts,
                created=created,
                cursor=repo.head(tenant_id),
                attempts=0,
                next_attempt_at=created,
                lease_until=created,
            )
            repo.add(row)
        return self._one(row.id), secret

    def listing(self, tenant_id: int | None = None) -> list[SubscriptionInfo]:
        with self.db.read() as session:
            rows = WebhookRepository(session).listing(tenant_id)
            return [_info(row, tenant) for row, tenant in rows]

    def states(self, tenant_id: int | None = None) -> list[DeliveryState]:
        """Subscriptions (of one tenant or all) with their lag, last attempt, dead letters."""
        with self.db.read() as session:
            repo = WebhookRepository(session)
            return [
                DeliveryState(
                    _info(row, tenant),
                    max(repo.head(row.tenant_id) - row.cursor, 0),
                    row.next_attempt_at,
                    _last_attempt(repo, row.id),
                    [_parked(letter) for letter in repo.dead_letters(row.id)],
                )
                for row, tenant in repo.listing(tenant_id)
            ]

    def remove(self, subscription_id: str) -> None:
        with self.db.write() as session:
            if not WebhookRepository(session).remove(subscription_id):
                raise WebhookError(f"No webhook {subscription_id!r}.")

    def rotate(self, subscription_id: str, overlap: timedelta) -> str:
        """A new secret; the old one keeps signing beside it for ``overlap``."""
        secret = new_secret()
        with self.db.write() as session:
            row = self._get(WebhookRepository(session), subscription_id)
            row.previous_secret = row.secret
            row.previous_expires_at = now() + overlap
            row.secret = secret
        return secret

    def redeliver(self, subscription_id: str) -> int:
        """Queue the parked changes again; the worker sends them before moving on."""
        with self.db.write() as session:
            repo = WebhookRepository(session)
            self._get(repo, subscription_id)
            return repo.requeue(subscription_id)

    def test(self, subscription_id: str) -> Result:
        """Send a ``webhook.test`` event now, outside the change log, and report the answer."""
        with self.db.read() as session:
            row = self._get(WebhookRepository(session), subscription_id)
        formatter = self.formatters[row.format]
        sender = Sender(self.timeout, self.resolve)
        try:
            return sender.send(row.url, formatter.test(row), formatter, _reach(row))
        finally:
            sender.close()

    def dead_letters(self, subscription_id: str) -> list[Parked]:
        with self.db.read() as session:
            return [
                _parked(row) for row in WebhookRepository(session).dead_letters(subscription_id)
            ]

    def attempts(self, subscription_id: str) -> list[Attempt]:
        with self.db.read() as session:
            return [_attempt(row) for row in WebhookRepository(session).attempts(subscription_id)]

    def _check_target(self, url: str, reach: Reach) -> str:
        """The URL to store, checked as the worker will; a host name's addresses too."""
        try:
            target = check_url(url, reach)
            if target.address is None:
                for address in self._addresses(target.host, target.port):
                    check_address(target.host, address, reach)
        except TargetRefused as exc:
            raise WebhookError(str(exc)) from None
        return target.url

    def _addresses(self, host: str, port: int) -> list[Address]:
        """What ``host`` resolves to now; none when it does not (yet): the worker checks."""
        try:
            return self.resolve(host, port)
        except OSError:
            return []

    def _one(self, subscription_id: str) -> SubscriptionInfo:
        return next(info for info in self.listing() if info.id == subscription_id)

    @staticmethod
    def _get(repo: WebhookRepository, subscription_id: str) -> Subscription:
        row = repo.find(subscription_id)
        if row is None:
            raise WebhookError(f"No webhook {subscription_id!r}.")
        return row


def _reach(row: Subscription) -> Reach:
    return Reach(row.insecure_http, row.private_network)


def _info(row: Subscription, tenant: str) -> SubscriptionInfo:
    return SubscriptionInfo(
        row.id,
        tenant,
        mask(row.url),
        row.format,
        row.events,
        row.state,
        row.cursor,
        row.attempts,
        row.max_attempts,
        row.created,
        row.previous_expires_at,
        row.insecure_http,
        row.private_network,
    )


def _last_attempt(repo: WebhookRepository, subscription_id: str) -> Attempt | None:
    row = repo.last_attempt(subscription_id)
    return None if row is None else _attempt(row)


def _attempt(row: DeliveryAttempt) -> Attempt:
    return Attempt(
        row.change_seq,
        row.change_id,
        row.attempt,
        row.time,
        row.status,
        row.error,
        row.duration_ms,
        row.outcome,
    )


def _parked(row: DeadLetter) -> Parked:
    return Parked(row.change_seq, row.change_id, row.parked_at, row.reason, row.queued)
