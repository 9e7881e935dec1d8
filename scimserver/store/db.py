"""Engine and transactions: SQLite tuned for concurrent writers, PostgreSQL as is."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext, suppress
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from scimserver.errors import Conflict, Unavailable
from scimserver.store import changes
from scimserver.store.batch import dump_json
from scimserver.store.changes import Origin
from scimserver.store.models import Base
from scimserver.store.prepared import driver_error, run_sql
from scimserver.store.rounds import AfterCommits
from scimserver.store.statistics import Statistics

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
WAL_SIZE_LIMIT = 64 * 1024 * 1024
WAL_FILE_LIMIT = 4 * WAL_SIZE_LIMIT
"""The WAL file SQLite keeps when the WAL starts over (its journal_size_limit).

Writes outpace the checkpointer's free passes past ``WAL_SIZE_LIMIT`` (to ~110 MB under
scimbench's creates) before it holds them back; a WAL cut back to that limit as it
started over cost the first commit after it ~5 ms more while every writer waited, and the
file grew again with the next writes. Kept, it is overwritten in place.
"""
CHECKPOINT_INTERVAL = 1.0
"""Seconds between a server's WAL checkpoints (SQLite), taken off the request path."""
_TABLES = frozenset(Base.metadata.tables)
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
    coding: dict[str, Any] = {"json_serializer": dump_json, "json_deserializer": orjson.loads}
    if not url.startswith("sqlite"):
        # No pre-ping (a round trip per checkout): a connection found dead is invalidated
        # with the rest of the pool and the error raised as Unavailable; reads run again.
        return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=3600, **coding)
    timeout = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    engine = create_engine(url, connect_args=timeout, **coding)
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
    # No checkpoint inside a commit (every 1,000 WAL pages it copied pages and fsynced,
    # several ms on the request that drew it): Checkpointer does it in the background, and
    # closing the last connection checkpoints what is left (CLI, tests).
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    # A WAL that starts over is cut back to this size: a burst of writes leaves no huge file.
    cursor.execute(f"PRAGMA journal_size_limit={WAL_FILE_LIMIT}")
    cursor.close()


_BEGIN_WRITE = "BEGIN IMMEDIATE"


def _begin_statement(options: Mapping[str, Any]) -> str | None:
    """What a SQLite transaction with these execution options begins with. Writers take
    the write lock up front, so they queue instead of failing to upgrade; a single
    statement is a transaction of its own and needs no BEGIN (nor its ROLLBACK)."""
    if options.get("scim_write"):
        return _BEGIN_WRITE
    return None if options.get("scim_single") else "BEGIN"


def _sqlite_begin(connection: Connection) -> None:
    """Run :func:`_begin_statement` on the driver's cursor (through SQLAlchemy's execution
    path it cost ~20 us, a tenth of it this way)."""
    sql = _begin_statement(connection.get_execution_options())
    if sql is not None:
        run_sql(connection, sql)


@contextmanager
def _immediate(connection: Connection) -> Iterator[None]:
    """A SQLite write transaction on ``connection``'s driver connection, under
    SQLAlchemy's notice: committed at the end, rolled back on any exception."""
    run_sql(connection, _BEGIN_WRITE)
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    try:
        yield
    except BaseException:
        with suppress(sqlite3.Error):  # the error raised is the one that stopped the write
            driver.rollback()
        raise
    try:
        driver.commit()
    except sqlite3.Error as exc:
        raise driver_error(connection, "COMMIT", None, exc) from exc


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


class WriterQueue:
    """Writers to one SQLite file line up here and are woken the moment the one before
    them is done.

    SQLite's own wait for its write lock (busy_timeout) polls, sleeping 1, 2, 5, 10… ms
    between tries while the lock may already be free; with two workers writing, that
    idle lock is lost throughput and latency. Here a thread lock orders a process's
    threads and an ``flock`` on ``<database>-lock`` orders processes (workers, the CLI);
    the kernel lets go of it when a process dies. busy_timeout stays the fallback for
    writers that do not queue here (the sqlite3 shell). Nested writes on one thread
    queue once.
    """

    def __init__(self, path: str) -> None:
        self.path = f"{path}-lock"
        self._threads = threading.Lock()
        self._local = threading.local()
        self._fd = -1
        self._pid = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the write turn for the body of the ``with``."""
        if getattr(self._local, "held", False):
            yield
            return
        with self._threads:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._local.held = True
            try:
                yield
            finally:
                self._local.held = False
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _file(self) -> int:
        """This process's own descriptor: one inherited across fork shares its lock."""
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd


