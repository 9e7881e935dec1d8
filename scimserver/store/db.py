"""Engine and transactions: SQLite tuned for concurrent writers, PostgreSQL as is."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext, suppress
from typing import Any, TypeVar

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from scimserver.errors import Busy, Conflict, ScimError, Unavailable
from scimserver.store import changes
from scimserver.store.batch import dump_json
from scimserver.store.changes import Origin
from scimserver.store.features import features_of
from scimserver.store.models import Base
from scimserver.store.prepared import driver_error, run_sql
from scimserver.store.rounds import AfterCommits
from scimserver.store.statistics import Statistics

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
WAL_SIZE_LIMIT = 64 * 1024 * 1024
WAL_FILE_LIMIT = 4 * WAL_SIZE_LIMIT
"""The WAL file SQLite keeps when the WAL starts over (its journal_size_limit).

Writes outpace the checkpointer's free passes past ``WAL_SIZE_LIMIT`` (to ~110 MB under
scimbench's creates) before it holds them back; a WAL cut back to that limit as it
started over cost the first commit after it ~5 ms more while every writer waited, and the
file grew again with the next writes. Kept, it is overwritten in place.
"""
DEFAULT_CONNECTIONS = 10
"""A pool's size when the caller does not say (CLI, worker): a server sizes it from its threads."""
POOL_TIMEOUT = 5.0
"""Seconds a checkout waits for a free connection before the request is answered 503."""
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


def make_engine(
    url: str, connections: int = DEFAULT_CONNECTIONS, wait: float = POOL_TIMEOUT
) -> Engine:
    """An engine whose pool holds up to ``connections`` (a checkout waits ``wait`` seconds
    for one at most); on SQLite: WAL, foreign keys, case-sensitive LIKE, immediate write
    locks."""
    url = normalise_url(url)
    options: dict[str, Any] = {
        "json_serializer": dump_json,
        "json_deserializer": orjson.loads,
        "pool_size": connections,
        "max_overflow": 0,
        "pool_timeout": wait,
        # The connection returned last is lent next: a request reuses a warm one (SQLite's
        # page cache and file mapping; a worker's RSS counts each connection's mapping of
        # the same pages again) while the threads that share the pool come and go.
        "pool_use_lifo": True,
    }
    if not url.startswith("sqlite"):
        # No pre-ping (a round trip per checkout): a connection found dead is invalidated
        # with the rest of the pool and the error raised as Unavailable; reads run again.
        return create_engine(url, pool_recycle=3600, **options)
    if url.rstrip("/").endswith((":memory:", "sqlite:")):
        options = {k: v for k, v in options.items() if not k.startswith(("pool_", "max_"))}
    timeout = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    engine = create_engine(url, connect_args=timeout, **options)
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
    except PoolTimeout as exc:
        log.warning("no database connection came free in time: answered 503 (%s)", exc)
        raise Busy() from exc


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
_BUSY = "scimserver_busy"
"""Key in a connection's ``info``: a transaction is open on it (nested uses get another)."""


