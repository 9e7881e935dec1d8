"""The change log: records buffered during a write, appended at its end, read in seq order.

Repositories ``record()`` what they change as they change it; ``append_pending()`` runs
as the write transaction's last step (``Database.write``), so every write path logs and
a rolled-back transaction logs nothing. A user's write without the ORM session
(``store.single``) appends its change itself: in its one statement on PostgreSQL
(:func:`appended_after`), as its transaction's last statements on SQLite
(:func:`append_one`).

Ordering. A tenant's ``seq`` comes from its ``feed_heads`` row, incremented by an
upsert that is the transaction's last statement but the inserts (on PostgreSQL, one
statement with them: a data-modifying WITH). On PostgreSQL that row stays locked until
commit, so the tenant's writers commit in ``seq`` order and a
reader that has seen ``seq`` N never later finds a new change below N: no visibility
horizon or hold-back window is needed. The cost is that writes of one tenant
serialise for the last few statements and the commit (its cost: bench/README.md);
writes of different tenants do not wait for each other. On SQLite every writer holds
the database lock anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import takewhile
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    Insert,
    Integer,
    Select,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    union,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from scimserver.scim.changes import ChangeRecord
from scimserver.scim.versions import now
from scimserver.store.batch import Executor, InsertMany, dump_rows, json_rows
from scimserver.store.counters import Increment
from scimserver.store.features import BACKENDS, features_of
from scimserver.store.models import Change, FeedHead, Membership

_PENDING = "scim_changes"
_ORIGIN = "scim_origin"
_BEFORE = "scim_before_append"
_CHANGES = Change.metadata.tables[Change.__tablename__]
_HEADS = FeedHead.metadata.tables[FeedHead.__tablename__]
_INSERT = InsertMany(insert(_CHANGES), [c.name for c in _CHANGES.columns])  # SQLite's
_PAGE = (
    select(Change)
    .where(Change.tenant_id == bindparam("tenant"), Change.seq > bindparam("after"))
    .order_by(Change.seq)
    .limit(bindparam("limit"))
)
_HEAD = select(FeedHead.seq, FeedHead.pruned_through).where(
    FeedHead.tenant_id == bindparam("tenant")
)
_ALL_HEADS = select(FeedHead.tenant_id, FeedHead.seq)
_WHOLE_PAGE = 500


@dataclass(frozen=True)
class Origin:
    """Who made a write and how: the token's name, the request id and the SCIM method."""

    actor: str = "system"
    request_id: str = ""
    operation: str = ""


@dataclass(frozen=True)
class _Pending:
    tenant_id: int
    record: ChangeRecord
    row: Any
    """The resource row, read for its version when the transaction ends, or the version
    itself (rows bumped by one statement); None once deleted."""
    time: datetime


@dataclass(frozen=True)
class FeedPosition:
    """A tenant's newest ``seq``, and the newest one retention has removed."""

    head: int
    pruned_through: int


def begin(session: Session, origin: Origin) -> None:
    """Start buffering the changes of this write transaction."""
    session.info[_ORIGIN] = origin
    session.info[_PENDING] = []
    session.info[_BEFORE] = {}


def before_append(session: Session, key: str, step: Callable[[Session], None]) -> None:
    """Run ``step`` once (per ``key``) as the transaction's step before its changes are
    appended: work that may record more changes from what the write did (settling
    people's access, ``store.access``), so they are appended with the write's own."""
    session.info.setdefault(_BEFORE, {}).setdefault(key, step)


def origin_of(session: Session) -> Origin:
    """Who is making this write transaction's changes."""
    found: Origin = session.info.get(_ORIGIN, Origin())
    return found


def record(session: Session, tenant_id: int, change: ChangeRecord, row: Any = None) -> None:
    """Buffer one change; ``row`` (the resource, or its new version) gives its version."""
    session.info.setdefault(_PENDING, []).append(_Pending(tenant_id, change, row, now()))


def append_pending(session: Session) -> int:
    """Write the buffered changes with their seq numbers; returns how many were written."""
    for step in session.info.pop(_BEFORE, {}).values():
        step(session)
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    origin: Origin = session.info.pop(_ORIGIN, Origin())
    if not pending:
        return 0
    session.flush()
    if origin.operation == "PUT":
        pending = _with_members(session, pending)
    by_tenant: dict[int, list[_Pending]] = {}
    for item in pending:
        by_tenant.setdefault(item.tenant_id, []).append(item)
    txn = new_txn()
    for tenant_id in sorted(by_tenant):
        _append(session, tenant_id, by_tenant[tenant_id], origin, txn)
    return len(pending)


