"""The request activity tables: recent requests per tenant and their hourly counts, and
the requests refused with 401 (which belong to no tenant)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, case, delete, func, insert, or_, select, union
from sqlalchemy.orm import Session

from scimserver.store.batch import InsertMany
from scimserver.store.counters import Accumulate
from scimserver.store.models import RefusedRequest, RequestHour, RequestRecord, Tenant, Token

_LOG = RequestRecord.metadata.tables[RequestRecord.__tablename__]
_HOURS = RequestHour.metadata.tables[RequestHour.__tablename__]
_REFUSED = RefusedRequest.metadata.tables[RefusedRequest.__tablename__]
_APPEND_REFUSED = InsertMany(insert(_REFUSED), [c.name for c in _REFUSED.columns if c.name != "id"])
_REFUSED_BEFORE = (
    select(_REFUSED.c.id)
    .where(_REFUSED.c.at < bindparam("cutoff"))
    .order_by(_REFUSED.c.id)
    .limit(bindparam("chunk"))
)
_PRUNE_REFUSED_OLD = delete(_REFUSED).where(_REFUSED.c.id.in_(_REFUSED_BEFORE.scalar_subquery()))
_REFUSED_NEWEST_KEPT = (
    select(_REFUSED.c.id).order_by(_REFUSED.c.id.desc()).offset(bindparam("keep")).limit(1)
)
_REFUSED_EXCESS = (
    select(_REFUSED.c.id)
    .where(_REFUSED.c.id <= bindparam("through"))
    .order_by(_REFUSED.c.id)
    .limit(bindparam("chunk"))
)
_PRUNE_REFUSED_EXCESS = delete(_REFUSED).where(_REFUSED.c.id.in_(_REFUSED_EXCESS.scalar_subquery()))
_APPEND = InsertMany(insert(_LOG), [c.name for c in _LOG.columns if c.name != "id"])
_ADD_HOURS = Accumulate(
    _HOURS,
    ("tenant_id", "hour"),
    {
        "tenant_id": "tenant_id",
        "hour": "hour",
        "requests": "requests",
        "errors": "errors",
        "last_at": "last_at",
    },
    counters=("requests", "errors"),
    latest=("last_at",),
)
_OLDEST_BEFORE = (
    select(_LOG.c.id)
    .where(_LOG.c.at < bindparam("cutoff"))
    .order_by(_LOG.c.id)
    .limit(bindparam("chunk"))
)
_PRUNE_OLD = delete(_LOG).where(_LOG.c.id.in_(_OLDEST_BEFORE.scalar_subquery()))
_NEWEST_KEPT = (
    select(_LOG.c.id)
    .where(_LOG.c.tenant_id == bindparam("tenant"))
    .order_by(_LOG.c.id.desc())
    .offset(bindparam("keep"))
    .limit(1)
)
_OLDEST_EXCESS = (
    select(_LOG.c.id)
    .where(_LOG.c.tenant_id == bindparam("tenant"), _LOG.c.id <= bindparam("through"))
    .order_by(_LOG.c.id)
    .limit(bindparam("chunk"))
)
_PRUNE_EXCESS = delete(_LOG).where(_LOG.c.id.in_(_OLDEST_EXCESS.scalar_subquery()))
_FORGET_HOURS = delete(_HOURS).where(_HOURS.c.hour < bindparam("hour"))
_AGENTS = (
    select(_LOG.c.user_agent, _LOG.c.normalisations)
    .where(_LOG.c.tenant_id == bindparam("tenant"))
    .order_by(_LOG.c.id.desc())
    .limit(bindparam("limit"))
)


@dataclass(frozen=True)
class Totals:
    """A tenant's newest request time, and its requests and errors since an hour."""

    last_at: datetime | None
    requests: int
    errors: int


