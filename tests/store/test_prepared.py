"""Statements run on the driver's cursor read what SQLAlchemy reads and fail as it fails."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import DateTime, bindparam, column, insert, select, table
from sqlalchemy.exc import DBAPIError, IntegrityError

from scimserver.store.db import Database
from scimserver.store.migrate import upgrade
from scimserver.store.models import Resource
from scimserver.store.prepared import Prepared
from tests.conftest import POSTGRES_ADMIN_URL, PostgresDatabases

SHOWN = select(
    Resource.id, Resource.version, Resource.created, Resource.data, Resource.password_hash
).where(Resource.id == bindparam("id"), Resource.tenant_id == bindparam("tenant"))


def test_a_prepared_row_equals_sqlalchemys(db: Database) -> None:
    prepared = Prepared(SHOWN)
    with db.connect() as connection:
        row = prepared.first(connection, {"id": "r1", "tenant": 1})
        expected = connection.execute(SHOWN, {"id": "r1", "tenant": 1}).first()
        missing = prepared.first(connection, {"id": "r2", "tenant": 1})
    assert expected is not None
    assert row == tuple(expected)
    assert row == (
        "r1",
        3,
        datetime(2026, 1, 2, 3, 4, 5, 678000),
        {"userName": "zoë", "emails": [{"value": "z@example.com"}], "n": 2**40},
        None,
    )
    assert missing is None


def test_every_prepared_row_equals_sqlalchemys(db: Database) -> None:
    with db.write() as session:
        Prepared(ROW).run(session.connection(), _row("r2"))
    every = (
        select(Resource.id, Resource.created, Resource.data)
        .where(Resource.tenant_id == bindparam("tenant"))
        .order_by(Resource.id)
    )
    with db.connect() as connection:
        rows = Prepared(every).all(connection, {"tenant": 1})
        expected = connection.execute(every, {"tenant": 1}).all()
        none = Prepared(every).all(connection, {"tenant": 2})
    assert rows == [tuple(row) for row in expected]
    assert [row[:2] for row in rows] == [
        ("r1", datetime(2026, 1, 2, 3, 4, 5, 678000)),
        ("r2", datetime(2026, 5, 6, 7, 8, 9, 123000)),
    ]
    assert rows[1][2] == {"userName": "ünï", "n": [1, None]}
    assert none == []


@pytest.mark.parametrize("read", ["first", "all"])
def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(db: Database, read: str) -> None:
    nowhere = select(column("x", DateTime)).select_from(table("no_such_table"))
    with db.connect() as connection, pytest.raises(DBAPIError):
        getattr(Prepared(nowhere), read)(connection, {})


def test_a_lost_connection_is_invalidated_like_any_other(postgres: PostgresDatabases) -> None:
    """A dead pooled connection is reported as SQLAlchemy reports it (the pool is
    invalidated, so the next read connects afresh), never as a bare driver error."""
    database = Database(postgres.create())
    upgrade(database)
    try:
        with database.connect() as connection:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with database.connect() as connection, pytest.raises(DBAPIError) as raised:
            Prepared(SHOWN).first(connection, {"id": "r1", "tenant": 1})
        assert raised.value.connection_invalidated
        with database.connect() as connection:
            assert Prepared(SHOWN).first(connection, {"id": "r1", "tenant": 1}) is None
    finally:
        database.dispose()


ROW = insert(Resource.__table__).values(
    {c.key: bindparam(c.key) for c in Resource.__table__.columns}  # type: ignore[attr-defined]
)


def _row(resource_id: str) -> dict[str, Any]:
    return {
        "id": resource_id,
        "tenant_id": 1,
        "resource_type": "User",
        "user_name_key": None,
        "display_name": None,
        "version": 1,
        "created": datetime(2026, 5, 6, 7, 8, 9, 123000),
        "last_modified": datetime(2026, 5, 6, 7, 8, 9),
        "data": {"userName": "ünï", "n": [1, None]},
        "password_hash": None,
    }


def test_a_prepared_write_binds_as_sqlalchemy_binds(db: Database) -> None:
    """Datetimes and JSON go in as SQLAlchemy would write them: it reads them back equal."""
    with db.write() as session:
        assert Prepared(ROW).run(session.connection(), _row("r2")) == 1
    with db.connect() as connection:
        stored = connection.execute(SHOWN, {"id": "r2", "tenant": 1}).first()
    assert stored is not None
    assert tuple(stored) == (
        "r2",
        1,
        datetime(2026, 5, 6, 7, 8, 9, 123000),
        _row("r2")["data"],
        None,
    )


def test_a_failed_write_in_a_transaction_raises_its_own_error(db: Database) -> None:
    """A clash is the IntegrityError it is (PostgreSQL: SQLSTATE 23505), not the error of
    running it again in the aborted transaction; nothing of it is written."""
    with pytest.raises(IntegrityError) as raised, db.write() as session:
        Prepared(ROW).run(session.connection(), _row("r1"))
    sqlstate = getattr(raised.value.orig, "sqlstate", "23505")
    assert sqlstate == "23505"
    with db.connect() as connection:
        stored = connection.execute(SHOWN, {"id": "r1", "tenant": 1}).first()
    assert stored is not None and stored.version == 3
