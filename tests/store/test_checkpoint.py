"""SQLite's WAL is copied into the database file by a background thread, not by commits."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from scimserver.store.db import CHECKPOINT_INTERVAL, Database


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