class Checkpointer:
    """Copies the SQLite WAL into the database file from a daemon thread, once a second
    while writes happen: the work a commit did every 1,000 pages, off the request path.

    PASSIVE passes copy what is there while writers go on; they never wait for readers
    or writers, so they cannot stall a request. A WAL starts over (instead of growing)
    only once a checkpoint has copied it to its end, which never happens while writers
    append during every pass: under steady writes it grew past 800 MB and each commit
    cost three times as much. So once a pass finds few new pages, a last one copies them
    with the writers held back (their queue's turn), and the next commit starts the WAL
    from the beginning. That pass syncs the database file while every writer waits (1 to
    17 ms on this VM), so it is taken only when few pages are left, or once writes have
    outpaced every free pass and the WAL holds ``WAL_SIZE_LIMIT``. Started lazily, after
    the fork.
    """

    def __init__(
        self,
        path: str,
        writers: WriterQueue | None = None,
        interval: float = CHECKPOINT_INTERVAL,
    ) -> None:
        self.path = path
        self.writers = writers
        self.rounds = AfterCommits(self.checkpoint, interval, "scimserver-checkpoint", _SQLITE)
        self.nudge = self.rounds.nudge

    def checkpoint(self) -> None:
        """Copy the WAL into the database file, to its end.

        On a connection of its own, not one of the pool's: requests never wait for it.
        """
        with closing(sqlite3.connect(self.path, isolation_level=None)) as connection:
            copied = frames = 0
            for _ in range(_FREE_PASSES):  # each pass copies what came during the one before
                busy, frames, _ = connection.execute(_CHECKPOINT).fetchone()
                if busy:
                    return  # another process is checkpointing: it takes the last pass too
                if frames - copied < _HELD_PASS_FRAMES:
                    break
                copied = frames
            else:  # writes outpace the passes: hold them back only once the WAL is big
                if frames * _FRAME_BYTES < WAL_SIZE_LIMIT:
                    return
            with self.writers.turn() if self.writers is not None else nullcontext():
                connection.execute(_CHECKPOINT)


_SQLITE = (sqlite3.Error,)
_CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"
_FREE_PASSES = 6
_HELD_PASS_FRAMES = 64
"""Few enough pages to copy (and sync) while writers wait. Measured under scimbench's
creates (2 workers, this 2-core VM), a held pass of up to 256 pages kept writers waiting
1-17 ms, once a second: every request in flight then, the p99 of every write."""
_FRAME_BYTES = 4096 + 24


_NOT_HELD: Any = object()  # this thread holds no connection (``Database.hold``)


class Database:
    """The engine plus read and write transactions as context managers."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # PostgreSQL reads run in autocommit: at READ COMMITTED each statement sees its own
        # snapshot inside a transaction too, so BEGIN and COMMIT were two round trips bought
        # nothing. SQLite keeps its (local, cheap) read transaction: one snapshot per read.
        self._reading = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._reader = sessionmaker(self._reading, expire_on_commit=False)
        self._single = self._reading.execution_options(scim_single=True)
        self._held = threading.local()
        # A snapshot read (several statements that must agree, e.g. a group and its members
        # read in chunks) is a REPEATABLE READ transaction there; SQLite's reads are already.
        self._snapshot_reader = (
            self._reader
            if self.is_sqlite
            else sessionmaker(
                self.engine.execution_options(isolation_level="REPEATABLE READ"),
                expire_on_commit=False,
            )
        )
        self._writing = self.engine.execution_options(scim_write=True)
        self._writer = sessionmaker(self._writing, expire_on_commit=False)
        path = self.engine.url.database if self.is_sqlite else None
        self._queue = WriterQueue(path) if path and path != ":memory:" else None
        self._checkpointer = Checkpointer(path, self._queue) if path and self._queue else None
        self._statistics = None if self.is_sqlite else Statistics(self.engine.url, _TABLES)

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
        with self._turn(), _translated(), self._writer.begin() as session:
            changes.begin(session, origin or Origin())
            yield session
            changes.append_pending(session)
        self._written()

    @contextmanager
    def write_alone(self) -> Iterator[Connection]:
        """A connection for a write without the ORM session (``store.single``): on
        PostgreSQL each statement commits on its own; on SQLite they are one transaction,
        committed at the end, on the write lock. Errors are raised as :meth:`write` raises
        them. Either way on the connection :meth:`connect` gives (a request's own)."""
        with self._turn(), self.connect() as connection:
            if self.is_sqlite:
                with _immediate(connection):
                    yield connection
            else:
                yield connection
        self._written()

    def _written(self) -> None:
        """Tell the keepers that run after writes (the WAL's checkpoints, statistics)."""
        if self._checkpointer is not None:
            self._checkpointer.nudge()
        if self._statistics is not None:
            self._statistics.nudge()

    def _turn(self) -> AbstractContextManager[None]:
        return self._queue.turn() if self._queue is not None else nullcontext()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection for a single Core read, lighter than an ORM session (and
        than a transaction: each statement on it stands alone); while this thread holds
        one (:meth:`hold`), that one."""
        held = getattr(self._held, "connection", _NOT_HELD)
        if held is _NOT_HELD:
            with _translated(), self._single.connect() as connection:
                yield connection
            return
        if held is None:
            with _translated():
                held = self._held.connection = self._single.connect()
        try:
            with _translated():
                yield held
        except BaseException:
            self.hold()  # a fresh one: a failed statement may have left it in any state
            raise

    def hold(self) -> None:
        """Until :meth:`release`, this thread's plain connections are one, checked out
        by the first :meth:`connect`: a request's token check and its reads share it."""
        self.release()
        self._held.connection = None

    def release(self) -> None:
        """Return the connection :meth:`hold` kept, if one was checked out."""
        held = self._held.__dict__.pop("connection", None)
        if held is not None:
            held.close()

    def dispose(self) -> None:
        self.engine.dispose()
