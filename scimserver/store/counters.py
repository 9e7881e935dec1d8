"""Counters kept in a row: one upsert adds to the row (creating it) and returns the total."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


class Increment:
    """``counter += :<counter>`` on the row keyed by ``keys`` (bound by name), built once.

    ``values`` maps every column inserted with a new row to its bound parameter name or
    a constant. Statements are prebuilt per dialect: building an upsert per call cost
    more than running it.
    """

    def __init__(
        self, table: Table, keys: Sequence[str], counter: str, values: Mapping[str, Any]
    ) -> None:
        self.statements = {
            dialect.dialect.name: self._build(dialect, table, keys, counter, values)
            for dialect in (postgresql, sqlite)
        }

    @staticmethod
    def _build(
        dialect: Any, table: Table, keys: Sequence[str], counter: str, values: Mapping[str, Any]
    ) -> Any:
        bound = {c: bindparam(v) if isinstance(v, str) else v for c, v in values.items()}
        statement = dialect.insert(table).values(**bound)
        column = table.c[counter]
        return statement.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={counter: column + statement.excluded[counter]},
        ).returning(column)

    def __call__(self, session: Session, params: Mapping[str, Any]) -> int:
        """Add; the row's new total."""
        statement = self.statements[session.get_bind().dialect.name]
        return int(session.execute(statement, dict(params)).scalar_one())
