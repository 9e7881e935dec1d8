"""Totals of the change feed and the webhook deliveries, read when metrics are scraped."""

from __future__ import annotations

from dataclasses import dataclass

from scimserver.store.db import DATABASE_ERRORS, Database
from scimserver.store.stats import StatsRepository


@dataclass(frozen=True)
class Snapshot:
    change_heads: dict[str, int]
    """The change-feed head by tenant id, or summed over tenants under the key ""."""
    attempts: dict[str, int]
    dead_letters: int
    max_webhook_lag: int


class StatsService:
    """Reads one snapshot per scrape: a handful of aggregates in one read transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def snapshot(self, by_tenant: bool) -> Snapshot | None:
        """The totals now, or None when the database does not answer."""
        try:
            with self.db.read() as session:
                repo = StatsRepository(session)
                return Snapshot(
                    _heads(repo, by_tenant),
                    repo.attempts_by_outcome(),
                    repo.dead_letters(),
                    repo.max_webhook_lag(),
                )
        except DATABASE_ERRORS:
            return None


def _heads(repo: StatsRepository, by_tenant: bool) -> dict[str, int]:
    if by_tenant:
        return {str(tenant): seq for tenant, seq in repo.change_heads().items()}
    return {"": repo.change_head_total()}
