"""A resource's history from the change log: who changed it, when, how, by which request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimserver.service.changes import change_json
from scimserver.store.changes import ChangeRepository
from scimserver.store.db import Database
from scimserver.store.history import resource_ids
from scimserver.store.models import Change

HISTORY_LIMIT = 10_000


@dataclass(frozen=True)
class LoggedChange:
    """One change of a resource's history; ``json`` is the change as the feed shows it."""

    time: datetime
    type: str
    resource_id: str
    display: str | None
    attributes: tuple[str, ...]
    member_id: str | None
    member_type: str | None
    actor: str
    request_id: str
    json: dict[str, Any]


class AuditService:
    def __init__(self, db: Database, tenant_id: int, namings: Mapping[str, str | None]) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.namings = namings

    def of_resource(self, resource_id: str) -> list[LoggedChange]:
        """One resource's logged changes (member events naming it too), oldest first."""
        with self.db.read() as session:
            rows = ChangeRepository(session, self.tenant_id).of_resource(resource_id, HISTORY_LIMIT)
            return [self._logged(row) for row in rows]

    def history(self, resource_type: str, name_or_id: str) -> list[LoggedChange]:
        """Every logged change of the resources ``name_or_id`` names, oldest first.

        A name may have belonged to several resources over time (a userName freed by a
        delete and reused): their histories come interleaved in seq order. Membership
        events that name a user as the member are part of that user's history.
        """
        with self.db.read() as session:
            by_user_name = self.namings.get(resource_type) == "userName"
            ids = resource_ids(session, self.tenant_id, resource_type, name_or_id, by_user_name)
            repo = ChangeRepository(session, self.tenant_id)
            rows = {row.id: row for rid in ids for row in repo.of_resource(rid, HISTORY_LIMIT)}
            return [self._logged(row) for row in sorted(rows.values(), key=lambda row: row.seq)]

    def _logged(self, row: Change) -> LoggedChange:
        return LoggedChange(
            row.time,
            row.type,
            row.resource_id,
            row.display,
            tuple(row.attributes or ()),
            row.member_id,
            row.member_type,
            row.actor,
            row.request_id,
            change_json(row, self.namings),
        )
