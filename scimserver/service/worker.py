"""The delivery worker: pushes each subscription's changes, in seq order, at least once.

One loop: claim a due subscription (a lease, see ``store.webhooks``), deliver its next
changes one message at a time, release it. A message carries one unit of a transaction's
changes (``json``: one change; ``set``: what the transaction did to one resource, see
``Formatter.units``) and is settled in one transaction after the receiver answered: the
attempt is recorded and, on a 2xx, the cursor moves past the unit. A
failure leaves the cursor where it is and defers the subscription by an exponential
backoff with full jitter, so its next change cannot overtake the failed one; after
``max_attempts`` failures (or a rejection) the change is parked in the dead-letter list
and the cursor moves on. Parked changes queued by ``redeliver`` go first, in seq order.

Killed mid-delivery, a worker leaves the cursor behind the change it was sending; once
its lease lapses another worker sends that change again (at least once, never lost).

``run`` delivers up to ``concurrency`` subscriptions at once, each in a thread of its
own: a slow receiver holds its own subscription (for at most the sender's deadline per
attempt, shorter than the lease) and one slot, never the others. A slot is free before
its subscription is claimed, so no claimed lease waits in a queue.

Each failed attempt and each parked change is one log record (``webhook.attempt_failed``,
``webhook.parked``) with the subscription, tenant, attempt, status or error class and the
next attempt's time as fields: never the secret, the URL's credentials or the payload.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from scimserver.scim.targets import Reach
from scimserver.scim.versions import now, timestamp
from scimserver.service.changes import prune
from scimserver.service.delivery import Channel, Formatter, Result, Sender, Verdict
from scimserver.store.db import Database
from scimserver.store.models import Change, DeadLetter, DeliveryAttempt, Subscription
from scimserver.store.webhooks import WebhookRepository

log = logging.getLogger(__name__)

MAX_EXPONENT = 32
PRUNE_INTERVAL = 3600.0
BATCH = 100
"""Changes one claim may deliver before the subscription goes back in the queue."""


@dataclass(frozen=True)
class Policy:
    """Retry timing (seconds), the lease, the idle poll and change-log retention."""

    backoff_base: float
    backoff_cap: float
    lease: timedelta
    poll: float
    retention: timedelta
    concurrency: int = 4
    """Subscriptions one worker delivers at once (threads)."""


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt - 1))]."""
    ceiling = min(cap, base * 2 ** min(max(attempt - 1, 0), MAX_EXPONENT))
    return rng.uniform(0, ceiling)


@dataclass
class _Due:
    """What a subscription must deliver next: one message's changes (a unit), its dead
    letter if redelivered, and where the cursor goes once it is handled."""

    unit: list[Change]
    letter: DeadLetter | None
    through: int | None
    """The cursor after this unit (None for a dead letter: the cursor stays)."""

    @property
    def change(self) -> Change:
        """The change attempts and dead letters name: the unit's first."""
        return self.unit[0]