class Database:
    """The engine plus read and write transactions as context managers.

    Connections, by construction: while a thread holds one (:meth:`hold`, a request from
    its token check to its teardown), every read, write and plain statement it makes runs
    on that one connection; it never waits for a second. A write takes the writer turn
    (SQLite) holding only the connection it writes on, so the turn's holder waits for
    nothing but the database. The pool has a slot for every thread that can hold one
    (``connections``); a checkout that still waits ``POOL_TIMEOUT`` seconds is
    :class:`Busy` (503 with Retry-After), never a stall.
    """

    def __init__(
        self, url: str, connections: int = DEFAULT_CONNECTIONS, wait: float = POOL_TIMEOUT
    ) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(url, connections, wait)
        self.features = features_of(self.engine)
        self._plain = self.engine.execution_options(**self.features.plain)
        self._held = threading.local()
        path = self.engine.url.database if self.features.one_writer else None
        self._queue = WriterQueue(path) if path and path != ":memory:" else None
        self._checkpointer = Checkpointer(path, self._queue) if path and self._queue else None
        keeps = self.features.keeps_statistics
        self._statistics = Statistics(self.engine.url, _TABLES) if keeps else None

    @contextmanager
    def read(self, snapshot: bool = False) -> Iterator[Session]:
        """A read-only transaction; ``snapshot``: every statement in it sees the database
        as the first one did (for answers read in several statements, e.g. in chunks)."""
        with (
            self._lent() as connection,
            self._transaction(connection, "snapshot" if snapshot else "read") as session,
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
        with (
            self._lent() as connection,
            self._turn(),
            self._transaction(connection, "write") as session,
        ):
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
        with self._lent() as connection, self._turn(), _translated(), _busy(connection):
            if self.features.one_writer:
                with _immediate(connection):
                    yield connection
            else:
                yield connection
        self._written()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection for single Core statements, lighter than an ORM session (and
        than a transaction: each statement on it stands alone); while this thread holds
        one (:meth:`hold`), that one."""
        with self._lent() as connection, _translated():
            yield connection

    def hold(self) -> None:
        """Until :meth:`release`, this thread's uses of the database share one connection,
        checked out by the first of them: a request's token check, reads and writes."""
        self.release()
        self._held.connection = None

    def release(self) -> None:
        """Return the connection :meth:`hold` kept, if one was checked out."""
        held = self._held.__dict__.pop("connection", None)
        if held is not None:
            held.close()

    def detach(self) -> None:
        """Hand the held connection to the transaction open on it (a streamed answer,
        which ends it after the request): it goes back to the pool when that ends, and
        this thread's next use checks out another."""
        if getattr(self._held, "connection", None) is not None:
            self._held.connection = None

    def ahead(self, plan: Callable[[Connection], T]) -> T | None:
        """``plan`` run now, before a write's turn, where the database has one writer: there
        every writer waits for the turn, so a write's CPU work is done before it (and
        checked against the version it was made from once the turn comes). None where
        rows are locked instead: the write plans in its transaction, without this read."""
        if not self.features.one_writer:
            return None
        with self.connect() as connection:
            return plan(connection)

    def _written(self) -> None:
        """Tell the keepers that run after writes (the WAL's checkpoints, statistics)."""
        if self._checkpointer is not None:
            self._checkpointer.nudge()
        if self._statistics is not None:
            self._statistics.nudge()

    def _turn(self) -> AbstractContextManager[None]:
        return self._queue.turn() if self._queue is not None else nullcontext()

    @contextmanager
    def _lent(self) -> Iterator[Connection]:
        """The connection this thread holds (checked out now if it has none yet), or one
        for the ``with`` alone: when the thread holds none, or a transaction is open on
        the held one (a use nested in another)."""
        held = getattr(self._held, "connection", _NOT_HELD)
        if held is _NOT_HELD or (held is not None and held.info.get(_BUSY)):
            with self._checked_out() as connection:
                yield connection
            return
        if held is None:
            held = self._held.connection = self._checkout()
        try:
            yield held
        except BaseException as error:
            if held.invalidated or not isinstance(error, ScimError):
                self._forget(held)  # it may be in any state: the next use takes a fresh one
            raise
        finally:
            if getattr(self._held, "connection", None) is not held:
                held.close()  # detached meanwhile (or released): it was this with's to end

    @contextmanager
    def _checked_out(self) -> Iterator[Connection]:
        connection = self._checkout()
        with connection:
            yield connection

    def _checkout(self) -> Connection:
        with _translated():
            return self._plain.connect()

    def _forget(self, connection: Connection) -> None:
        if getattr(self._held, "connection", None) is connection:
            self._held.connection = None
        with suppress(*DATABASE_ERRORS):
            connection.close()

    @contextmanager
    def _transaction(self, connection: Connection, mode: str) -> Iterator[Session]:
        """An ORM session in a transaction of ``mode`` on the plain ``connection``."""
        if connection.in_transaction():
            connection.commit()  # SQLAlchemy's own bookkeeping: its statements stood alone
        begin, restore = self.features.transactions[mode]
        with _translated(), _busy(connection):
            if begin:
                connection.execution_options(**begin)
            try:
                with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                    yield session
            finally:
                if restore:
                    _restore(connection, restore)

    def dispose(self) -> None:
        self.engine.dispose()


def _restore(connection: Connection, options: Mapping[str, Any]) -> None:
    """Make ``connection`` plain again; one that cannot be is not used again."""
    if connection.invalidated or connection.closed:
        return
    try:
        connection.execution_options(**options)
    except DATABASE_ERRORS:
        connection.invalidate()


@contextmanager
def _busy(connection: Connection) -> Iterator[None]:
    connection.info[_BUSY] = True
    try:
        yield
    finally:
        connection.info.pop(_BUSY, None)
