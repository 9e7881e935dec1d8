"""Schema migrations with Alembic, driven programmatically (no alembic.ini needed).

Several processes may migrate one database at once (gunicorn's workers each build the
app): :func:`upgrade` runs under a lock, so one migrates and the others then find the
schema current. On PostgreSQL that is a transaction-level advisory lock; on SQLite an
``flock`` on ``<database>-lock``, the file the writers queue on (``WriterQueue``).
"""

from __future__ import annotations

import fcntl
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from scimserver.errors import Unavailable
from scimserver.store.db import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = 0x5C1A_5E7E_0001
"""The PostgreSQL advisory lock key migrations take (any constant no other code uses)."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``, one process at a time."""
    config = _config()
    with _file_lock(db), db.engine.begin() as connection:
        if db.features.advisory_locks:
            _advisory_lock(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def _file_lock(db: Database) -> Iterator[None]:
    """Where writers queue on a file (SQLite), hold ``<database>-lock`` exclusively
    (released as the process dies, too); elsewhere nothing."""
    path = db.engine.url.database if db.features.one_writer else None
    if not path or path == ":memory:":
        yield
        return
    try:
        fd = os.open(f"{path}-lock", os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:  # no folder: no database either, SQLite's open will say so
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the lock


def _advisory_lock(connection: Connection) -> None:
    """Wait for the migration lock (PostgreSQL); the transaction's end releases it."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


@functools.cache
def head_revision() -> str | None:
    """The newest migration shipped with this code (read from the scripts once)."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def is_current(db: Database) -> bool:
    """True when the database answers and its schema is at the newest revision.

    Read with a plain query, not Alembic's MigrationContext, which logs two INFO lines
    each time (a readiness probe asks every few seconds).
    """
    try:
        with db.connect() as connection:
            found = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except (SQLAlchemyError, Unavailable):
        return False
    return [row[0] for row in found] == [head_revision()]


def answers(db: Database) -> bool:
    """True when the database answers a trivial query."""
    try:
        with db.connect() as connection:
            connection.exec_driver_sql("SELECT 1").scalar()
    except (SQLAlchemyError, Unavailable):
        return False
    return True
