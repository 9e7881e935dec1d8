"""Many rows in one INSERT: every multi-row insert of the store goes through here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.orm import Session


class InsertMany:
    """An INSERT run with a list of rows, prebuilt for each database.

    psycopg runs an executemany in pipeline mode and, while it waits for the results,
    polls a socket that is always writable: a core spins for the whole round trip (py-spy:
    a third of a create's CPU). Given RETURNING, SQLAlchemy sends the rows as multi-row
    ``INSERT … VALUES (…), (…)`` statements instead, so PostgreSQL gets that form;
    SQLite's executemany runs in C and stays.
    """

    def __init__(self, statement: Insert) -> None:
        table = statement.table
        assert isinstance(table, Table)
        self.plain = statement
        self.returning = statement.returning(*table.primary_key.columns)

    def __call__(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            postgres = session.get_bind().dialect.name == "postgresql"
            session.execute(self.returning if postgres else self.plain, [dict(r) for r in rows])
