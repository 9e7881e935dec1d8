"""A user's create or update without the ORM session: the fewest statements it can be.

On PostgreSQL it is one statement, with no transaction around it. The resource row, the
changed rows of its value index, the tenant's feed head and the change record are written
by one data-modifying WITH, which commits on its own. A PUT or PATCH then takes two round
trips (the read it is planned against, and this) where its transaction took seven (BEGIN,
the locked read, the UPDATE, the index rows, the groups, the change record, COMMIT); a
create takes one where it took four.

On SQLite, which has no data-modifying WITH, the same rows are written by a few Core
statements in one transaction on the write lock (``Database.write_alone``): no locked
read, no unit of work, no session (whose bookkeeping cost more than the statements).

An update names the version it was planned against: if another writer got there first,
it writes nothing and says so, and the caller takes the locked path. On PostgreSQL every
other part takes its rows from the resource row's own INSERT or UPDATE (its RETURNING):
nothing is written unless that row is, and that row is locked before the feed head, as
in a transaction that appends its changes last (:func:`changes.appended_after`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    CTE,
    Connection,
    Insert,
    delete,
    insert,
    select,
    true,
    tuple_,
)

from scimserver.scim.changes import ChangeRecord
from scimserver.scim.values import IndexedValue
from scimserver.store import changes
from scimserver.store.batch import dump_json, json_rows
from scimserver.store.changes import Origin
from scimserver.store.features import features_of
from scimserver.store.models import AttributeValue, Resource
from scimserver.store.prepared import Prepared
from scimserver.store.repository import (
    ROW_INSERTED,
    ROW_REWRITTEN,
    VALUE_COLUMNS,
    dumped_values,
    inserted,
    reindexed,
    reindexing,
    rewrite_params,
    rewritten,
    storing,
    value_rows,
)

_RESOURCES = Resource.metadata.tables[Resource.__tablename__]
_VALUES = AttributeValue.metadata.tables[AttributeValue.__tablename__]


def _indexed(written: CTE) -> CTE:
    """The bound ``values`` inserted into the value index, once ``written`` has its row."""
    rows = json_rows(_VALUES, VALUE_COLUMNS, "values")
    chosen = select(*(rows.c[c] for c in VALUE_COLUMNS)).select_from(written).join(rows, true())
    return insert(_VALUES).from_select(VALUE_COLUMNS, chosen).cte("indexed")


def _added() -> Insert:
    written = ROW_INSERTED.returning(_RESOURCES.c.id).cte("written")
    return changes.appended_after(written).add_cte(_indexed(written))


def _rewritten() -> Insert:
    written = ROW_REWRITTEN.returning(_RESOURCES.c.id).cte("written")
    stale = json_rows(_VALUES, ("path", "ordinal"), "stale")
    gone = (
        delete(_VALUES)
        .where(
            _VALUES.c.resource_id.in_(select(written.c.id)),
            tuple_(_VALUES.c.path, _VALUES.c.ordinal).in_(select(stale.c.path, stale.c.ordinal)),
        )
        .cte("gone")
    )
    return changes.appended_after(written).add_cte(gone, _indexed(written))


_ADD = Prepared(_added())
_REWRITE = Prepared(_rewritten())


def add(
    connection: Connection,
    resource: Resource,
    values: Iterable[IndexedValue],
    change: ChangeRecord,
    origin: Origin,
) -> None:
    """Insert a new resource, index its values and log ``change``; a unique clash is 409."""
    row: dict[str, Any] = {c.key: getattr(resource, c.key) for c in _RESOURCES.columns}
    rows = value_rows(resource.tenant_id, resource.id, values)
    tenant, version = resource.tenant_id, resource.version
    if features_of(connection).writes_with_cte:
        row["values"] = dumped_values(rows)
        row |= changes.one_appended(tenant, change, version, origin)
        with storing():
            _ADD.run(connection, row)
        return
    inserted(connection, row, rows)
    changes.append_one(connection, tenant, change, version, origin)


def rewrite(
    connection: Connection,
    resource: Resource,
    read: int,
    old: Iterable[IndexedValue],
    new: Iterable[IndexedValue],
    change: ChangeRecord,
    origin: Origin,
) -> bool:
    """Write ``resource`` over its version ``read``, re-index the values that changed
    (:func:`reindexing`) and log ``change``; False, with nothing written, when ``read``
    is no longer the stored version. A password hash of None keeps the stored one."""
    stale, fresh = reindexing(resource.tenant_id, resource.id, old, new)
    params = rewrite_params(resource, read)
    tenant, version = resource.tenant_id, resource.version
    if features_of(connection).writes_with_cte:
        params["stale"] = dump_json([{"path": path, "ordinal": ordinal} for path, ordinal in stale])
        params["values"] = dumped_values(fresh)
        params |= changes.one_appended(tenant, change, version, origin)
        with storing():
            return _REWRITE.run(connection, params) == 1
    if not rewritten(connection, resource, read):
        return False
    reindexed(connection, resource.id, stale, fresh)
    changes.append_one(connection, tenant, change, version, origin)
    return True
