"""Webhook subscriptions, their delivery attempts and dead letters: every query for them.

Claiming. A worker owns a subscription while it holds the lease (``lease_owner``, until
``lease_until``). ``claim`` picks one due subscription whose lease has lapsed and takes
it in a write transaction: on PostgreSQL the candidate row is read ``FOR UPDATE SKIP
LOCKED``, so concurrent workers pass over each other's candidates instead of queueing;
on SQLite the write transaction holds the database lock, which serialises claims.
Every later write of the holder is fenced with ``WHERE lease_owner = :owner``: a worker
whose lease was taken over (or whose subscription was removed) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from scimserver.store.features import features_of
from scimserver.store.models import (
    Change,
    DeadLetter,
    DeliveryAttempt,
    FeedHead,
    Subscription,
    Tenant,
)

ACTIVE = "active"
_NO_SEQ = 2**63 - 1
"""Above every seq (BIGINT's largest value)."""

_HEAD = select(FeedHead.seq).where(FeedHead.tenant_id == Subscription.tenant_id).scalar_subquery()
_QUEUED = exists().where(DeadLetter.subscription_id == Subscription.id, DeadLetter.queued.is_(True))


class WebhookRepository:
    """Queries of the webhook tables, run in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- subscriptions ---------------------------------------------------------------

    def add(self, subscription: Subscription) -> None:
        self.session.add(subscription)
        self.session.flush()

    def find(self, subscription_id: str) -> Subscription | None:
        return self.session.get(Subscription, subscription_id)

    def listing(self, tenant_id: int | None) -> list[tuple[Subscription, str]]:
        """Subscriptions with their tenant's name, oldest first."""
        query = select(Subscription, Tenant.name).join(Tenant)
        if tenant_id is not None:
            query = query.where(Subscription.tenant_id == tenant_id)
        rows = self.session.execute(query.order_by(Subscription.created, Subscription.id))
        return [(subscription, str(name)) for subscription, name in rows]

    def remove(self, subscription_id: str) -> bool:
        gone = self.session.execute(delete(Subscription).where(Subscription.id == subscription_id))
        return bool(getattr(gone, "rowcount", 0))

    def head(self, tenant_id: int) -> int:
        """The tenant's newest change seq (0 before its first change)."""
        seq = self.session.scalar(select(FeedHead.seq).where(FeedHead.tenant_id == tenant_id))
        return int(seq or 0)

    def tenant_name(self, tenant_id: int) -> str:
        return str(self.session.scalar(select(Tenant.name).where(Tenant.id == tenant_id)))

    def tenant_ids(self) -> list[int]:
        return list(self.session.scalars(select(Tenant.id).order_by(Tenant.id)))

    # -- claiming and fenced progress --------------------------------------------------

    def claim(self, owner: str, moment: datetime, lease_until: datetime) -> Subscription | None:
        """Take the lease of one due subscription with work waiting, least recently run first."""
        candidate = (
            select(Subscription.id)
            .where(
                Subscription.state == ACTIVE,
                Subscription.lease_until <= moment,
                Subscription.next_attempt_at <= moment,
                (Subscription.cursor < func.coalesce(_HEAD, 0)) | _QUEUED,
            )
            .order_by(Subscription.lease_until, Subscription.id)
            .limit(1)
        )
        if not features_of(self.session).one_writer:  # others' claims: skip, do not wait
            candidate = candidate.with_for_update(skip_locked=True)
        subscription_id = self.session.scalar(candidate)
        if subscription_id is None:
            return None
        self.session.execute(
            update(Subscription)
            .where(Subscription.id == subscription_id)
            .values(lease_owner=owner, lease_until=lease_until)
        )
        return self.session.get(Subscription, subscription_id, populate_existing=True)

    def fence(self, subscription_id: str, owner: str, **values: object) -> bool:
        """Update the subscription if ``owner`` still holds its lease; False otherwise."""
        done = self.session.execute(
            update(Subscription)
            .where(Subscription.id == subscription_id, Subscription.lease_owner == owner)
            .values(**values)
        )
        return bool(getattr(done, "rowcount", 0))

    # -- changes to deliver ------------------------------------------------------------

    def changes(
        self, tenant_id: int, after: int, through: int, events: Sequence[str] | None, limit: int
    ) -> list[Change]:
        """Changes with ``after < seq <= through`` of the given types, oldest first."""
        query = select(Change).where(
            Change.tenant_id == tenant_id, Change.seq > after, Change.seq <= through
        )
        if events is not None:
            query = query.where(Change.type.in_(list(events)))
        return list(self.session.scalars(query.order_by(Change.seq).limit(limit)))

    def transaction(self, change: Change, events: Sequence[str] | None) -> list[Change]:
        """The changes of ``change``'s write transaction, of the given types, oldest first.

        A transaction's changes have consecutive seqs (``store.changes``): its bounds are
        the nearest changes of another transaction on either side, found by the primary
        key, so no index on ``txn`` is needed.
        """
        if change.txn is None:  # logged before transactions had ids: a change alone
            return [change] if events is None or change.type in events else []
        tenant = Change.tenant_id == change.tenant_id
        other = Change.txn.is_distinct_from(change.txn)
        before = (
            select(Change.seq)
            .where(tenant, Change.seq < change.seq, other)
            .order_by(Change.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        after = (
            select(Change.seq)
            .where(tenant, Change.seq > change.seq, other)
            .order_by(Change.seq)
            .limit(1)
            .scalar_subquery()
        )
        query = select(Change).where(
            tenant,
            Change.seq > func.coalesce(before, 0),
            Change.seq < func.coalesce(after, _NO_SEQ),
            Change.txn == change.txn,
        )
        if events is not None:
            query = query.where(Change.type.in_(list(events)))
        return list(self.session.scalars(query.order_by(Change.seq)))

    def change(self, tenant_id: int, seq: int) -> Change | None:
        query = select(Change).where(Change.tenant_id == tenant_id, Change.seq == seq)
        return self.session.scalar(query)

    # -- attempts and dead letters -----------------------------------------------------

    def record(self, attempt: DeliveryAttempt) -> None:
        self.session.add(attempt)

    def last_attempt(self, subscription_id: str) -> DeliveryAttempt | None:
        """The newest delivery attempt of the subscription (by the attempts index)."""
        query = (
            select(DeliveryAttempt)
            .where(DeliveryAttempt.subscription_id == subscription_id)
            .order_by(DeliveryAttempt.id.desc())
            .limit(1)
        )
        return self.session.scalar(query)

    def attempts(self, subscription_id: str) -> list[DeliveryAttempt]:
        query = select(DeliveryAttempt).where(DeliveryAttempt.subscription_id == subscription_id)
        return list(self.session.scalars(query.order_by(DeliveryAttempt.id)))

    def park(self, subscription_id: str, change: Change, reason: str, moment: datetime) -> None:
        """Put a change on the dead-letter list (again, if it was queued for redelivery)."""
        letter = self.session.scalar(
            select(DeadLetter).where(
                DeadLetter.subscription_id == subscription_id,
                DeadLetter.change_seq == change.seq,
            )
        )
        if letter is None:
            letter = DeadLetter(
                subscription_id=subscription_id, change_seq=change.seq, change_id=change.id
            )
            self.session.add(letter)
        letter.parked_at = moment
        letter.reason = reason[:1000]
        letter.queued = False

    def dead_letters(self, subscription_id: str) -> list[DeadLetter]:
        query = select(DeadLetter).where(DeadLetter.subscription_id == subscription_id)
        return list(self.session.scalars(query.order_by(DeadLetter.change_seq)))

    def next_queued(self, subscription_id: str) -> DeadLetter | None:
        """The lowest-seq dead letter queued for redelivery."""
        query = (
            select(DeadLetter)
            .where(DeadLetter.subscription_id == subscription_id, DeadLetter.queued.is_(True))
            .order_by(DeadLetter.change_seq)
            .limit(1)
        )
        return self.session.scalar(query)

    def requeue(self, subscription_id: str) -> int:
        """Queue every parked change of the subscription for redelivery; returns how many."""
        done = self.session.execute(
            update(DeadLetter)
            .where(DeadLetter.subscription_id == subscription_id, DeadLetter.queued.is_(False))
            .values(queued=True)
        )
        return int(getattr(done, "rowcount", 0))

    def discard(self, letter_id: int) -> None:
        self.session.execute(delete(DeadLetter).where(DeadLetter.id == letter_id))
