"""Fixed statements run on the driver's cursor: for the few statements every request makes.

SQLAlchemy's execution path (cache key, execution context, events, result metadata)
costs several times what an indexed one-row statement costs SQLite itself: the token
lookup took 81 microseconds through it and takes 32 this way (SQLite, in process). A
:class:`Prepared` statement keeps what that path would produce — the SQL compiled for
the connection's dialect, the order of its parameters with their bind processors
(datetime to text on SQLite, objects to JSON text) and its columns' result processors —
and skips the rest. Reads (``first``) and single-row writes (``run``, ``first`` with
RETURNING) alike.

A driver error on a read is not handled here: the read runs again through SQLAlchemy,
which classifies it as it does everywhere else (a lost connection invalidates the pool
and is raised as such), so callers see the same errors either way. A write is not run
twice (inside a PostgreSQL transaction the second run would only meet the aborted
transaction): its error is raised as SQLAlchemy would raise it (IntegrityError with the
driver's SQLSTATE, the connection invalidated when it was lost).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import CompoundSelect, Select

Statement = Select[Any] | CompoundSelect[Any] | UpdateBase
_Bind = tuple[str, Any, Callable[[Any], Any] | None]
"""A parameter: its name, its constant (or ``_GIVEN``: the caller binds it), its processor."""
_GIVEN: Any = object()


class _Compiled:
    """One statement compiled for one dialect."""

    def __init__(self, statement: Statement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.positional = compiled.positional
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        assert names is not None
        self.names = names
        self.binds: list[_Bind] = [
            (
                name,
                _GIVEN if bind.required else bind.effective_value,
                bind.type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name, bind in ((name, compiled.binds[name]) for name in names)
        ]
        self.processors: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.exported_columns
        ]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """``values`` as the driver takes them (a constant in the statement binds itself)."""
        bound = []
        for name, constant, process in self.binds:
            value = values[name] if constant is _GIVEN else values.get(name, constant)
            bound.append(value if process is None or value is None else process(value))
        return bound if self.positional else dict(zip(self.names, bound, strict=True))

    def row(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(self.processors, raw, strict=True)
        )


class Prepared:
    """A Core statement compiled once per dialect, run on the DBAPI cursor."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._is_read = isinstance(statement, Select | CompoundSelect)
        self._compiled: dict[str, _Compiled] = {}

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row for ``values`` (bound by name), processed as SQLAlchemy would."""
        rows = self._read(connection, values, one=True)
        return rows[0] if rows else None

    def all(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row for ``values`` (a read), processed as SQLAlchemy would."""
        return self._read(connection, values, one=False)

    def _read(
        self, connection: Connection, values: Mapping[str, Any], one: bool
    ) -> list[tuple[Any, ...]]:
        compiled = self._for(connection.dialect)
        parameters = compiled.parameters(values)
        try:
            with closing(connection.connection.cursor()) as cursor:
                cursor.execute(compiled.sql, parameters)
                raw = cursor.fetchmany(1) if one else cursor.fetchall()
        except connection.dialect.loaded_dbapi.Error as exc:
            if not self._is_read:
                raise driver_error(connection, compiled.sql, parameters, exc) from exc
            result = connection.execute(self.statement, dict(values))
            return [tuple(row) for row in (result.fetchmany(1) if one else result)]
        return [compiled.row(row) for row in raw]

    def run(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run a write for ``values``; the rows it changed (0 where the driver does not say)."""
        compiled = self._for(connection.dialect)
        parameters = compiled.parameters(values)
        with cursor_of(connection, compiled.sql, parameters) as cursor:
            cursor.execute(compiled.sql, parameters)
            return max(int(cursor.rowcount), 0)

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run a write once for each of ``rows`` (one executemany: on SQLite, a loop in C)."""
        compiled = self._for(connection.dialect)
        parameters = [compiled.parameters(row) for row in rows]
        with cursor_of(connection, compiled.sql, parameters) as cursor:
            cursor.executemany(compiled.sql, parameters)

    def sql(self, dialect: Dialect) -> str:
        """The statement's SQL in ``dialect``."""
        return self._for(dialect).sql

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _Compiled(self.statement, dialect)
        return found


def run_sql(connection: Connection, sql: str) -> None:
    """Run ``sql``, a statement without parameters (BEGIN), on the driver's cursor."""
    with cursor_of(connection, sql) as cursor:
        cursor.execute(sql)


@contextmanager
def cursor_of(connection: Connection, sql: str, parameters: Any = None) -> Iterator[Any]:
    """A driver cursor of ``connection`` to run ``sql`` on, closed after; a driver error
    raised as SQLAlchemy raises it (:func:`driver_error`)."""
    try:
        with closing(connection.connection.cursor()) as cursor:
            yield cursor
    except connection.dialect.loaded_dbapi.Error as exc:
        raise driver_error(connection, sql, parameters, exc) from exc


def driver_error(connection: Connection, sql: str, parameters: Any, exc: Any) -> StatementError:
    """The driver's ``exc`` as SQLAlchemy raises it, the connection invalidated if lost."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, None)
    if lost:
        connection.invalidate(exc)
    error: StatementError = DBAPIError.instance(
        sql, parameters, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost
    )
    return error