def append(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert request records; each maps request_log's columns."""
    _APPEND(session, rows)


def live_tenants(session: Session, tenant_ids: Iterable[int]) -> set[int]:
    """Which of ``tenant_ids`` still exist (a tenant deleted meanwhile takes its rows)."""
    query = select(Tenant.id).where(Tenant.id.in_(sorted(set(tenant_ids))))
    return set(session.scalars(query))


def add_hours(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add to the hourly counts: rows of tenant_id, hour, requests, errors and last_at."""
    _ADD_HOURS(session, rows)


def prune_before(session: Session, cutoff: datetime, chunk: int) -> int:
    """Delete up to ``chunk`` of the oldest records made before ``cutoff``; how many went."""
    return _deleted(session.execute(_PRUNE_OLD, {"cutoff": cutoff, "chunk": chunk}))


def prune_beyond(session: Session, tenant_id: int, keep: int, chunk: int) -> int:
    """Delete up to ``chunk`` of the tenant's oldest records beyond its newest ``keep``."""
    params = {"tenant": tenant_id, "keep": keep}
    through = session.execute(_NEWEST_KEPT, params).scalar()
    if through is None:
        return 0
    params = {"tenant": tenant_id, "through": through, "chunk": chunk}
    return _deleted(session.execute(_PRUNE_EXCESS, params))


def forget_hours_before(session: Session, hour: int) -> None:
    """Drop the hourly counts of hours that started before ``hour`` (epoch seconds)."""
    session.execute(_FORGET_HOURS, {"hour": hour})


def recent(
    session: Session,
    tenant_id: int,
    *,
    statuses: tuple[int, int] | None,
    user: tuple[str, str] | None,
    before: int | None,
    limit: int,
) -> list[RequestRecord]:
    """The tenant's records newest first: ``statuses`` an inclusive range, ``user`` a
    (resource id, casefolded subject) pair either of which matches, ``before`` an id."""
    query = recent_query(tenant_id, statuses=statuses, user=user, before=before, limit=limit)
    return list(session.scalars(query))


def recent_query(
    tenant_id: int,
    *,
    statuses: tuple[int, int] | None,
    user: tuple[str, str] | None,
    before: int | None,
    limit: int,
) -> Select[Any]:
    """The query :func:`recent` runs (also for checking its plan)."""
    query = select(RequestRecord).where(RequestRecord.tenant_id == tenant_id)
    if statuses is not None:
        query = query.where(RequestRecord.status.between(*statuses))
    if user is not None:  # two index searches united: an OR may walk the tenant's whole log
        resource_id, subject_key = user
        mine = RequestRecord.tenant_id == tenant_id
        by_id = select(RequestRecord.id).where(mine, RequestRecord.resource_id == resource_id)
        by_name = select(RequestRecord.id).where(mine, RequestRecord.subject_key == subject_key)
        found = union(by_id, by_name).subquery()
        query = query.join(found, RequestRecord.id == found.c.id)
    if before is not None:
        query = query.where(RequestRecord.id < before)
    return query.order_by(RequestRecord.id.desc()).limit(limit)


def totals(session: Session, tenant_ids: Sequence[int], since_hour: int) -> dict[int, Totals]:
    """Per tenant: newest request time, and requests and errors in hours from ``since_hour``."""
    recent_hour = _HOURS.c.hour >= since_hour
    query = (
        select(
            _HOURS.c.tenant_id,
            func.max(_HOURS.c.last_at),
            func.sum(case((recent_hour, _HOURS.c.requests), else_=0)),
            func.sum(case((recent_hour, _HOURS.c.errors), else_=0)),
        )
        .where(_HOURS.c.tenant_id.in_(list(tenant_ids)))
        .group_by(_HOURS.c.tenant_id)
    )
    return {
        int(tenant): Totals(last_at, int(requests or 0), int(errors or 0))
        for tenant, last_at, requests, errors in session.execute(query)
    }


def agents(session: Session, tenant_id: int, limit: int) -> list[tuple[str | None, list[str]]]:
    """User-Agent product token and dialect rules of the tenant's newest ``limit`` records."""
    rows = session.execute(_AGENTS, {"tenant": tenant_id, "limit": limit})
    return [(agent, list(rules or ())) for agent, rules in rows]


def append_refused(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert refused requests; each maps refused_requests' columns."""
    _APPEND_REFUSED(session, rows)


@dataclass(frozen=True)
class Refused:
    """A refused request, and the connection and token its prefix names, if any."""

    record: RefusedRequest
    tenant: str | None
    token: str | None


def refused(session: Session, limit: int) -> list[Refused]:
    """The newest ``limit`` refused requests, each with the tenant and token whose
    prefix (or, after a rotation, previous prefix) it tried; None when it names none."""
    query = (
        select(RefusedRequest, Tenant.name, Token.name)
        .outerjoin(
            Token,
            or_(
                Token.prefix == RefusedRequest.token_prefix,
                Token.previous_prefix == RefusedRequest.token_prefix,
            ),
        )
        .outerjoin(Tenant, Tenant.id == Token.tenant_id)
        .order_by(RefusedRequest.id.desc())
        .limit(limit)
    )
    return [Refused(record, tenant, token) for record, tenant, token in session.execute(query)]


def prune_refused_before(session: Session, cutoff: datetime, chunk: int) -> int:
    """Delete up to ``chunk`` of the oldest refused requests before ``cutoff``."""
    return _deleted(session.execute(_PRUNE_REFUSED_OLD, {"cutoff": cutoff, "chunk": chunk}))


def prune_refused_beyond(session: Session, keep: int, chunk: int) -> int:
    """Delete up to ``chunk`` of the oldest refused requests beyond the newest ``keep``."""
    through = session.execute(_REFUSED_NEWEST_KEPT, {"keep": keep}).scalar()
    if through is None:
        return 0
    return _deleted(session.execute(_PRUNE_REFUSED_EXCESS, {"through": through, "chunk": chunk}))


def _deleted(result: Any) -> int:
    return max(int(getattr(result, "rowcount", 0)), 0)
