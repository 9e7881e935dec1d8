"""Fixed statements run on the driver's cursor: for the few reads every request makes.

SQLAlchemy's execution path (cache key, execution context, events, result metadata)
costs several times what an indexed one-row SELECT costs SQLite itself: the token lookup
took 81 microseconds through it and takes 32 this way (SQLite, in process). A
:class:`Prepared` statement keeps what that path would produce — the SQL compiled for
the connection's dialect, the order of its parameters and its columns' result
processors (text to datetime on SQLite, JSON text to objects) — and skips the rest.

A driver error is not handled here: the statement runs again through SQLAlchemy, which
classifies it as it does everywhere else (a lost connection invalidates the pool and is
raised as such), so callers see the same errors either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql.selectable import CompoundSelect, Select


class _Compiled:
    """One statement compiled for one dialect."""

    def __init__(self, statement: Select[Any] | CompoundSelect[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = compiled.positiontup if compiled.positional else None
        self.processors: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        return values if self.order is None else [values[name] for name in self.order]

    def row(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(self.processors, raw, strict=True)
        )


class Prepared:
    """A Core SELECT compiled once per dialect, whose first row is read on the DBAPI cursor."""

    def __init__(self, statement: Select[Any] | CompoundSelect[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row for ``values`` (bound by name), processed as SQLAlchemy would."""
        compiled = self._for(connection.dialect)
        driver = connection.dialect.loaded_dbapi
        try:
            cursor = connection.connection.cursor()
            try:
                cursor.execute(compiled.sql, compiled.parameters(values))
                raw = cursor.fetchone()
            finally:
                cursor.close()
        except driver.Error:
            row = connection.execute(self.statement, dict(values)).first()
            return None if row is None else tuple(row)
        return None if raw is None else compiled.row(raw)

    def sql(self, dialect: Dialect) -> str:
        """The statement's SQL in ``dialect``."""
        return self._for(dialect).sql

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _Compiled(self.statement, dialect)
        return found