class Worker:
    def __init__(
        self,
        db: Database,
        formatters: dict[str, Formatter],
        sender: Sender,
        policy: Policy,
        chores: Callable[[], object] | None = None,
    ) -> None:
        self.db = db
        self.chores = chores
        """Background work run between claims, in bounded steps (settling access rules
        edits, ``service.access.run_all_jobs``): never inside a client's request."""
        self.formatters = formatters
        self.sender = sender
        self.policy = policy
        self.owner = f"worker-{uuid.uuid4()}"
        self._claims = itertools.count(1)
        self.rng = random.SystemRandom()
        self._pruned_at = float("-inf")

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; sleep ``poll`` seconds whenever nothing is due."""
        log.info("%s started", self.owner)
        slots = threading.BoundedSemaphore(self.policy.concurrency)
        with ThreadPoolExecutor(self.policy.concurrency, "webhook") as pool:
            while not stop.is_set():
                if not slots.acquire(timeout=self.policy.poll):
                    continue  # every slot busy
                claimed = self._next_claim()
                if claimed is None:
                    slots.release()
                    stop.wait(self.policy.poll)
                    continue
                pool.submit(self._work_in_slot, claimed, slots)
        log.info("%s stopped", self.owner)

    def close(self) -> None:
        self.sender.close()

    def step(self) -> bool:
        """Claim one due subscription and deliver its changes here; False if none was due."""
        claimed = self._claim()
        if claimed is None:
            return False
        self._work(claimed)
        return True

    def _next_claim(self) -> _Claimed | None:
        try:
            self._prune_when_due()
            if self.chores is not None:
                self.chores()
            return self._claim()
        except Exception:
            log.exception("%s: claiming failed; retrying after a pause", self.owner)
            return None

    def _work_in_slot(self, claimed: _Claimed, slots: threading.BoundedSemaphore) -> None:
        try:
            self._work(claimed)
        except Exception:
            log.exception("%s: delivery to %s failed", self.owner, claimed.subscription.id)
        finally:
            slots.release()

    def _claim(self) -> _Claimed | None:
        moment = now()
        with self.db.write() as session:
            repo = WebhookRepository(session)
            # A lease owner per claim, not per worker: should a lease lapse while one of
            # this worker's threads still delivers, the fences of that thread fail once
            # another thread (of this worker or another) claims the subscription again.
            owner = f"{self.owner}/{next(self._claims)}"
            found = repo.claim(owner, moment, moment + self.policy.lease)
            if found is None:
                return None
            return _Claimed(found, repo.tenant_name(found.tenant_id), owner)

    def _work(self, claimed: _Claimed) -> None:
        """Deliver the claimed subscription's due changes, then give its lease back."""
        subscription = claimed.subscription
        reach = Reach(subscription.insecure_http, subscription.private_network)
        try:
            with self.sender.channel(reach) as channel:
                self._deliver(claimed, channel)
        finally:
            with self.db.write() as session:
                WebhookRepository(session).fence(
                    subscription.id, claimed.owner, lease_owner=None, lease_until=now()
                )

    def _deliver(self, claimed: _Claimed, channel: Channel) -> None:
        subscription = claimed.subscription
        formatter = self.formatters.get(subscription.format)
        if formatter is None:
            log.error("webhook %s: no formatter for %r", subscription.id, subscription.format)
            return
        for _ in range(BATCH):
            dues = self._next(claimed, formatter)
            if not dues:
                return
            for due in dues:
                message = formatter.render(subscription, due.unit)
                result = channel.send(subscription.url, message, formatter)
                if not self._settle(claimed, due, result):
                    return

    def _next(self, claimed: _Claimed, formatter: Formatter) -> list[_Due]:
        """The queued dead letter with the lowest seq, else the units of the next
        transaction past the cursor that are still to go out, in order.

        The formatter splits a transaction into units (``set``: one per resource), and
        the cursor moves to a unit's first change once it is handled, or past the
        transaction after its last unit: so the units still due are those whose first
        change lies past the cursor, and a transaction whose units all went out advances
        the cursor past its remaining changes, sending nothing. With nothing left, the
        cursor jumps to the head read before the query: seq is assigned in commit order,
        so no change at or below it can still appear.
        """
        subscription = claimed.subscription
        with self.db.write() as session:
            repo = WebhookRepository(session)
            letter = repo.next_queued(subscription.id)
            while letter is not None:
                change = repo.change(subscription.tenant_id, letter.change_seq)
                if change is not None:
                    units = formatter.units(repo.transaction(change, subscription.events))
                    unit = next((u for u in units if u[0].seq == change.seq), [change])
                    return [_Due(unit, letter, None)]
                log.warning(
                    "webhook %s: seq %s is past retention", subscription.id, letter.change_seq
                )
                repo.discard(letter.id)
                letter = repo.next_queued(subscription.id)
            head = repo.head(subscription.tenant_id)
            while found := repo.changes(
                subscription.tenant_id, subscription.cursor, head, subscription.events, 1
            ):
                changes = repo.transaction(found[0], subscription.events)
                due = [u for u in formatter.units(changes) if u[0].seq > subscription.cursor]
                if due:
                    last = len(due) - 1
                    ends = [u[0].seq for u in due[:last]] + [changes[-1].seq]
                    return [_Due(u, None, end) for u, end in zip(due, ends, strict=True)]
                if not self._advance(repo, claimed, changes[-1].seq):
                    return []
            if head > subscription.cursor:
                self._advance(repo, claimed, head)
            return []

    @staticmethod
    def _advance(repo: WebhookRepository, claimed: _Claimed, cursor: int) -> bool:
        """Move the cursor (fenced on the lease); False when the lease is lost."""
        if not repo.fence(claimed.subscription.id, claimed.owner, cursor=cursor):
            return False
        claimed.subscription.cursor = cursor
        return True

    def _settle(self, claimed: _Claimed, due: _Due, result: Result) -> bool:
        """Record the attempt and move on (True), or defer the subscription (False)."""
        subscription = claimed.subscription
        attempt = subscription.attempts + 1
        if result.verdict is Verdict.DELIVERED:
            outcome = "delivered"
        elif result.verdict is Verdict.REJECT or attempt >= subscription.max_attempts:
            outcome = "parked"
        else:
            outcome = "retry"
        progress = self._progress(subscription, due, outcome)
        with self.db.write() as session:
            repo = WebhookRepository(session)
            if not repo.fence(subscription.id, claimed.owner, **progress):
                log.warning("webhook %s: lease lost; leaving it", subscription.id)
                return False
            repo.record(_attempt(subscription, due.change, attempt, result, outcome))
            if outcome == "parked":
                repo.park(subscription.id, due.change, result.summary, now())
            elif outcome == "delivered" and due.letter is not None:
                repo.discard(due.letter.id)
        self._remember(subscription, due, outcome)
        if outcome != "delivered":
            _log_failure(claimed, due, attempt, result, outcome, progress.get("next_attempt_at"))
        return outcome != "retry"

    def _progress(self, subscription: Subscription, due: _Due, outcome: str) -> dict[str, object]:
        """The subscription's new state after an attempt at ``due``."""
        moment = now()
        if outcome == "retry":
            attempts = subscription.attempts + 1
            delay = backoff(attempts, self.policy.backoff_base, self.policy.backoff_cap, self.rng)
            return {"attempts": attempts, "next_attempt_at": moment + timedelta(seconds=delay)}
        values: dict[str, object] = {"attempts": 0, "lease_until": moment + self.policy.lease}
        if due.through is not None:
            values["cursor"] = due.through
        return values

    def _remember(self, subscription: Subscription, due: _Due, outcome: str) -> None:
        if outcome == "retry":
            subscription.attempts += 1
            return
        subscription.attempts = 0
        if due.through is not None:
            subscription.cursor = due.through

    def _prune_when_due(self) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_INTERVAL:
            return
        self._pruned_at = time.monotonic()
        with self.db.read() as session:
            tenants = WebhookRepository(session).tenant_ids()
        removed = prune(self.db, tenants, self.policy.retention)
        if removed:
            log.info("pruned %d changes past retention", removed)


