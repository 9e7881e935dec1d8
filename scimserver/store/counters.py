"""Counters kept in a row: one upsert adds to the row (creating it) and returns the total."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam

from scimserver.store.batch import Executor, connection_of
from scimserver.store.features import Features, features_of, per_backend
from scimserver.store.prepared import Prepared


class Increment:
    """``counter += :<counter>`` on the row keyed by ``keys`` (bound by name), built once.

    ``values`` maps every column inserted with a new row to its bound parameter name or
    a constant. Statements are prebuilt per backend: building an upsert per call cost
    more than running it.
    """

    def __init__(
        self, table: Table, keys: Sequence[str], counter: str, values: Mapping[str, Any]
    ) -> None:
        self.statements = _prebuilt(table, keys, values, (counter,), (), table.c[counter])
        self.prepared = {name: Prepared(statement) for name, statement in self.statements.items()}

    def __call__(self, executor: Executor, params: Mapping[str, Any]) -> int:
        """Add; the row's new total."""
        connection = connection_of(executor)
        row = self.prepared[features_of(connection).name].first(connection, params)
        assert row is not None  # an upsert returns its row
        return int(row[0])


class Accumulate:
    """Like :class:`Increment` for several rows at once (one executemany), returning nothing.

    Each of ``counters`` is added to; each of ``latest`` keeps the greater of the stored
    and the new value, so rows sent out of order never move it back.
    """

    def __init__(
        self,
        table: Table,
        keys: Sequence[str],
        values: Mapping[str, Any],
        counters: Sequence[str],
        latest: Sequence[str] = (),
    ) -> None:
        self.statements = _prebuilt(table, keys, values, counters, latest, None)

    def __call__(self, executor: Executor, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            statement = self.statements[features_of(executor).name]
            executor.execute(statement, [dict(r) for r in rows])


def _prebuilt(
    table: Table,
    keys: Sequence[str],
    values: Mapping[str, Any],
    counters: Sequence[str],
    latest: Sequence[str],
    returning: Any,
) -> dict[str, Any]:
    """The upsert for each backend, by its name."""

    def built(features: Features) -> Any:
        bound = {c: bindparam(v) if isinstance(v, str) else v for c, v in values.items()}
        statement = features.upsert(table).values(**bound)
        excluded = statement.excluded
        assignments = {c: table.c[c] + excluded[c] for c in counters}
        assignments |= {c: features.greatest(table.c[c], excluded[c]) for c in latest}
        statement = statement.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys], set_=assignments
        )
        return statement.returning(returning) if returning is not None else statement

    return per_backend(built)
