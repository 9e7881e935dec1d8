"""A held connection: one checkout for a thread's plain reads, returned when released."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from scimserver.store.db import Database


def _checked_out(db: Database) -> int:
    return db.engine.pool.checkedout()  # type: ignore[attr-defined,no-any-return]


def _count(db: Database) -> Any:
    with db.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM resources")).scalar()


def test_reads_while_held_share_one_connection_until_released(db: Database) -> None:
    db.hold()
    assert _checked_out(db) == 0  # nothing is checked out before the first read
    with db.connect() as first:
        pass
    with db.connect() as second:
        assert second is first
        assert _checked_out(db) == 1
    assert _count(db) == 1
    db.release()
    assert _checked_out(db) == 0


def test_without_a_hold_each_read_returns_its_connection(db: Database) -> None:
    assert _count(db) == 1
    assert _checked_out(db) == 0


def test_a_failed_statement_gives_the_held_connection_back(db: Database) -> None:
    db.hold()
    with db.connect() as first:
        pass
    with pytest.raises(DBAPIError), db.connect() as connection:
        connection.execute(text("SELECT * FROM no_such_table"))
    assert _checked_out(db) == 0
    assert _count(db) == 1  # still held: the next read checks out a fresh one and keeps it
    with db.connect() as again:
        assert again is not first
        assert _checked_out(db) == 1
    db.release()
    assert _checked_out(db) == 0


def test_another_threads_reads_do_not_share_the_held_connection(db: Database) -> None:
    db.hold()
    with db.connect() as mine:
        pass
    theirs: list[Any] = []

    def read() -> None:
        with db.connect() as connection:
            theirs.append(connection)

    worker = threading.Thread(target=read)
    worker.start()
    worker.join()
    assert theirs and theirs[0] is not mine
    assert _checked_out(db) == 1
    db.release()
