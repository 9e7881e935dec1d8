"""Engine and transactions: SQLite tuned for concurrent writers, PostgreSQL as is."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from scimserver.errors import Conflict, Unavailable
from scimserver.store import changes
from scimserver.store.changes import Origin

SQLITE_BUSY_TIMEOUT_MS = 30_000
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError,)
"""What the database or its driver raises (connection lost, locked, ...), for ``except``."""


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """An engine; on SQLite: WAL, foreign keys, case-sensitive LIKE, immediate write locks."""
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        # No pre-ping (a round trip per checkout): a connection found dead is invalidated
        # with the rest of the pool and the error raised as Unavailable; reads run again.
        return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=3600)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-16384")  # KiB per connection: 16 MiB
    cursor.execute("PRAGMA mmap_size=268435456")  # reads map the file: no copy per page
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """Writers take the write lock up front, so they queue instead of failing to upgrade."""
    if connection.get_execution_options().get("scim_write"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


class Transient(Conflict):
    """A transaction lost a deadlock or serialisation race; running it again may succeed."""


_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


@contextmanager
def _translated() -> Iterator[None]:
    """Database failures a caller can act on, as SCIM errors: retry, or try later."""
    try:
        yield
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
            raise Transient("The transaction collided with another; retry.") from exc
        if exc.connection_invalidated:
            raise Unavailable("The database connection was lost; retry.") from exc
        raise


class Database:
    """The engine plus read and write transactions as context managers."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite's transactions read one snapshot already; PostgreSQL's default (READ
        # COMMITTED) takes a new one per statement.
        self._snapshot_reader = (
            self._reader
            if self.is_sqlite
            else sessionmaker(
                self.engine.execution_options(isolation_level="REPEATABLE READ"),
                expire_on_commit=False,
            )
        )
        self._writer = sessionmaker(
            self.engine.execution_options(scim_write=True), expire_on_commit=False
        )

    @contextmanager
    def read(self, snapshot: bool = False) -> Iterator[Session]:
        """A read-only transaction; ``snapshot``: every statement in it sees the database
        as the first one did (for answers read in several statements, e.g. in chunks)."""
        with (
            _translated(),
            (self._snapshot_reader if snapshot else self._reader).begin() as session,
        ):
            yield session

    @contextmanager
    def write(self, origin: Origin | None = None) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any exception.

        Its last step appends the change records the repositories buffered, tagged with
        ``origin``. A deadlock or serialisation failure (PostgreSQL) is raised as
        :class:`Transient`, for the caller to run the whole transaction again; a lost
        connection as :class:`Unavailable` (whether a commit landed is then unknown).
        """
        with _translated(), self._writer.begin() as session:
            changes.begin(session, origin or Origin())
            yield session
            changes.append_pending(session)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection for a single Core read, lighter than an ORM session."""
        with _translated(), self.engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
