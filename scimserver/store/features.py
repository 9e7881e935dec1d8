"""What each database can do, by name: the one module that knows which database is which.

As Django's ``connection.features``: the store asks whether its database can do a thing
(``features_of(executor).writes_with_cte``), never which database it is. A backend is
chosen once, by the engine's dialect; statements prebuilt for each backend are keyed by
its ``name``. Adding a backend is adding a :class:`Features` here and its statements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

Options = Mapping[str, Any]


@dataclass(frozen=True)
class Features:
    """One database's capabilities, as the store uses them."""

    name: str
    """The dialect's name: the key of the statements prebuilt for this backend."""
    one_writer: bool
    """Writers take turns for the whole database (SQLite's write lock, queued by
    ``WriterQueue``): a write's CPU work is planned before its turn, and rows need no lock."""
    writes_with_cte: bool
    """A statement may INSERT, UPDATE and DELETE in its WITH parts (PostgreSQL): a write's
    rows — the resource, its index rows, its change record — go in one round trip."""
    json_recordsets: bool
    """Many rows are sent as one JSON document (``json_to_recordset``) rather than run as
    an executemany (which SQLite runs in C, and psycopg in a spinning pipeline)."""
    advisory_locks: bool
    """Transaction-scoped locks on a number: a uniqueness check that must not race takes
    one; a database with one writer needs none."""
    keeps_statistics: bool
    """Its planner's statistics are refreshed by the server after writes (``Statistics``)."""
    upsert: Callable[[Any], Any]
    """The INSERT construct with ``on_conflict_do_nothing``/``_update``, for a table or an
    ORM class."""
    plain: Options
    """Execution options of a plain connection: each statement stands alone."""
    transactions: Mapping[str, tuple[Options, Options]]
    """For each kind of transaction (read, snapshot, write): the options that make a plain
    connection begin it, and those that make it plain again."""


SQLITE = Features(
    name="sqlite",
    one_writer=True,
    writes_with_cte=False,
    json_recordsets=False,
    advisory_locks=False,
    keeps_statistics=False,
    upsert=sqlite.insert,
    # The BEGIN a transaction starts with is issued by store.db's ``begin`` event.
    plain={"scim_single": True},
    transactions={
        "read": ({"scim_single": False}, {"scim_single": True}),
        "snapshot": ({"scim_single": False}, {"scim_single": True}),
        "write": (
            {"scim_single": False, "scim_write": True},
            {"scim_single": True, "scim_write": False},
        ),
    },
)
POSTGRESQL = Features(
    name="postgresql",
    one_writer=False,
    writes_with_cte=True,
    json_recordsets=True,
    advisory_locks=True,
    keeps_statistics=True,
    upsert=postgresql.insert,
    # Reads run in autocommit: at READ COMMITTED each statement sees its own snapshot
    # inside a transaction too, so BEGIN and COMMIT were two round trips bought nothing.
    plain={"isolation_level": "AUTOCOMMIT"},
    transactions={
        "read": ({}, {}),
        "snapshot": ({"isolation_level": "REPEATABLE READ"}, {"isolation_level": "AUTOCOMMIT"}),
        "write": ({"isolation_level": "READ COMMITTED"}, {"isolation_level": "AUTOCOMMIT"}),
    },
)
BACKENDS = {f.name: f for f in (SQLITE, POSTGRESQL)}


def features_of(bind: Session | Connection | Engine) -> Features:
    """The features of the database ``bind`` talks to."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return BACKENDS[engine.dialect.name]
