"""The delivery worker: pushes each subscription's changes, in seq order, at least once.

One loop: claim a due subscription (a lease, see ``store.webhooks``), deliver its next
changes one at a time, release it. A change is settled in one transaction after the
receiver answered: the attempt is recorded and, on a 2xx, the cursor moves past it. A
failure leaves the cursor where it is and defers the subscription by an exponential
backoff with full jitter, so its next change cannot overtake the failed one; after
``max_attempts`` failures (or a rejection) the change is parked in the dead-letter list
and the cursor moves on. Parked changes queued by ``redeliver`` go first, in seq order.

Killed mid-delivery, a worker leaves the cursor behind the change it was sending; once
its lease lapses another worker sends that change again (at least once, never lost).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from scimserver.scim.versions import now
from scimserver.service.changes import prune
from scimserver.service.delivery import Formatter, Result, Sender, Verdict
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


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt - 1))]."""
    ceiling = min(cap, base * 2 ** min(max(attempt - 1, 0), MAX_EXPONENT))
    return rng.uniform(0, ceiling)


@dataclass
class _Due:
    """The change a subscription must deliver next, and its dead letter if redelivered."""

    change: Change
    letter: DeadLetter | None


class Worker:
    def __init__(
        self, db: Database, formatters: dict[str, Formatter], sender: Sender, policy: Policy
    ) -> None:
        self.db = db
        self.formatters = formatters
        self.sender = sender
        self.policy = policy
        self.owner = f"worker-{uuid.uuid4()}"
        self.rng = random.SystemRandom()
        self._pruned_at = float("-inf")

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; sleep ``poll`` seconds whenever nothing is due."""
        log.info("%s started", self.owner)
        while not stop.is_set():
            try:
                self._prune_when_due()
                busy = self.step()
            except Exception:
                log.exception("%s: delivery round failed; retrying after a pause", self.owner)
                busy = False
            if not busy:
                stop.wait(self.policy.poll)
        log.info("%s stopped", self.owner)

    def close(self) -> None:
        self.sender.close()

    def step(self) -> bool:
        """Claim one due subscription and deliver its changes; False if none was due."""
        moment = now()
        with self.db.write() as session:
            claimed = WebhookRepository(session).claim(
                self.owner, moment, moment + self.policy.lease
            )
        if claimed is None:
            return False
        try:
            self._deliver(claimed)
        finally:
            with self.db.write() as session:
                WebhookRepository(session).fence(
                    claimed.id, self.owner, lease_owner=None, lease_until=now()
                )
        return True

    def _deliver(self, subscription: Subscription) -> None:
        formatter = self.formatters.get(subscription.format)
        if formatter is None:
            log.error("webhook %s: no formatter for %r", subscription.id, subscription.format)
            return
        for _ in range(BATCH):
            due = self._next(subscription)
            if due is None:
                return
            result = self.sender.send(
                subscription.url, formatter.render(subscription, due.change), formatter
            )
            if not self._settle(subscription, due, result):
                return

    def _next(self, subscription: Subscription) -> _Due | None:
        """The queued dead letter with the lowest seq, else the next change past the cursor.

        With nothing left, the cursor jumps to the head read before the query: seq is
        assigned in commit order, so no change at or below it can still appear.
        """
        with self.db.write() as session:
            repo = WebhookRepository(session)
            letter = repo.next_queued(subscription.id)
            while letter is not None:
                change = repo.change(subscription.tenant_id, letter.change_seq)
                if change is not None:
                    return _Due(change, letter)
                log.warning(
                    "webhook %s: seq %s is past retention", subscription.id, letter.change_seq
                )
                repo.discard(letter.id)
                letter = repo.next_queued(subscription.id)
            head = repo.head(subscription.tenant_id)
            found = repo.changes(
                subscription.tenant_id, subscription.cursor, head, subscription.events, 1
            )
            if found:
                return _Due(found[0], None)
            if head > subscription.cursor and repo.fence(subscription.id, self.owner, cursor=head):
                subscription.cursor = head
            return None

    def _settle(self, subscription: Subscription, due: _Due, result: Result) -> bool:
        """Record the attempt and move on (True), or defer the subscription (False)."""
        attempt = subscription.attempts + 1
        if result.verdict is Verdict.DELIVERED:
            outcome = "delivered"
        elif result.verdict is Verdict.REJECT or attempt >= subscription.max_attempts:
            outcome = "parked"
        else:
            outcome = "retry"
        with self.db.write() as session:
            repo = WebhookRepository(session)
            if not repo.fence(
                subscription.id, self.owner, **self._progress(subscription, due, outcome)
            ):
                log.warning("webhook %s: lease lost; leaving it", subscription.id)
                return False
            repo.record(_attempt(subscription, due.change, attempt, result, outcome))
            if outcome == "parked":
                repo.park(subscription.id, due.change, result.summary, now())
            elif outcome == "delivered" and due.letter is not None:
                repo.discard(due.letter.id)
        self._remember(subscription, due, outcome)
        return outcome != "retry"

    def _progress(self, subscription: Subscription, due: _Due, outcome: str) -> dict[str, object]:
        """The subscription's new state after an attempt at ``due``."""
        moment = now()
        if outcome == "retry":
            attempts = subscription.attempts + 1
            delay = backoff(attempts, self.policy.backoff_base, self.policy.backoff_cap, self.rng)
            return {"attempts": attempts, "next_attempt_at": moment + timedelta(seconds=delay)}
        values: dict[str, object] = {"attempts": 0, "lease_until": moment + self.policy.lease}
        if due.letter is None:
            values["cursor"] = due.change.seq
        return values

    def _remember(self, subscription: Subscription, due: _Due, outcome: str) -> None:
        if outcome == "retry":
            subscription.attempts += 1
            return
        subscription.attempts = 0
        if due.letter is None:
            subscription.cursor = due.change.seq

    def _prune_when_due(self) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_INTERVAL:
            return
        self._pruned_at = time.monotonic()
        with self.db.read() as session:
            tenants = WebhookRepository(session).tenant_ids()
        removed = prune(self.db, tenants, self.policy.retention)
        if removed:
            log.info("pruned %d changes past retention", removed)


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
