"""What each database can do, by name: the one module that knows which database is which.

As Django's ``connection.features``: the store asks whether its database can do a thing
(``features_of(executor).writes_with_cte``), never which database it is. A backend is
chosen once, by the engine's dialect; statements prebuilt for each backend are keyed by
its ``name``. Adding a backend is adding a :class:`Features` here and its statements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import JSON, Connection, Dialect, Engine, cast, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

Options = Mapping[str, Any]
SqlFunction = Callable[..., Any]
T = TypeVar("T")


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
    in_a_file: bool
    """The database is one file on this host, the URL's database part: it is created
    readable by its owner only, and its errors are explained by that file."""
    enforces_length: bool
    """A ``VARCHAR(n)`` column refuses longer text. Where it does not (SQLite), a column
    created as ``VARCHAR(n)`` may keep that type while holding any text."""
    greatest: SqlFunction
    """The SQL function giving the greater of its arguments."""
    json_array: SqlFunction
    """The SQL function building a JSON array of its arguments."""
    json_aggregate: SqlFunction
    """The aggregate collecting a column's values of a group into one JSON array."""
    json_elements: SqlFunction
    """A table-valued function of a JSON array given as text: one row per element, in a
    column named ``value``."""
    upsert: Callable[[Any], Any]
    """The INSERT construct with ``on_conflict_do_nothing``/``_update``, for a table or an
    ORM class."""
    plain: Options
    """Execution options of a plain connection: each statement stands alone."""
    transactions: Mapping[str, tuple[Options, Options]]
    """For each kind of transaction (read, snapshot, write): the options that make a plain
    connection begin it, and those that make it plain again."""


def _json_array_elements(text: Any) -> Any:
    return func.json_array_elements_text(cast(text, JSON))


SQLITE = Features(
    name="sqlite",
    one_writer=True,
    writes_with_cte=False,
    json_recordsets=False,
    advisory_locks=False,
    keeps_statistics=False,
    in_a_file=True,
    enforces_length=False,
    greatest=func.max,
    json_array=func.json_array,
    json_aggregate=func.json_group_array,
    json_elements=func.json_each,
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
    in_a_file=False,
    enforces_length=True,
    greatest=func.greatest,
    json_array=func.json_build_array,
    json_aggregate=func.json_agg,
    json_elements=_json_array_elements,
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


def dialect_features(dialect: Dialect) -> Features | None:
    """The features of ``dialect``'s database; None for another (SQLAlchemy's default
    dialect, which compiles a statement printed without a database)."""
    return BACKENDS.get(dialect.name)


def url_features(url: str | URL) -> Features | None:
    """The features of the database ``url`` names; None for another."""
    return BACKENDS.get(make_url(url).get_backend_name())


def per_backend(build: Callable[[Features], T]) -> dict[str, T]:
    """``build`` made for each backend, keyed by its name: a statement prebuilt for each."""
    return {features.name: build(features) for features in BACKENDS.values()}
