"""Rows inserted many at a time are stored exactly as given, and refused as one row would be."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import DataError, IntegrityError

from scimserver.store.batch import InsertMany
from scimserver.store.db import Database
from scimserver.store.models import AttributeValue, RequestRecord, Resource
from tests.store.conftest import database_holding

_VALUES = AttributeValue.metadata.tables[AttributeValue.__tablename__]
_LOG = RequestRecord.metadata.tables[RequestRecord.__tablename__]
VALUE_COLUMNS = [c.name for c in _VALUES.columns if not c.primary_key]
LOG_COLUMNS = [c.name for c in _LOG.columns if c.name != "id"]


@pytest.fixture
def db(backend: str, database_url_factory: Any) -> Iterator[Database]:
    moment = datetime(2026, 1, 2)
    resource = Resource(
        id="r1",
        tenant_id=1,
        resource_type="User",
        version=1,
        created=moment,
        last_modified=moment,
        data={},
    )
    database = database_holding(database_url_factory(backend), resource)
    yield database
    database.dispose()


def _value(ordinal: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {c: None for c in VALUE_COLUMNS}
    row.update(resource_id="r1", tenant_id=1, path="emails.value", ordinal=ordinal)
    row.update(changes)
    return row


def test_values_of_every_type_come_back_as_given(db: Database) -> None:
    rows = [
        _value(0, str_key="zoë@example.com", str_value='Zoë "Z" \\ O\'Brien ✓ 𝄞'),
        _value(1, num_value=-1.5e300),
        _value(2, num_value=2.0**63),
        _value(3, time_value=datetime(2026, 12, 5, 17, 1, 2, 345678)),
        _value(4, bool_value=False),
        _value(5),
    ]
    with db.write() as session:
        InsertMany(insert(_VALUES), VALUE_COLUMNS)(session, rows)
    with db.read() as session:
        stored = session.execute(select(_VALUES).order_by(_VALUES.c.ordinal)).mappings().all()
    assert [{c: r[c] for c in VALUE_COLUMNS} for r in stored] == rows


def test_request_records_keep_json_lists_and_nulls(db: Database) -> None:
    record: dict[str, Any] = {c: None for c in LOG_COLUMNS}
    record.update(
        tenant_id=1,
        at=datetime(2026, 12, 5, 17, 0, 0, 1),
        request_id="r",
        client="okta",
        method="PATCH",
        path="/scim/v2/Users/r1",
        status=200,
        duration_ms=3.25,
    )
    rows = [{**record, "normalisations": ["okta.active-string", "x"]}, record]
    with db.write() as session:
        InsertMany(insert(_LOG), LOG_COLUMNS)(session, rows)
    with db.read() as session:
        stored = session.execute(select(_LOG).order_by(_LOG.c.id)).mappings().all()
    assert [{c: r[c] for c in LOG_COLUMNS} for r in stored] == rows


def test_a_value_too_long_or_a_missing_resource_is_refused_whole(
    db: Database, backend: str
) -> None:
    insert_values = InsertMany(insert(_VALUES), VALUE_COLUMNS)
    too_long = [_value(0, str_key="ok"), _value(1, path="p" * 1000)]
    if backend == "postgresql":  # SQLite does not enforce VARCHAR lengths
        with pytest.raises(DataError), db.write() as session:
            insert_values(session, too_long)
    with pytest.raises(IntegrityError), db.write() as session:
        insert_values(session, [_value(0), _value(1, resource_id="gone")])
    with db.read() as session:
        assert session.execute(select(_VALUES)).first() is None
