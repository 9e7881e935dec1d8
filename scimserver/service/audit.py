"""A resource's history from the change log: who changed it, when, how, by which request."""

from __future__ import annotations

from scimserver.store.changes import ChangeRepository
from scimserver.store.db import Database
from scimserver.store.history import resource_ids
from scimserver.store.models import Change

HISTORY_LIMIT = 10_000


class AuditService:
    def __init__(self, db: Database, tenant_id: int) -> None:
        self.db = db
        self.tenant_id = tenant_id

    def of_resource(self, resource_id: str) -> list[Change]:
        """One resource's logged changes (member events naming it too), oldest first."""
        with self.db.read() as session:
            return ChangeRepository(session, self.tenant_id).of_resource(resource_id, HISTORY_LIMIT)

    def history(self, resource_type: str, name_or_id: str) -> list[Change]:
        """Every logged change of the resources ``name_or_id`` names, oldest first.

        A name may have belonged to several resources over time (a userName freed by a
        delete and reused): their histories come interleaved in seq order. Membership
        events that name a user as the member are part of that user's history.
        """
        with self.db.read() as session:
            ids = resource_ids(session, self.tenant_id, resource_type, name_or_id)
            repo = ChangeRepository(session, self.tenant_id)
            rows = {row.id: row for rid in ids for row in repo.of_resource(rid, HISTORY_LIMIT)}
        return sorted(rows.values(), key=lambda row: row.seq)
