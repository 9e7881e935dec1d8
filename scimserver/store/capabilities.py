"""What a database can do, as the store asks it (``scimserver.store.features``).

Each backend states its own in one module: ``store/sqlite.py``, ``store/postgresql.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Options = Mapping[str, Any]
SqlFunction = Callable[..., Any]


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
