"""Totals an operator graphs, each one cheap aggregate over a small table."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scimserver.store.models import DeadLetter, DeliveryAttempt, FeedHead, Subscription

_HEAD = select(FeedHead.seq).where(FeedHead.tenant_id == Subscription.tenant_id).scalar_subquery()


class StatsRepository:
    """Aggregates over the change-feed and webhook tables, in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def change_head_total(self) -> int:
        """The change-feed heads summed over tenants: changes ever committed (nothing pruned)."""
        return int(self.session.scalar(select(func.coalesce(func.sum(FeedHead.seq), 0))) or 0)

    def change_heads(self) -> dict[int, int]:
        """Each tenant's change-feed head (the last seq handed out), by tenant id."""
        rows = self.session.execute(select(FeedHead.tenant_id, FeedHead.seq))
        return {int(tenant): int(seq) for tenant, seq in rows}

    def attempts_by_outcome(self) -> dict[str, int]:
        """Webhook delivery attempts on record, by outcome (delivered, retry, parked)."""
        query = select(DeliveryAttempt.outcome, func.count()).group_by(DeliveryAttempt.outcome)
        return {str(outcome): int(count) for outcome, count in self.session.execute(query)}

    def dead_letters(self) -> int:
        """Changes a webhook gave up on and that are not queued for redelivery."""
        query = select(func.count()).where(DeadLetter.queued.is_(False))
        return int(self.session.scalar(query.select_from(DeadLetter)) or 0)

    def max_webhook_lag(self) -> int:
        """The most changes any webhook subscription is behind its tenant's head."""
        lag = func.max(func.coalesce(_HEAD, 0) - Subscription.cursor)
        return max(int(self.session.scalar(select(lag)) or 0), 0)
