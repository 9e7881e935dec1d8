"""SQLite's WAL is copied into the database file by a background thread, not by commits."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from scimserver.store.db import (
    CHECKPOINT_INTERVAL,
    WAL_FILE_LIMIT,
    WAL_SIZE_LIMIT,
    Checkpointer,
    Database,
    WriterQueue,
)


def _write_rows(db: Database, count: int) -> None:
    with db.write() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, v TEXT)"))
        for n in range(count):
            session.execute(text("INSERT INTO filler (v) VALUES (:v)"), {"v": f"{n:04d}" * 250})


def test_commits_leave_the_wal_to_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.connect() as connection:
            autocheckpoint = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert autocheckpoint == 0  # no commit pays for a checkpoint

        _write_rows(db, 2_000)  # ~2 MB: well past the 1,000 pages a commit used to copy
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 1_000_000
        before = path.stat().st_size
        deadline = time.monotonic() + CHECKPOINT_INTERVAL + 5
        while path.stat().st_size <= before + 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size > before + 1_000_000  # the rows reached the database file
    finally:
        db.dispose()


def test_the_wal_starts_over_while_writers_keep_writing(tmp_path: Path) -> None:
    """A checkpoint that only ran beside the writers never reached the WAL's end, so the
    WAL never started over: under steady writes it grew without bound."""
    path = tmp_path / "steady.db"
    db = Database(f"sqlite:///{path}")
    checkpointer = Checkpointer(str(path), WriterQueue(str(path)), interval=0)
    _write_rows(db, 1)
    stop = threading.Event()
    written = [0]

    def keep_writing() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            _write_rows(db, 10)  # ~10 kB a transaction
            written[0] += 10_000

    writer = threading.Thread(target=keep_writing)
    writer.start()
    wal = Path(f"{path}-wal")
    try:
        while written[0] < 24_000_000 and writer.is_alive():
            time.sleep(0.1)
            checkpointer.checkpoint()
        largest = wal.stat().st_size
    finally:
        stop.set()
        writer.join()
        db.dispose()
    assert written[0] >= 24_000_000
    assert largest < 16_000_000  # a WAL that never starts over holds all 24 MB, and more


def test_a_wal_that_starts_over_keeps_its_file(tmp_path: Path) -> None:
    """Past the size at which the checkpointer holds writers back, the WAL file is
    reused when it starts over, not cut back (and grown again by the next writes)."""
    path = tmp_path / "kept.db"
    db = Database(f"sqlite:///{path}")
    wal = Path(f"{path}-wal")
    try:
        _write_rows(db, WAL_SIZE_LIMIT // 1000 + 2_000)  # 1 kB rows: past the size limit
        grown = wal.stat().st_size
        assert WAL_SIZE_LIMIT < grown < WAL_FILE_LIMIT
        Checkpointer(str(path), WriterQueue(str(path))).checkpoint()
        _write_rows(db, 1)
        with closing(sqlite3.connect(path)) as connection:
            _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames < 10  # the WAL started over ...
        assert wal.stat().st_size == grown  # ... in the file it had
    finally:
        db.dispose()


class _Passes:
    """A stand-in for the checkpointer's connection: each PASSIVE pass reports the next
    (busy, WAL frames, frames copied) of a script."""

    def __init__(self, script: list[tuple[int, int, int]]) -> None:
        self.script = script
        self.passes = 0

    def execute(self, _sql: str) -> _Passes:
        self.passes += 1
        return self

    def fetchone(self) -> tuple[int, int, int]:
        return self.script[min(self.passes, len(self.script)) - 1]

    def close(self) -> None:
        pass


class _Turns(WriterQueue):
    """Counts the times the checkpointer held the writers back."""

    def __init__(self) -> None:
        super().__init__("/nonexistent")
        self.taken = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        self.taken += 1
        yield


BIG = WAL_SIZE_LIMIT // 4096 + 1  # frames: a WAL past its size limit


@pytest.mark.parametrize(
    ("frames", "held", "passes"),
    [
        ([100, 120], 1, 3),  # the second pass found 20 new pages: few, so writers wait once
        ([100 * n for n in range(1, 8)], 0, 6),  # writes outpace every pass, the WAL is small
        ([BIG + 100 * n for n in range(1, 8)], 1, 7),  # ... and past its limit: hold them
    ],
)
def test_writers_are_held_back_only_for_a_few_pages_or_a_big_wal(
    monkeypatch: pytest.MonkeyPatch, frames: list[int], held: int, passes: int
) -> None:
    connection = _Passes([(0, f, f) for f in frames])
    monkeypatch.setattr(sqlite3, "connect", lambda *_, **__: connection)
    writers = _Turns()
    Checkpointer("unused.db", writers).checkpoint()
    assert (writers.taken, connection.passes) == (held, passes)


def test_a_checkpoint_another_process_runs_is_left_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = _Passes([(1, 500, 0)])
    monkeypatch.setattr(sqlite3, "connect", lambda *_, **__: connection)
    writers = _Turns()
    Checkpointer("unused.db", writers).checkpoint()
    assert (writers.taken, connection.passes) == (0, 1)
