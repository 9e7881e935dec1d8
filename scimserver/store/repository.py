"""Repositories: every SQL statement the services need, parameterised, one tenant at a time."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Result,
    Select,
    String,
    Text,
    Update,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session as Session  # noqa: PLC0414 -- re-exported for services
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from scimserver.errors import Conflict, InvalidValue, Uniqueness
from scimserver.scim.changes import MEMBER_ADDED, MEMBER_REMOVED, ChangeRecord, event_type
from scimserver.scim.render import GroupRow, MemberRow
from scimserver.scim.values import IndexedValue
from scimserver.store import access, changes
from scimserver.store.batch import (
    Executor,
    InsertMany,
    connection_of,
    dump_json,
    dump_rows,
    insert_after,
)
from scimserver.store.db import Database
from scimserver.store.features import Features, features_of, per_backend
from scimserver.store.models import STR_KEY_LENGTH, AttributeValue, Membership, Resource
from scimserver.store.paging import CREATED, Position, Selection
from scimserver.store.prepared import Prepared

_CHUNK = 500
"""Ids per IN (...) list: well under SQLite's and PostgreSQL's bound-parameter limits."""


def rowcount(result: Result[Any]) -> int:
    """The rows a write changed (0 where the driver does not say)."""
    count = getattr(result, "rowcount", 0)
    return max(int(count), 0)


def _changed_underneath() -> Conflict:
    """A version-checked write matched no row: another writer got there first.

    The services read rows under a lock (``SELECT … FOR UPDATE``; on SQLite the database
    write lock) so this does not happen; if a code path ever skips the lock, the write
    fails instead of silently overwriting a version it never saw.
    """
    return Conflict("The resource was changed by another request meanwhile; retry.")


@contextmanager
def storing() -> Iterator[None]:
    """Database refusals of a resource row's INSERT or UPDATE as SCIM errors."""
    try:
        yield
    except IntegrityError as exc:
        raise Uniqueness("A resource with this userName already exists.") from exc
    except DataError as exc:
        raise InvalidValue("A value is too long or not storable.") from exc


# The statements every request runs are built once, with bound parameters: building a
# select and generating its cache key cost five times more than running it on SQLite.
_IN_SCOPE = (
    Resource.tenant_id == bindparam("tenant"),
    Resource.resource_type == bindparam("type"),
)
_SCOPED = select(Resource).where(*_IN_SCOPE)
_COUNT_SCOPED = select(func.count()).select_from(Resource).where(*_IN_SCOPE)
_FIND = _SCOPED.where(Resource.id == bindparam("id"))
_SHOWN = (Resource.id, Resource.version, Resource.created, Resource.last_modified, Resource.data)
"""The columns a response shows (:class:`Found`): reads that only show rows skip the ORM."""
_FIND_FOR_DELETE = _FIND.with_for_update()
# A change that keeps the row's key takes the weaker FOR NO KEY UPDATE on PostgreSQL: it
# still serialises writers of this resource, but not the FOR KEY SHARE that inserting a
# membership takes on the member's row, so a user's PATCH and a member add of that user
# do not wait for each other. (SQLite ignores both: its writers hold the database lock.)
_FIND_FOR_CHANGE = _FIND.with_for_update(key_share=True)


def _page_query(scoped: Select[Any], selection: Selection, descending: bool) -> Select[Any]:
    """A page of ``scoped`` (``offset`` and ``limit`` bound at execution): the page's ids
    are found first, on the listing index alone, and only their rows are read. Asked for
    whole rows past an offset, PostgreSQL sorted every resource of the type, documents
    and all (5,000 users: 15 ms, spilling to disk), to keep a hundred of them."""
    ids = (
        scoped.with_only_columns(Resource.id, selection.key.label("key"))
        .order_by(*selection.order_by(descending))
        .offset(bindparam("offset", type_=BigInteger))
        .limit(bindparam("limit", type_=Integer))
        .subquery()
    )
    return (
        select(*_SHOWN)
        .join(ids, Resource.id == ids.c.id)
        .order_by(*selection.order_of(ids.c.key, ids.c.id, descending))
    )


_PLAIN_PAGE_QUERIES = {
    descending: _page_query(_SCOPED, Selection(None, CREATED, nullable=False), descending)
    for descending in (False, True)
}
"""The page statements of an unfiltered list in creation order, the commonest."""
_PLAIN_PAGES = {descending: Prepared(query) for descending, query in _PLAIN_PAGE_QUERIES.items()}
_PLAIN_COUNT = Prepared(_COUNT_SCOPED)