def _with_members(session: Session, pending: list[_Pending]) -> list[_Pending]:
    """A PUT replaces a group's members, and its member changes say only who moved: so
    the last change it logs for each group whose members moved carries the group's
    document with all its members now (``data``: what a full ``prov:put`` SET shows)."""
    moved = {item.record.resource_id for item in pending if item.record.member_id is not None}
    last = {item.record.resource_id: i for i, item in enumerate(pending)}
    found = list(pending)
    for group_id in moved:
        item = found[last[group_id]]
        document = getattr(item.row, "data", None)
        if not isinstance(document, dict):
            continue
        query = select(Membership.member_id, Membership.member_type).where(
            Membership.group_id == group_id
        )
        rows = session.execute(query.order_by(Membership.member_id))
        members = [{"value": member, "type": kind} for member, kind in rows]
        data = {**document, "members": members}
        found[last[group_id]] = replace(item, record=replace(item.record, data=data))
    return found


def new_txn() -> str:
    """A write transaction's id: server-made, so no client can make two writes share one."""
    return str(uuid.uuid4())


def append_one(
    connection: Connection, tenant_id: int, change: ChangeRecord, version: int, origin: Origin
) -> None:
    """Append ``change``, made now, at ``version``: the last statements of a transaction
    on ``connection`` (SQLite's one-writer write, ``store.single``)."""
    items = [_Pending(tenant_id, change, version, now())]
    _append(connection, tenant_id, items, origin, new_txn())


def append_with_txns(
    executor: Executor,
    tenant_id: int,
    items: Sequence[tuple[ChangeRecord, int | None, str]],
    origin: Origin,
) -> None:
    """Append each (change, version, txn), made now, with the ``txn`` it names: the last
    statements of a transaction whose changes are not one write's (an asynchronous
    request's completions, each carrying its client's ``Set-Txn``)."""
    for change, version, txn in items:
        _append(executor, tenant_id, [_Pending(tenant_id, change, version, now())], origin, txn)


def one_appended(
    tenant_id: int, change: ChangeRecord, version: int, origin: Origin
) -> dict[str, Any]:
    """The parameters of :func:`appended_after` for ``change``, made now, at ``version``."""
    return _appended(tenant_id, [_Pending(tenant_id, change, version, now())], origin, new_txn())


def _append(
    executor: Executor, tenant_id: int, items: Sequence[_Pending], origin: Origin, txn: str
) -> None:
    """The tenant's ``items`` numbered from its head on, and the head advanced past them."""
    features = features_of(executor)
    if features.writes_with_cte:  # seq = the advanced head - count + position
        appended = _appended(tenant_id, items, origin, txn)
        executor.execute(_ADVANCE_AND_INSERT[features.name], appended)
        return
    last = _ADVANCE(executor, {"tenant": tenant_id, "count": len(items)})
    first = last - len(items) + 1
    _INSERT(executor, [_row(item, first + i, origin, txn) for i, item in enumerate(items)])


def _appended(
    tenant_id: int, items: Sequence[_Pending], origin: Origin, txn: str
) -> dict[str, Any]:
    """The parameters of a PostgreSQL append of ``items``: their rows numbered 1…count."""
    rows = [_row(item, i + 1, origin, txn) for i, item in enumerate(items)]
    return {"tenant": tenant_id, "count": len(items), "rows": dump_rows(rows, _SEQ_LAST)}


_ADVANCE = Increment(
    _HEADS, ("tenant_id",), "seq", {"tenant_id": "tenant", "seq": "count", "pruned_through": 0}
)


def _appending(head: CTE) -> Insert:
    """PostgreSQL: the bound ``rows`` inserted after ``head`` (the head's advance, which
    returns the new ``seq``), one statement; ``rows`` carry their position (1…count) as
    ``seq``."""
    rows = json_rows(_CHANGES, _SEQ_LAST)
    seq = head.c.seq - bindparam("count", type_=BigInteger) + rows.c.seq
    shown = [rows.c[c] for c in _SEQ_LAST[:-1]]
    numbered = select(*shown, seq).select_from(head).join(rows, true())
    return insert(_CHANGES).from_select(_SEQ_LAST, numbered).add_cte(head)


def appended_after(first: CTE) -> Insert:
    """PostgreSQL: the bound changes (:func:`one_appended`) appended once ``first`` returns a
    row, and not otherwise. The head's advance takes its row from ``first``, so whatever
    ``first`` locks is locked before the tenant's head, in the order of a transaction
    that appends its changes last (a data-modifying WITH runs its parts in no set order
    else: head then row, against row then head, is a deadlock)."""
    advance = postgresql.insert(_HEADS).from_select(
        ["tenant_id", "seq", "pruned_through"],
        select(
            bindparam("tenant", type_=Integer),
            bindparam("count", type_=BigInteger),
            literal(0, BigInteger),
        ).select_from(first),
    )
    advance = advance.on_conflict_do_update(
        index_elements=[_HEADS.c.tenant_id], set_={"seq": _HEADS.c.seq + advance.excluded.seq}
    )
    return _appending(advance.returning(_HEADS.c.seq).cte("head"))


