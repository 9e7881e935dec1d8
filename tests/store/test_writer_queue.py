"""SQLite writers queue on a lock that hands over at once, across threads and processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from sqlalchemy import text

from scimserver.store.db import Database


def _hold_turn(url: str, entered: multiprocessing.synchronize.Event, hold: float) -> None:
    db = Database(url)
    with db.write() as session:
        session.execute(text("INSERT INTO probe (v) VALUES ('child')"))
        entered.set()
        time.sleep(hold)
    db.dispose()


def test_a_writer_in_another_process_waits_for_the_turn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    db = Database(url)
    with db.write() as session:
        session.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT)"))
    entered = multiprocessing.get_context("fork").Event()
    child = multiprocessing.get_context("fork").Process(target=_hold_turn, args=(url, entered, 0.5))
    child.start()
    try:
        assert entered.wait(10)
        started = time.monotonic()
        with db.write() as session:  # waits on the turn, not in SQLite's busy handler
            waited = time.monotonic() - started
            session.execute(text("INSERT INTO probe (v) VALUES ('parent')"))
        assert 0.2 < waited < 5
    finally:
        child.join(10)
    with db.read() as session:
        assert session.execute(text("SELECT v FROM probe ORDER BY id")).scalars().all() == [
            "child",
            "parent",
        ]
    db.dispose()


def test_threads_take_turns(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'threads.db'}")
    with db.write() as session:
        session.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, v INTEGER)"))
        with db.write():  # nested on one thread (no statement): no wait on its own turn
            pass
    inside = []

    def write(n: int) -> None:
        with db.write() as session:
            inside.append(n)
            assert len(inside) == 1  # alone in the turn
            session.execute(text("INSERT INTO probe (v) VALUES (:v)"), {"v": n})
            time.sleep(0.005)
            inside.remove(n)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM probe")).scalar() == 16
    db.dispose()