def page_query(selection: Selection, descending: bool) -> Select[Any]:
    """The statement of :meth:`ResourceRepository.page`; it binds ``tenant``, ``type``,
    ``offset``, ``limit`` and the selection's own parameters."""
    if _is_plain(selection):
        return _PLAIN_PAGE_QUERIES[descending]
    scoped = _SCOPED if selection.where is None else _SCOPED.where(selection.where)
    return _page_query(scoped, selection, descending)


def _is_plain(selection: Selection) -> bool:
    """Unfiltered, in creation order: the selection of the plain page statements."""
    return selection.where is None and selection.key is CREATED


_MEMBERS_OF = (
    select(Membership.group_id, Membership.member_id, Membership.member_type, Membership.display)
    .where(
        Membership.tenant_id == bindparam("tenant"),
        Membership.group_id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(Membership.group_id, Membership.member_id)
)
_MEMBERS_OF_AT_MOST = _MEMBERS_OF.limit(bindparam("limit"))
_MEMBERS_AFTER = (
    select(Membership.member_id, Membership.member_type, Membership.display)
    .where(
        Membership.tenant_id == bindparam("tenant"),
        Membership.group_id == bindparam("group"),
        Membership.member_id > bindparam("after"),
    )
    .order_by(Membership.member_id)
    .limit(bindparam("size"))
)


def _listed(features: Features) -> Select[Any]:
    """The ids in the bound ``ids``, a JSON array: one parameter however many there are.

    A list page asks for the groups of 100 users: as ``IN (:id_1, … :id_100)`` SQLAlchemy
    rendered the statement again on every execution and psycopg dumped each id in Python
    (PostgreSQL, a page's groups: 206 us of client CPU and 265 us wall; from JSON, 46 / 103).
    """
    elements = features.json_elements(bindparam("ids", type_=Text))
    return select(elements.table_valued("value").c.value)


def _groups_of(features: Features) -> Select[str, str, str | None, str]:
    return (
        select(
            Membership.member_id, Membership.group_id, Resource.display_name, Resource.resource_type
        )
        .join(Resource, Resource.id == Membership.group_id)
        .where(
            Membership.tenant_id == bindparam("tenant"),
            Membership.member_id.in_(_listed(features)),
        )
        .order_by(Membership.member_id, Membership.group_id)
    )


_GROUPS_OF = per_backend(_groups_of)
_GROUP = aliased(Resource, name="grp")


def _groups_column(json_array: Any, json_aggregate: Any) -> Any:
    """The groups of the outer row's resource as one JSON array of [id, display, type]."""
    pairs = json_aggregate(
        json_array(Membership.group_id, _GROUP.display_name, _GROUP.resource_type)
    )
    return type_coerce(
        select(pairs)
        .join(_GROUP, _GROUP.id == Membership.group_id)
        .where(Membership.tenant_id == Resource.tenant_id, Membership.member_id == Resource.id)
        .correlate(Resource)
        .scalar_subquery(),
        JSON,
    )


_NAMED_SELECT = select(*_SHOWN).where(*_IN_SCOPE, Resource.user_name_key == bindparam("key"))
_NAMED = Prepared(_NAMED_SELECT)
_IDENTIFIED_SELECT = select(*_SHOWN).where(*_IN_SCOPE, Resource.id == bindparam("id"))
_IDENTIFIED = Prepared(_IDENTIFIED_SELECT)


def _with_groups(found: Select[Any]) -> dict[str, Prepared]:
    """``found`` and its resource's groups in one statement (one round trip), by backend."""

    def built(features: Features) -> Prepared:
        groups = _groups_column(features.json_array, features.json_aggregate)
        return Prepared(found.add_columns(groups))

    return per_backend(built)


_NAMED_WITH_GROUPS = _with_groups(_NAMED_SELECT)
_IDENTIFIED_WITH_GROUPS = _with_groups(_IDENTIFIED_SELECT)
Lock = Literal["change", "delete"]
_LOCKED = {"change": _FIND_FOR_CHANGE, "delete": _FIND_FOR_DELETE}
_VALUES = AttributeValue.metadata.tables[AttributeValue.__tablename__]
_MEMBERSHIPS = Membership.metadata.tables[Membership.__tablename__]
_RESOURCES = Resource.metadata.tables[Resource.__tablename__]
_TOUCH = (
    update(_RESOURCES)
    .where(_RESOURCES.c.id == bindparam("b_id"), _RESOURCES.c.version == bindparam("b_version"))
    .values(version=bindparam("b_new"), last_modified=bindparam("b_now"))
)
REWRITTEN = ("user_name_key", "display_name", "version", "last_modified", "data", "password_hash")
"""The columns an update writes back."""


def _row_rewritten() -> Update:
    """The resource row's UPDATE over its version ``b_read`` (a hash of None keeps the
    stored one): every update of a resource, on every path, is this statement."""
    row = _RESOURCES.c
    changed: dict[str, Any] = {n: bindparam(f"b_{n}") for n in REWRITTEN if n != "password_hash"}
    kept = func.coalesce(bindparam("b_password_hash", type_=String), row.password_hash)
    return (
        update(_RESOURCES)
        .where(
            row.id == bindparam("b_id"),
            row.tenant_id == bindparam("b_tenant"),
            row.resource_type == bindparam("b_type"),
            row.version == bindparam("b_read"),
        )
        .values({**changed, "password_hash": kept})
    )


ROW_REWRITTEN = _row_rewritten()
_ROW_REWRITE = Prepared(ROW_REWRITTEN)


def rewrite_params(resource: Resource, read: int) -> dict[str, Any]:
    """The parameters of :data:`ROW_REWRITTEN` writing ``resource`` over version ``read``."""
    params: dict[str, Any] = {f"b_{name}": getattr(resource, name) for name in REWRITTEN}
    return params | {
        "b_id": resource.id,
        "b_tenant": resource.tenant_id,
        "b_type": resource.resource_type,
        "b_read": read,
    }


def rewritten(connection: Connection, resource: Resource, read: int) -> bool:
    """Write ``resource``'s row over its version ``read``; False, writing nothing, when
    ``read`` is no longer the stored version. A unique clash is 409 uniqueness."""
    with storing():
        return _ROW_REWRITE.run(connection, rewrite_params(resource, read)) == 1


_BUMP = (
    update(_RESOURCES)
    .where(_RESOURCES.c.id.in_(bindparam("ids", expanding=True)))
    .values(version=_RESOURCES.c.version + 1, last_modified=bindparam("now"))
    .returning(_RESOURCES.c.id, _RESOURCES.c.version)
)
_GROUPS_CONTAINING = (
    select(Resource.id, Resource.resource_type, Resource.display_name, Resource.data)
    .join(Membership, Membership.group_id == Resource.id)
    .where(Membership.member_id == bindparam("member"))
    .order_by(Resource.id)
)
_MEMBERS_OF_ONE = (
    select(Membership.member_id, Membership.member_type)
    .where(Membership.group_id == bindparam("group"))
    .order_by(Membership.member_id)
)
DERIVED_GROUPS = "User"
"""The member type whose representation shows its groups (``User.groups``): adding or
removing its membership changes it, so its version moves too."""
_ADVISORY_LOCK = select(func.pg_advisory_xact_lock(bindparam("key")))
VALUE_COLUMNS = tuple(c.name for c in _VALUES.columns if not c.primary_key)  # all but id
_INSERT_VALUES = InsertMany(insert(_VALUES), VALUE_COLUMNS)
ROW_INSERTED = insert(_RESOURCES).values({c.key: bindparam(c.key) for c in _RESOURCES.columns})
"""A resource row's INSERT, each column bound by its name."""
_INSERT_RESOURCE = Prepared(ROW_INSERTED)
_ADD_MEMBERS = per_backend(  # racing adds of the same member are fine
    lambda f: InsertMany(f.upsert(_MEMBERSHIPS).on_conflict_do_nothing())
)
_DELETE_VALUES = delete(_VALUES).where(
    _VALUES.c.resource_id == bindparam("b_resource"),
    tuple_(_VALUES.c.path, _VALUES.c.ordinal).in_(bindparam("b_keys", expanding=True)),
)
"""PostgreSQL: one statement for every stale row, not an executemany (see :class:`InsertMany`)."""
_DELETE_STALE = Prepared(
    delete(_VALUES).where(
        _VALUES.c.resource_id == bindparam("resource"),
        _VALUES.c.path == bindparam("path"),
        _VALUES.c.ordinal == bindparam("ordinal"),
    )
)
"""SQLite: one stale row's DELETE, run for each in C (the IN list above is compiled again
for every length: a tenth of a PATCH's CPU)."""
_ADD_WITH_VALUES = insert_after(ROW_INSERTED, _VALUES, VALUE_COLUMNS)
_REPLACE_VALUES = insert_after(_DELETE_VALUES, _VALUES, VALUE_COLUMNS)
"""PostgreSQL: the two statements each of a create and an update makes, as one."""


def value_rows(
    tenant_id: int, resource_id: str, values: Iterable[IndexedValue]
) -> list[dict[str, Any]]:
    """The attribute_values rows indexing ``values``."""
    return [
        {
            "resource_id": resource_id,
            "tenant_id": tenant_id,
            "path": v.path,
            "ordinal": v.ordinal,
            "str_key": v.str_value[:STR_KEY_LENGTH] if v.str_value is not None else None,
            "str_value": v.str_value,
            "num_value": v.num_value,
            "time_value": v.time_value,
            "bool_value": v.bool_value,
        }
        for v in values
    ]


def dumped_values(rows: Sequence[Mapping[str, Any]]) -> str:
    """Value rows as the one JSON document PostgreSQL's inserts take."""
    return dump_rows(rows, VALUE_COLUMNS)


def reindexing(
    tenant_id: int, resource_id: str, old: Iterable[IndexedValue], new: Iterable[IndexedValue]
) -> tuple[list[tuple[str, int]], list[dict[str, Any]]]:
    """The (path, ordinal) keys of the index rows to delete and the rows to insert.

    ``old`` are the values of the changed attributes as stored, ``new`` as they are now.
    A value is a row per (path, ordinal), so only rows whose value differs are deleted
    and inserted: a PATCH of one attribute writes one index row, not twenty-five, and
    dirties correspondingly fewer index pages at commit.
    """
    before = {(v.path, v.ordinal): v for v in old}
    after = {(v.path, v.ordinal): v for v in new}
    stale = [key for key, value in before.items() if after.get(key) != value]
    fresh = [v for k, v in after.items() if before.get(k) != v]
    return stale, value_rows(tenant_id, resource_id, fresh)


def inserted(
    executor: Executor, row: Mapping[str, Any], values: Sequence[Mapping[str, Any]]
) -> None:
    """Insert a resource ``row`` and its value rows (:func:`value_rows`), as Core statements
    (no unit of work); on PostgreSQL as one. A unique clash is 409 uniqueness."""
    if values and features_of(executor).writes_with_cte:
        with storing():
            executor.execute(_ADD_WITH_VALUES, {**row, "rows": dumped_values(values)})
        return
    with storing():
        _INSERT_RESOURCE.run(connection_of(executor), row)
    _INSERT_VALUES(executor, values)


def reindexed(
    executor: Executor,
    resource_id: str,
    stale: Sequence[tuple[str, int]],
    fresh: Sequence[Mapping[str, Any]],
) -> None:
    """Delete a resource's ``stale`` index rows and insert the ``fresh`` ones
    (:func:`reindexing`); on PostgreSQL as one statement."""
    in_one = features_of(executor).writes_with_cte
    gone = {"b_resource": resource_id, "b_keys": stale}
    if stale and fresh and in_one:
        executor.execute(_REPLACE_VALUES, {**gone, "rows": dumped_values(fresh)})
        return
    if stale and in_one:
        executor.execute(_DELETE_VALUES, gone)
    elif stale:
        keys = [{"resource": resource_id, "path": p, "ordinal": o} for p, o in stale]
        _DELETE_STALE.run_many(connection_of(executor), keys)
    _INSERT_VALUES(executor, fresh)


@dataclass(frozen=True)
class NewMember:
    """A member to add: its resource type and the display the client sent, if any."""

    type: str
    display: str | None = None


def _label(resource: Resource) -> str | None:
    """What the change log names a resource by: userName, else displayName."""
    data = resource.data or {}
    label = data.get("userName") or data.get("displayName")
    return label if isinstance(label, str) else None


def _external_id(data: Any) -> str | None:
    value = data.get("externalId") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def describe(resource: Resource, type: str, **extra: Any) -> ChangeRecord:
    """A change record of ``type`` naming ``resource`` as it is now."""
    return ChangeRecord(
        type,
        resource.resource_type,
        resource.id,
        _external_id(resource.data),
        _label(resource),
        **extra,
    )


def bump(session: Session, ids: Sequence[str], now: datetime) -> dict[str, int]:
    """Move the version and lastModified of rows whose derived attributes changed."""
    versions: dict[str, int] = {}
    for start in range(0, len(ids), _CHUNK):
        params = {"ids": list(ids[start : start + _CHUNK]), "now": now}
        versions.update({i: int(v) for i, v in session.execute(_BUMP, params)})
    return versions


class Found(NamedTuple):
    """A resource as a response shows it, read as plain columns (no ORM entity)."""

    id: str
    version: int
    created: datetime
    last_modified: datetime
    data: dict[str, Any]


def identified(
    connection: Connection, tenant_id: int, resource_type: str, resource_id: str
) -> Found | None:
    """The resource with this id, or None: one statement, needing no transaction."""
    params = {"tenant": tenant_id, "type": resource_type, "id": resource_id}
    row = _IDENTIFIED.first(connection, params)
    return None if row is None else Found(*row)


def named(
    db: Database, tenant_id: int, resource_type: str, key: str, with_groups: bool
) -> tuple[Found, list[GroupRow] | None] | None:
    """The resource whose userName key is ``key`` (unique in its type), with its groups
    when ``with_groups``; None if there is none. One statement: its own snapshot, so it
    runs on the thread's plain connection, with no transaction around it."""
    params = {"tenant": tenant_id, "type": resource_type, "key": key}
    with db.connect() as connection:
        return _found(connection, _NAMED, _NAMED_WITH_GROUPS, params, with_groups)


def identified_with_groups(
    connection: Connection, tenant_id: int, resource_type: str, resource_id: str, with_groups: bool
) -> tuple[Found, list[GroupRow] | None] | None:
    """:func:`identified`, with the resource's groups when ``with_groups``."""
    params = {"tenant": tenant_id, "type": resource_type, "id": resource_id}
    return _found(connection, _IDENTIFIED, _IDENTIFIED_WITH_GROUPS, params, with_groups)


def _found(
    connection: Connection,
    plain: Prepared,
    grouped: Mapping[str, Prepared],
    params: Mapping[str, Any],
    with_groups: bool,
) -> tuple[Found, list[GroupRow] | None] | None:
    if not with_groups:
        row = plain.first(connection, params)
        return None if row is None else (Found(*row), None)
    row = grouped[features_of(connection).name].first(connection, params)
    if row is None:
        return None
    *shown, triples = row
    return Found(*shown), sorted(GroupRow(*triple) for triple in triples or ())


class ResourceRepository:
    """Resources of one type in one tenant, with their value index."""

    def __init__(self, session: Session, tenant_id: int, resource_type: str) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.resource_type = resource_type

    def _scope(self) -> ColumnElement[bool]:
        return (Resource.tenant_id == self.tenant_id) & (
            Resource.resource_type == self.resource_type
        )

    def find(self, resource_id: str, *, lock: Lock | None = None) -> Resource | None:
        """The resource with this id, or None (also for another tenant's id).

        ``lock`` locks the row for the rest of the transaction: "change" for an update
        that keeps the id, "delete" for a delete.
        """
        params = {"tenant": self.tenant_id, "type": self.resource_type, "id": resource_id}
        statement = _FIND if lock is None else _LOCKED[lock]
        return self.session.scalars(statement, params).first()

    def add(self, resource: Resource, values: Iterable[IndexedValue], change: ChangeRecord) -> None:
        """Insert a new resource, index its values and log ``change``.

        A unique clash is 409 uniqueness.
        """
        row = {column.key: getattr(resource, column.key) for column in _RESOURCES.columns}
        inserted(self.session, row, value_rows(self.tenant_id, resource.id, values))
        self._record(change, resource)

    def update(
        self,
        resource: Resource,
        old: Iterable[IndexedValue],
        new: Iterable[IndexedValue],
        change: ChangeRecord,
    ) -> None:
        """Write a changed resource back, re-index the values that changed, log ``change``.

        A renamed group changes the ``groups`` its member users show, so their versions
        move too (one statement; a rename is rare, a membership change never does this).
        Only the index rows whose values changed are rewritten (:func:`reindexing`).
        """
        renamed = inspect(resource).attrs.display_name.history.has_changes()
        self._write_back(resource)
        self._record(change, resource)
        if renamed:
            memberships = MembershipRepository(self.session, self.tenant_id)
            bump(
                self.session,
                memberships.member_ids(resource.id, DERIVED_GROUPS),
                resource.last_modified,
            )
        reindexed(self.session, resource.id, *reindexing(self.tenant_id, resource.id, old, new))

    def touch(self, resource: Resource, now: datetime) -> None:
        """Bump version and lastModified without rewriting the document."""
        version = resource.version + 1
        params = {
            "b_id": resource.id,
            "b_version": resource.version,
            "b_new": version,
            "b_now": now,
        }
        if rowcount(self.session.execute(_TOUCH, params)) != 1:
            raise _changed_underneath()
        # What was written is known: record it on the object as loaded, without a re-read.
        set_committed_value(resource, "version", version)
        set_committed_value(resource, "last_modified", now)

    def remove(self, resource: Resource, now: datetime) -> None:
        """Delete a resource; every membership it had is logged as removed first."""
        MembershipRepository(self.session, self.tenant_id).detach(resource, now)
        self._record(describe(resource, event_type(resource.resource_type, "deleted")))
        self.session.delete(resource)
        try:
            self.session.flush()
        except StaleDataError as exc:
            raise _changed_underneath() from exc

    def _record(self, change: ChangeRecord, row: Resource | None = None) -> None:
        changes.record(self.session, self.tenant_id, change, row)

    def _write_back(self, resource: Resource) -> None:
        """The columns a write changes, as one UPDATE checked against the version read
        (what the ORM's unit of work would do, at a fraction of its cost)."""
        read = inspect(resource).attrs.version.history.deleted
        # On the session's connection, not through it: a flush would write the row too.
        if not rewritten(
            self.session.connection(), resource, read[0] if read else resource.version
        ):
            raise _changed_underneath()
        for name in REWRITTEN:  # written: the session has nothing left to flush
            set_committed_value(resource, name, getattr(resource, name))

    def value_taken(self, path: str, value: str, exclude_id: str | None) -> bool:
        """Whether another resource of this type already holds ``value`` at ``path``.

        On PostgreSQL the value is first locked for the rest of the transaction (an
        advisory lock on its hash), so two writers cannot both find it free and both
        store it; SQLite's writers are serialised already.
        """
        if features_of(self.session).advisory_locks:
            key = f"{self.tenant_id}\0{self.resource_type}\0{path}\0{value}".encode()
            digest = hashlib.blake2b(key, digest_size=8).digest()
            lock = int.from_bytes(digest, "big", signed=True)
            self.session.execute(_ADVISORY_LOCK, {"key": lock})
        query = (
            select(AttributeValue.resource_id)
            .join(Resource, Resource.id == AttributeValue.resource_id)
            .where(
                self._scope(),
                AttributeValue.tenant_id == self.tenant_id,
                AttributeValue.path == path,
                AttributeValue.str_key == value[:STR_KEY_LENGTH],
                AttributeValue.str_value == value,
            )
        )
        if exclude_id is not None:
            query = query.where(Resource.id != exclude_id)
        return self.session.execute(query.limit(1)).first() is not None

    def query(self, clause: ColumnElement[bool] | None) -> Select[Any]:
        query = _SCOPED.params(tenant=self.tenant_id, type=self.resource_type)
        return query if clause is None else query.where(clause)

    def count(self, selection: Selection) -> int:
        scope = {"tenant": self.tenant_id, "type": self.resource_type}
        connection = self.session.connection()  # Core: no ORM execution for a number
        if selection.where is None:
            row = _PLAIN_COUNT.first(connection, scope)
            return int(row[0]) if row is not None else 0
        query = _COUNT_SCOPED.where(selection.where)
        return int(connection.scalar(query, {**selection.params, **scope}) or 0)

    def page(self, selection: Selection, descending: bool, offset: int, limit: int) -> list[Found]:
        """Rows ``offset`` to ``offset + limit`` of the selection, in its order."""
        params = {
            **selection.params,
            "tenant": self.tenant_id,
            "type": self.resource_type,
            "offset": offset,
            "limit": limit,
        }
        connection = self.session.connection()  # Core rows: no ORM result processing
        rows: Iterable[Sequence[Any]]
        if _is_plain(selection):
            rows = _PLAIN_PAGES[descending].all(connection, params)
        else:
            rows = connection.execute(page_query(selection, descending), params)
        return [Found(*row) for row in rows]

    def keyed_page(
        self, selection: Selection, descending: bool, after: Position | None, limit: int
    ) -> list[tuple[Found, Any]]:
        """The rows that follow ``after``, each with its sort key value (keyset paging)."""
        query = self.query(selection.after(after, descending))
        query = query.with_only_columns(*_SHOWN, selection.key)
        ordered = query.order_by(*selection.order_by(descending)).limit(limit)
        rows = self.session.execute(ordered, selection.params)
        return [(Found(*shown), value) for *shown, value in rows]


class MembershipRepository:
    """Group memberships in one tenant, changed as set operations."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def members_of(
        self, group_ids: Sequence[str], at_most: int | None = None
    ) -> dict[str, list[MemberRow]] | None:
        """The members of each group, by member id; None if they are more than ``at_most``
        in all (then at most ``at_most + 1`` rows were read)."""
        out: dict[str, list[MemberRow]] = {g: [] for g in group_ids}
        params: dict[str, Any] = {"tenant": self.tenant_id, "ids": group_ids}
        connection = self.session.connection()  # Core rows: no ORM result processing
        if at_most is None:
            rows = connection.execute(_MEMBERS_OF, params).all()
        else:
            rows = connection.execute(_MEMBERS_OF_AT_MOST, {**params, "limit": at_most + 1}).all()
            if len(rows) > at_most:
                return None
        for group_id, member_id, member_type, display in rows:
            out[group_id].append(MemberRow(member_id, member_type, display))
        return out

    def page(self, group_id: str, offset: int, limit: int) -> list[MemberRow]:
        """Members ``offset`` to ``offset + limit`` of one group, by member id.

        The page is cut from the primary key (group_id, member_id) first and only its
        rows are joined to their resources (``display`` falls back to the member's
        displayName or userName): a page of a 100,000-member group costs what a page of
        a small one costs, whatever the planner thinks of a join over the whole group.
        """
        cut = (
            select(Membership.member_id, Membership.member_type, Membership.display)
            .where(Membership.tenant_id == self.tenant_id, Membership.group_id == group_id)
            .order_by(Membership.member_id)
            .offset(offset)
            .limit(limit)
            .subquery()
        )
        shown = func.coalesce(cut.c.display, Resource.display_name, Resource.user_name_key)
        query = (
            select(cut.c.member_id, cut.c.member_type, shown)
            .join(Resource, Resource.id == cut.c.member_id)
            .order_by(cut.c.member_id)
        )
        return [MemberRow(*row) for row in self.session.execute(query)]

    def member_chunks(self, group_id: str, size: int) -> Iterator[list[MemberRow]]:
        """The group's members by member id, ``size`` at a time, each chunk one query
        (keyset on the primary key): only one chunk is ever held in memory."""
        params: dict[str, Any] = {"tenant": self.tenant_id, "group": group_id, "size": size}
        connection = self.session.connection()  # Core rows: no ORM result processing
        after = ""
        while True:
            rows = connection.execute(_MEMBERS_AFTER, {**params, "after": after}).all()
            if rows:
                yield list(map(MemberRow._make, rows))
            if len(rows) < size:
                return
            after = rows[-1][0]

    def groups_of(self, member_ids: Sequence[str]) -> dict[str, list[GroupRow]]:
        out: dict[str, list[GroupRow]] = {m: [] for m in member_ids}
        params = {"tenant": self.tenant_id, "ids": dump_json(list(member_ids))}
        connection = self.session.connection()
        rows = connection.execute(_GROUPS_OF[features_of(connection).name], params)  # Core rows
        for member_id, group_id, display, group_type in rows:
            out[member_id].append(GroupRow(group_id, display, group_type))
        return out

    def types_of(self, ids: Iterable[str]) -> dict[str, str]:
        """The resource type of each id that exists in this tenant."""
        wanted = list(set(ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = select(Resource.id, Resource.resource_type).where(
                Resource.tenant_id == self.tenant_id, Resource.id.in_(chunk)
            )
            found.update({rid: rtype for rid, rtype in self.session.execute(query)})
        return found

    def add(self, group: Resource, members: dict[str, NewMember], now: datetime) -> int:
        """Insert members not already present, and store a changed ``display``.

        Each inserted member is logged as added and, if a user, gets a new version (its
        ``groups`` changed). Returns how many memberships were inserted or changed.
        """
        present = self.present(group.id, members)
        rows = [
            {
                "group_id": group.id,
                "member_id": member_id,
                "member_type": member.type,
                "tenant_id": self.tenant_id,
                "display": member.display,
                "display_key": member.display.casefold() if member.display else None,
            }
            for member_id, member in members.items()
            if member_id not in present
        ]
        if rows:
            self._insert(rows)
            added = [(i, m.type) for i, m in members.items() if i not in present]
            self._changed(group, MEMBER_ADDED, added, now)
        renamed = {
            member_id: member.display
            for member_id, member in members.items()
            if member_id in present and member.display and member.display != present[member_id]
        }
        for member_id, display in renamed.items():
            self.session.execute(
                update(Membership)
                .where(Membership.group_id == group.id, Membership.member_id == member_id)
                .values(display=display, display_key=display.casefold())
            )
        if renamed:
            change = describe(
                group, event_type(group.resource_type, "updated"), attributes=("members",)
            )
            changes.record(self.session, self.tenant_id, change, group)
        return len(rows) + len(renamed)

    def _changed(
        self, group: Resource, kind: str, members: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        """Log one event per member added or removed, and move the users' versions."""
        for member_id, member_type in members:
            change = describe(group, kind, member_id=member_id, member_type=member_type)
            changes.record(self.session, self.tenant_id, change, group)
        users = [m for m, t in members if t == DERIVED_GROUPS and m != group.id]
        access.note_members(self.session, self.tenant_id, DERIVED_GROUPS, group.id, kind, users)
        bump(self.session, users, now)

    def _insert(self, rows: Sequence[dict[str, Any]]) -> None:
        add = _ADD_MEMBERS[features_of(self.session).name]
        try:
            for start in range(0, len(rows), _CHUNK):
                add(self.session, rows[start : start + _CHUNK])
        except IntegrityError as exc:
            # Duplicates are absorbed above, so this is the member foreign key: a member
            # that existed when we looked was deleted by a transaction that committed since
            # (PostgreSQL only; SQLite's writers never overlap). As if it had come first.
            raise InvalidValue("A member was deleted while it was being added.") from exc

    def present(self, group_id: str, member_ids: Iterable[str]) -> dict[str, str | None]:
        """Which of ``member_ids`` are members of the group already, with their display."""
        ids = list(set(member_ids))
        found: dict[str, str | None] = {}
        for start in range(0, len(ids), _CHUNK):
            query = select(Membership.member_id, Membership.display).where(
                Membership.group_id == group_id,
                Membership.member_id.in_(ids[start : start + _CHUNK]),
            )
            found.update({member_id: display for member_id, display in self.session.execute(query)})
        return found

    def remove(self, group: Resource, member_ids: Iterable[str], now: datetime) -> int:
        """Delete these memberships of the group; each one that existed is logged."""
        ids = list(set(member_ids))
        removed: list[tuple[str, str]] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            statement = (
                delete(Membership)
                .where(Membership.group_id == group.id, Membership.member_id.in_(chunk))
                .returning(Membership.member_id, Membership.member_type)
            )
            removed.extend((m, t) for m, t in self.session.execute(statement))
        removed.sort()
        self._changed(group, MEMBER_REMOVED, removed, now)
        return len(removed)

    def clear(self, group: Resource, now: datetime) -> int:
        return self.remove(group, self.member_ids(group.id), now)

    def member_ids(self, group_id: str, member_type: str | None = None) -> list[str]:
        query = _MEMBERS_OF_ONE.params(group=group_id)
        return [m for m, t in self.session.execute(query) if member_type in (None, t)]

    def detach(self, resource: Resource, now: datetime) -> None:
        """Before ``resource`` is deleted: log its members and its groups as removed.

        The groups it belonged to get new versions (their ``members`` change); deleting
        the rows is left to the foreign keys' cascade.
        """
        members = list(self.session.execute(_MEMBERS_OF_ONE, {"group": resource.id}))
        if members:
            self._changed(resource, MEMBER_REMOVED, [(m, t) for m, t in members], now)
        groups = [
            row
            for row in self.session.execute(_GROUPS_CONTAINING, {"member": resource.id})
            if row[0] != resource.id
        ]
        versions = bump(self.session, [row[0] for row in groups], now)
        for group_id, group_type, display, data in groups:
            change = ChangeRecord(
                MEMBER_REMOVED,
                group_type,
                group_id,
                _external_id(data),
                display,
                member_id=resource.id,
                member_type=resource.resource_type,
            )
            changes.record(self.session, self.tenant_id, change, versions.get(group_id))