_SEQ_LAST = [*(c.name for c in _CHANGES.columns if c.name != "seq"), "seq"]
_ADVANCE_AND_INSERT = {
    name: _appending(advance.cte("head"))
    for name, advance in _ADVANCE.statements.items()
    if BACKENDS[name].writes_with_cte
}


def _row(item: _Pending, seq: int, origin: Origin, txn: str) -> dict[str, Any]:
    change = item.record
    version = item.row if isinstance(item.row, int) else getattr(item.row, "version", None)
    return {
        "id": str(uuid.uuid4()),
        "tenant_id": item.tenant_id,
        "seq": seq,
        "type": change.type,
        "operation": origin.operation,
        "resource_type": change.resource_type,
        "resource_id": change.resource_id,
        "external_id": change.external_id,
        "display": change.display,
        "attributes": list(change.attributes),
        "member_id": change.member_id,
        "member_type": change.member_type,
        "data": dict(change.data) if change.data is not None else None,
        "version": version,
        "actor": origin.actor[:100],
        "request_id": origin.request_id[:64],
        "time": item.time,
        "txn": txn,
    }


def history_query(tenant_id: int, resource_id: str, limit: int) -> Select[Change]:
    """A resource's changes and the member events naming it.

    Two index searches whose seqs are united, rather than one OR: given an OR, a
    planner may walk the whole tenant's log by seq to save a sort (SQLite did, with
    some statistics), which costs the size of the log instead of the resource's history.
    """
    own = select(Change.seq).where(Change.tenant_id == tenant_id, Change.resource_id == resource_id)
    named = select(Change.seq).where(Change.tenant_id == tenant_id, Change.member_id == resource_id)
    seqs = union(own, named).subquery()
    return (
        select(Change)
        .join(seqs, Change.seq == seqs.c.seq)
        .where(Change.tenant_id == tenant_id)
        .order_by(Change.seq)
        .limit(limit)
    )


class ChangeRepository:
    """Reads of one tenant's change log."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def after(self, seq: int, limit: int) -> list[Change]:
        """Up to ``limit`` changes with a seq above ``seq``, oldest first."""
        params = {"tenant": self.tenant_id, "after": seq, "limit": limit}
        return list(self.session.scalars(_PAGE, params))

    def after_whole(self, seq: int, limit: int) -> list[Change]:
        """Up to ``limit`` changes after ``seq``, and then the rest of the last one's
        transaction (its changes have consecutive seqs): no transaction is split."""
        found = self.after(seq, limit)
        txn = found[-1].txn if found and len(found) >= limit else None
        while txn is not None:
            more = self.after(found[-1].seq, _WHOLE_PAGE)
            rest = list(takewhile(lambda c: c.txn == txn, more))
            found += rest
            if len(rest) < _WHOLE_PAGE:
                break
        return found

    def position(self) -> FeedPosition:
        row = self.session.execute(_HEAD, {"tenant": self.tenant_id}).first()
        return FeedPosition(0, 0) if row is None else FeedPosition(int(row[0]), int(row[1]))

    def of_resource(self, resource_id: str, limit: int = 1000) -> list[Change]:
        """A resource's history, oldest first, including member events naming it."""
        return list(self.session.scalars(history_query(self.tenant_id, resource_id, limit)))

    def prune(self, before: datetime) -> int:
        """Delete changes older than ``before``; the feed then answers 410 below them."""
        newest = select(func.max(Change.seq)).where(
            Change.tenant_id == self.tenant_id, Change.time < before
        )
        through = self.session.execute(newest).scalar()
        if through is None:
            return 0
        gone = self.session.execute(
            delete(Change).where(Change.tenant_id == self.tenant_id, Change.seq <= through)
        )
        self.session.execute(
            update(FeedHead)
            .where(FeedHead.tenant_id == self.tenant_id, FeedHead.pruned_through < through)
            .values(pruned_through=through)
        )
        return max(int(getattr(gone, "rowcount", 0)), 0)


def heads(connection: Connection) -> dict[int, int]:
    """Every tenant's newest seq: one cheap query, for waking long-polling readers."""
    return {int(t): int(s) for t, s in connection.execute(_ALL_HEADS)}
