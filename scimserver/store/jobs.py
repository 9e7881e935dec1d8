"""Asynchronous SCIM requests (``async_jobs``): every query for them.

Claiming follows the webhooks' pattern (``store/webhooks.py``): a runner takes the lease
of one due job in a write transaction (PostgreSQL: the candidate read ``FOR UPDATE SKIP
LOCKED``; SQLite: the write lock serialises claims), and its completion is fenced with
``WHERE lease_owner = :owner AND state = 'pending'``: a runner whose lease was taken over
completes nothing, so a job is completed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from scimserver.scim.changes import ChangeRecord
from scimserver.store.changes import ChangeRepository, Origin, append_with_txns
from scimserver.store.features import features_of
from scimserver.store.models import AsyncJob, Change

PENDING = "pending"
DONE = "done"


class JobRepository:
    """Queries of the job table, run in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, job: AsyncJob) -> None:
        """Store ``job``, pending, starting after the tenant's change-log head now; one
        stored with a lease (run at once) counts as attempted."""
        job.start_seq = ChangeRepository(self.session, job.tenant_id).position().head
        job.state = PENDING
        job.attempts = 0 if job.lease_owner is None else 1
        self.session.add(job)
        self.session.flush()

    def find(self, tenant_id: int, txn: str) -> AsyncJob | None:
        return self.session.scalar(
            select(AsyncJob).where(AsyncJob.txn == txn, AsyncJob.tenant_id == tenant_id)
        )

    def claim(
        self, owner: str, moment: datetime, lease_until: datetime, txn: str | None = None
    ) -> AsyncJob | None:
        """Take the lease of one due job (``txn``'s, if given), oldest first; count the attempt."""
        candidate = select(AsyncJob.txn).where(
            AsyncJob.state == PENDING, AsyncJob.lease_until <= moment
        )
        if txn is not None:
            candidate = candidate.where(AsyncJob.txn == txn)
        candidate = candidate.order_by(AsyncJob.lease_until, AsyncJob.txn).limit(1)
        if not features_of(self.session).one_writer:  # others' claims: skip, do not wait
            candidate = candidate.with_for_update(skip_locked=True)
        found = self.session.scalar(candidate)
        if found is None:
            return None
        self.session.execute(
            update(AsyncJob)
            .where(AsyncJob.txn == found)
            .values(lease_owner=owner, lease_until=lease_until, attempts=AsyncJob.attempts + 1)
        )
        return self.session.get(AsyncJob, found, populate_existing=True)

    def release(self, job: AsyncJob, owner: str, retry_at: datetime) -> None:
        """Give up ``owner``'s lease of ``job``: it is due again at ``retry_at``."""
        self.session.execute(
            update(AsyncJob)
            .where(AsyncJob.txn == job.txn, AsyncJob.lease_owner == owner)
            .values(lease_owner=None, lease_until=retry_at)
        )

    def complete(
        self,
        job: AsyncJob,
        owner: str,
        moment: datetime,
        outcome: list[dict[str, object]],
        events: Sequence[tuple[ChangeRecord, int | None, str]],
    ) -> bool:
        """Mark ``job`` done with ``outcome`` and append its completion ``events`` to the
        change log, in this transaction, if ``owner`` still holds its lease; else False
        and nothing is written."""
        done = self.session.execute(
            update(AsyncJob)
            .where(
                AsyncJob.txn == job.txn,
                AsyncJob.lease_owner == owner,
                AsyncJob.state == PENDING,
            )
            .values(state=DONE, completed=moment, outcome=outcome, lease_owner=None)
        )
        if not getattr(done, "rowcount", 0):
            return False
        origin = Origin(job.actor, job.request_id, job.method[:8])
        if events:
            append_with_txns(self.session, job.tenant_id, events, origin)
            head = ChangeRepository(self.session, job.tenant_id).position().head
            self.session.execute(
                update(AsyncJob).where(AsyncJob.txn == job.txn).values(done_seq=head)
            )
        return True

    def completions(self, job: AsyncJob, count: int) -> list[Change]:
        """The last ``count`` changes appended when ``job`` completed (pruned ones are gone)."""
        if job.done_seq is None:
            return []
        return list(
            self.session.scalars(
                select(Change)
                .where(
                    Change.tenant_id == job.tenant_id,
                    Change.seq > job.done_seq - count,
                    Change.seq <= job.done_seq,
                )
                .order_by(Change.seq)
            )
        )

    def witnesses(self, job: AsyncJob, request_id: str) -> list[Change]:
        """The changes a write made for ``job`` under ``request_id`` committed (looked for
        only after the job's ``start_seq``), oldest first."""
        return list(
            self.session.scalars(
                select(Change)
                .where(
                    Change.tenant_id == job.tenant_id,
                    Change.seq > job.start_seq,
                    Change.request_id == request_id,
                )
                .order_by(Change.seq)
            )
        )
