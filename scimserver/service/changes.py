"""The change feed: a tenant's committed changes in ``seq`` order, long-polled by apps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from scimserver.errors import Gone, InvalidValue
from scimserver.scim.changes import ACCESS_CHANGED, MEMBER_ADDED, MEMBER_REMOVED, RULES_CHANGED
from scimserver.scim.versions import etag, now, timestamp
from scimserver.service.waits import Waits
from scimserver.store.changes import ChangeRepository
from scimserver.store.db import Database
from scimserver.store.models import Change

MAX_LIMIT = 1000
MAX_WAIT = 30.0


@dataclass(frozen=True)
class FeedPage:
    changes: list[dict[str, Any]]
    next: str


def change_json(change: Change, namings: Mapping[str, str | None]) -> dict[str, Any]:
    """A change as the feed, webhooks and the audit command show it; the resource's name
    is labelled by its type's naming attribute (``namings``: by type id)."""
    label = namings.get(change.resource_type) or "displayName"
    resource: dict[str, Any] = {"type": change.resource_type, "id": change.resource_id}
    if change.external_id is not None:
        resource["externalId"] = change.external_id
    if change.display is not None:
        resource[label] = change.display
    out: dict[str, Any] = {
        "id": change.id,
        "seq": change.seq,
        "type": change.type,
        "time": timestamp(change.time),
        "resource": resource,
    }
    if change.type in (MEMBER_ADDED, MEMBER_REMOVED):
        out["member"] = {"type": change.member_type, "id": change.member_id}
    if change.type == ACCESS_CHANGED:
        out["access"] = change.data  # {"before": …, "after": …}
    if change.type == RULES_CHANGED:
        out["rules"] = change.data
    out["attributes"] = list(change.attributes or [])
    if change.version is not None:
        out["version"] = etag(change.version)
    out["actor"] = change.actor
    out["requestId"] = change.request_id
    return out


def parse_cursor(cursor: str | None) -> int | None:
    """A feed cursor is the decimal ``seq`` of the last change read; "" or None is the
    oldest change retention has kept."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
        raise InvalidValue(f"after must be a cursor from this feed's 'next', not {cursor!r}.")
    return int(cursor)


class ChangeFeed:
    """One tenant's change feed."""

    def __init__(
        self, db: Database, waits: Waits, tenant_id: int, namings: Mapping[str, str | None]
    ) -> None:
        self.db = db
        self.waits = waits
        self.tenant_id = tenant_id
        self.namings = namings

    def head(self) -> str:
        """The cursor of the newest change: follow the feed from here after a snapshot."""
        with self.db.read() as session:
            return str(ChangeRepository(session, self.tenant_id).position().head)

    def read(self, after: int | None, limit: int, wait: float, token_id: int) -> FeedPage:
        """Up to ``limit`` changes after ``after`` (None: from the oldest kept); with
        ``wait``, hold an empty answer until a change commits or ``wait`` seconds pass
        (:class:`TooManyWaits` at once if ``token_id`` or this process holds its cap)."""
        page = self._page(after, limit)
        seen = int(page.next)
        if not page.changes and wait > 0 and self.waits.wait(token_id, self.tenant_id, seen, wait):
            page = self._page(seen, limit)
        return page

    def _page(self, after: int | None, limit: int) -> FeedPage:
        with self.db.read() as session:
            repo = ChangeRepository(session, self.tenant_id)
            position = repo.position()
            if after is None:
                after = position.pruned_through
            if after < position.pruned_through:
                raise Gone(
                    f"Changes up to seq {position.pruned_through} are past retention; "
                    "re-read /Users and /Groups and follow the feed from /api/v1/changes/head."
                )
            if after > position.head:
                raise InvalidValue(f"after={after} is ahead of this feed (head {position.head}).")
            rows = repo.after(after, limit)
        changes = [change_json(row, self.namings) for row in rows]
        return FeedPage(changes, str(rows[-1].seq if rows else after))


def prune(db: Database, tenant_ids: list[int], retention: timedelta) -> int:
    """Delete changes older than ``retention`` in each tenant; returns how many."""
    cutoff = now() - retention
    removed = 0
    for tenant_id in tenant_ids:
        with db.write() as session:
            removed += ChangeRepository(session, tenant_id).prune(cutoff)
    return removed