@dataclass(frozen=True)
class _Claimed:
    """A subscription this worker holds the lease of, and its tenant's name (for logs)."""

    subscription: Subscription
    tenant: str
    owner: str
    """The lease owner of this claim: every write of its delivery is fenced on it."""


def _log_failure(
    claimed: _Claimed,
    due: _Due,
    attempt: int,
    result: Result,
    outcome: str,
    next_attempt_at: object,
) -> None:
    """One record per failed attempt, and one more when the change is parked."""
    subscription = claimed.subscription
    fields: dict[str, object] = {
        "event": "webhook.attempt_failed",
        "subscription": subscription.id,
        "tenant": claimed.tenant,
        "change_seq": due.change.seq,
        "attempt": attempt,
        "max_attempts": subscription.max_attempts,
        "status": result.status,
        "error": result.error_class,
        "duration_ms": result.duration_ms,
        "outcome": outcome,
        "next_attempt_at": (
            timestamp(next_attempt_at) if isinstance(next_attempt_at, datetime) else None
        ),
    }
    what = f"HTTP {result.status}" if result.status is not None else result.error_class
    log.warning(
        "webhook %s: attempt %d at change %d failed (%s)",
        subscription.id,
        attempt,
        due.change.seq,
        what,
        extra=fields,
    )
    if outcome == "parked":
        parked = {**fields, "event": "webhook.parked", "next_attempt_at": None}
        log.error(
            "webhook %s: change %d parked as a dead letter after %d attempt(s)",
            subscription.id,
            due.change.seq,
            attempt,
            extra=parked,
        )


def _attempt(
    subscription: Subscription, change: Change, attempt: int, result: Result, outcome: str
) -> DeliveryAttempt:
    return DeliveryAttempt(
        subscription_id=subscription.id,
        change_seq=change.seq,
        change_id=change.id,
        attempt=attempt,
        time=now(),
        status=result.status,
        error=result.error,
        duration_ms=result.duration_ms,
        outcome=outcome,
    )
