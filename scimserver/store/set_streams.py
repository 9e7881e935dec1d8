"""RFC 8936 poll receivers: each one's cursor in the change log and its unacknowledged SETs;
and which SET deliveries a tenant has configured."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from scimserver.store.features import features_of
from scimserver.store.models import SetDelivery, SetReceiver, Subscription

SET_FORMAT = "set"
"""The webhook format that pushes SETs (RFC 8935)."""


def configured_modes(session: Session, tenant_id: int) -> tuple[bool, bool, bool]:
    """(has a poll stream, sends notices by push, sends full SETs by push) for a tenant."""
    polled = session.scalar(select(exists().where(SetReceiver.tenant_id == tenant_id)))
    pushed = set(
        session.scalars(
            select(Subscription.full)
            .where(Subscription.tenant_id == tenant_id, Subscription.format == SET_FORMAT)
            .distinct()
        )
    )
    return bool(polled), False in pushed, True in pushed


class ReceiverStream:
    """One receiver's state; run inside a write transaction, opened first with ``open``."""

    def __init__(self, session: Session, token_id: int, tenant_id: int) -> None:
        self.session = session
        self.token_id = token_id
        self.tenant_id = tenant_id

    def open(self, start: int, moment: datetime) -> tuple[int, str]:
        """The receiver's (cursor, stream id), locked until commit; a new receiver starts
        at ``start`` with a new random stream id."""
        upsert = features_of(self.session).upsert
        values = {
            "token_id": self.token_id,
            "tenant_id": self.tenant_id,
            "stream_id": str(uuid.uuid4()),
            "cursor": start,
            "created": moment,
        }
        self.session.execute(upsert(SetReceiver).values(**values).on_conflict_do_nothing())
        query = (
            select(SetReceiver.cursor, SetReceiver.stream_id)
            .where(SetReceiver.token_id == self.token_id)
            .with_for_update()
        )
        cursor, stream_id = self.session.execute(query).one()
        return int(cursor), str(stream_id)

    def advance(self, cursor: int) -> None:
        self.session.execute(
            update(SetReceiver).where(SetReceiver.token_id == self.token_id).values(cursor=cursor)
        )

    def release(self, jtis: Iterable[str]) -> int:
        """Forget acknowledged (or refused) SETs; returns how many were outstanding."""
        wanted = list(jtis)
        if not wanted:
            return 0
        result = self.session.execute(
            delete(SetDelivery).where(
                SetDelivery.token_id == self.token_id, SetDelivery.jti.in_(wanted)
            )
        )
        return max(int(getattr(result, "rowcount", 0)), 0)

    def outstanding(self, limit: int) -> list[SetDelivery]:
        """Up to ``limit`` unacknowledged SETs, oldest change first."""
        query = (
            select(SetDelivery)
            .where(SetDelivery.token_id == self.token_id)
            .order_by(SetDelivery.seq)
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def outstanding_count(self) -> int:
        query = select(func.count()).where(SetDelivery.token_id == self.token_id)
        return int(self.session.scalar(query) or 0)

    def deliver(self, seq: int, jti: str, jwt: str, moment: datetime) -> None:
        self.session.add(
            SetDelivery(token_id=self.token_id, jti=jti, seq=seq, jwt=jwt, delivered_at=moment)
        )
