"""Many rows in one INSERT: every multi-row insert of the store goes through here."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Insert,
    String,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

from scimserver.store.features import features_of
from scimserver.store.prepared import Prepared

Executor = Session | Connection
"""Where a statement runs: an ORM session's transaction, or a Core connection's."""


def connection_of(executor: Executor) -> Connection:
    """``executor``'s connection; a session's pending rows flushed first, as its
    ``execute`` would, for a statement run on the connection itself."""
    if isinstance(executor, Connection):
        return executor
    executor.flush()
    return executor.connection()


class InsertMany:
    """An INSERT run with a list of rows, prebuilt for each database.

    psycopg runs an executemany in pipeline mode and, while it waits for the results,
    polls a socket that is always writable: a core spins for the whole round trip (py-spy:
    a third of a create's CPU). Given RETURNING, SQLAlchemy sends the rows as multi-row
    ``INSERT … VALUES (…), (…)`` statements instead, so PostgreSQL gets that form;
    SQLite's executemany runs in C and stays.

    With ``columns`` (the keys every row has), PostgreSQL gets the rows as one JSON
    document instead: ``INSERT … SELECT … FROM json_to_recordset(:rows) AS x(a type, …)``.
    Its text is the same whatever the row count, so psycopg parses it once (a multi-row
    VALUES list of 45 rows is past psycopg's 4 kB query cache and was parsed again on
    every create), and orjson writes the rows in C: bound as one array per column, psycopg
    dumped every element in Python (22 value rows: 260 us of CPU, now 65; the insert's
    round trip 400 -> 200 us).

    With ``columns``, SQLite's executemany runs on the driver's cursor, in the session's
    transaction, with the rows already in bind order and converted by their columns' bind
    processors (:meth:`Prepared.run_many`): SQLAlchemy's own executemany spent about 8 us
    per row making each row's parameters (a create inserts two dozen value rows, a flush
    of request activity 500).
    A driver error is raised as SQLAlchemy would raise it (IntegrityError, ...).
    """

    def __init__(self, statement: Insert, columns: Sequence[str] = ()) -> None:
        table = statement.table
        assert isinstance(table, Table)
        self.plain = statement
        self.returning = statement.returning(*table.primary_key.columns)
        self.columns = tuple(columns)
        self.documents = _from_json(statement, table, self.columns) if columns else None
        self.cursor_insert = (
            Prepared(statement.values({c: bindparam(c) for c in self.columns})) if columns else None
        )

    def __call__(self, executor: Executor, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if not features_of(executor).json_recordsets:
            if self.cursor_insert is None:
                executor.execute(self.plain, [dict(r) for r in rows])
            else:
                self.cursor_insert.run_many(connection_of(executor), rows)
        elif self.documents is not None:
            executor.execute(self.documents, {"rows": dump_rows(rows, self.columns)})
        else:
            executor.execute(self.returning, [dict(r) for r in rows])


def dump_json(value: Any) -> str:
    """A JSON column's text: orjson, or the json module for integers beyond 64 bits."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The rows' ``columns`` as one JSON array of objects (datetimes in ISO 8601)."""
    return dump_json([{c: r[c] for c in columns} for r in rows])


def _from_json(statement: Insert, table: Table, columns: Sequence[str]) -> Insert:
    """``statement`` taking its rows from the bound ``rows`` document."""
    rows = json_rows(table, columns)
    built = statement.from_select(list(columns), select(*(rows.c[c] for c in columns)))
    assert isinstance(built, Insert)
    return built


def insert_after(first: UpdateBase, table: Table, columns: Sequence[str]) -> Insert:
    """PostgreSQL: ``first`` (an INSERT or a DELETE), then the INSERT of the bound
    ``rows`` into ``table``, as one statement (a data-modifying WITH): one round trip
    where there were two. Foreign keys are checked at the statement's end, so the rows
    may refer to a row ``first`` inserts."""
    return _from_json(insert(table), table, columns).add_cte(first.cte("first"))


def json_rows(table: Table, columns: Sequence[str], name: str = "rows") -> TableValuedAlias:
    """The bound ``name`` (a JSON array of objects, see :func:`dump_rows`) as a table of
    ``columns`` typed as ``table``'s: PostgreSQL's ``json_to_recordset``."""
    shape = [column(c, _unbounded(table.c[c].type)) for c in columns]
    document = cast(bindparam(name, type_=Text), JSON)
    return func.json_to_recordset(document).table_valued(*shape).render_derived(with_types=True)


def _unbounded(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """A string type without its length: a cast to VARCHAR(n) would cut a longer value
    where the column refuses it (and the client gets its 400)."""
    return type(column_type)() if isinstance(column_type, String) else column_type
