"""What the admin console reads about a connection's requests: recent ones, and a summary.

Written by :mod:`scimserver.service.recorder`, a second or so after each request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scimserver.scim.idps import identify
from scimserver.scim.versions import now
from scimserver.service.recorder import hour_of
from scimserver.store import activity as store
from scimserver.store.db import Database
from scimserver.store.models import RequestRecord

MAX_LIMIT = 500
IDP_SAMPLE = 50
"""Newest requests of a connection whose User-Agents and dialect rules tell its IdP."""
_CLASSES = {
    "2xx": (200, 299),
    "3xx": (300, 399),
    "4xx": (400, 499),
    "5xx": (500, 599),
    "errors": (400, 599),
}
_CODE = re.compile(r"[1-5][0-9]{2}")


class InvalidActivityQuery(ValueError):
    """A status filter or limit the console cannot ask for; the message says why."""


@dataclass(frozen=True)
class RequestView:
    """One recorded request, for display (``at``: naive UTC, as every table stores time)."""

    id: int
    at: datetime
    request_id: str
    client: str
    method: str
    path: str
    status: int
    duration_ms: float
    resource_type: str | None
    resource_id: str | None
    subject: str | None
    user_agent: str | None
    normalisations: tuple[str, ...]
    scim_type: str | None
    detail: str | None
    ignored: tuple[str, ...]
    """Attributes the request carried that no schema declares (dropped)."""


@dataclass(frozen=True)
class RefusedView:
    """A request refused with 401; ``connection`` and ``token`` name the token whose
    prefix it tried, when one has it (for admins of every connection only)."""

    at: datetime
    address: str | None
    user_agent: str | None
    method: str
    path: str
    token_prefix: str | None
    detail: str | None
    connection: str | None
    token: str | None


@dataclass(frozen=True)
class ConnectionActivity:
    """A connection at a glance: when it last called, how much and how well in 24 h."""

    last_request_at: datetime | None
    requests_24h: int
    errors_24h: int
    idp: str | None
    """The identity provider: Okta, Microsoft Entra ID, OneLogin, JumpCloud, Google or
    Ping; else the commonest raw User-Agent product token; else None (scim/idps.py)."""

    @property
    def error_rate(self) -> float:
        """Errors (4xx and 5xx) over requests in the last 24 h; 0.0 without requests."""
        return self.errors_24h / self.requests_24h if self.requests_24h else 0.0


NO_ACTIVITY = ConnectionActivity(None, 0, 0, None)


class ActivityService:
    """Reads of the request activity tables (the console's Activity and Connections pages)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def recent(
        self,
        tenant_id: int,
        *,
        status: str | None = None,
        user: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[RequestView]:
        """The tenant's requests, newest first.

        ``status``: "2xx", "3xx", "4xx", "5xx", "errors" (400 and above) or one code such
        as "409". ``user``: a resource id, or a userName / displayName in any case.
        ``before``: the id of the last request of the previous page (keyset paging).
        """
        statuses = status_range(status)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidActivityQuery(f"limit must be between 1 and {MAX_LIMIT}.")
        named = user.strip() if user else None
        who = (named, named.casefold()) if named else None
        with self.db.read() as session:
            rows = store.recent(
                session, tenant_id, statuses=statuses, user=who, before=before, limit=limit
            )
            return [_view(r) for r in rows]

    def refused(self, limit: int = 20) -> list[RefusedView]:
        """The newest requests refused with 401, of every connection and none: only for
        an admin who sees every connection."""
        with self.db.read() as session:
            return [
                RefusedView(
                    r.record.at,
                    r.record.address,
                    r.record.user_agent,
                    r.record.method,
                    r.record.path,
                    r.record.token_prefix,
                    r.record.detail,
                    r.tenant,
                    r.token,
                )
                for r in store.refused(session, limit)
            ]

    def summary(self, tenant_id: int) -> ConnectionActivity:
        return self.summaries([tenant_id])[tenant_id]

    def summaries(self, tenant_ids: Sequence[int]) -> dict[int, ConnectionActivity]:
        """Every tenant's summary (a tenant without requests gets zeros and None)."""
        since = hour_of(now() - timedelta(hours=23))
        found: dict[int, ConnectionActivity] = {}
        with self.db.read() as session:
            totals = store.totals(session, tenant_ids, since)
            for tenant in tenant_ids:
                total = totals.get(tenant)
                if total is None:
                    found[tenant] = NO_ACTIVITY
                    continue
                seen = store.agents(session, tenant, IDP_SAMPLE)
                idp = identify((a for a, _ in seen), (r for _, rules in seen for r in rules))
                found[tenant] = ConnectionActivity(total.last_at, total.requests, total.errors, idp)
        return found


def status_range(status: str | None) -> tuple[int, int] | None:
    """The inclusive status range a status filter names; None for no filter."""
    if status is None or not status.strip():
        return None
    text = status.strip().lower()
    if text in _CLASSES:
        return _CLASSES[text]
    if _CODE.fullmatch(text):
        return int(text), int(text)
    raise InvalidActivityQuery(
        f"Unknown status filter {status!r}: use 2xx, 3xx, 4xx, 5xx, errors or a code like 409."
    )


def _view(row: RequestRecord) -> RequestView:
    return RequestView(
        id=row.id,
        at=row.at,
        request_id=row.request_id,
        client=row.client,
        method=row.method,
        path=row.path,
        status=row.status,
        duration_ms=row.duration_ms,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        subject=row.subject,
        user_agent=row.user_agent,
        normalisations=tuple(row.normalisations or ()),
        scim_type=row.scim_type,
        detail=row.detail,
        ignored=tuple(row.ignored or ()),
    )
