"""More concurrent writers than a worker has connections or threads: nothing stalls.

A request holds one pooled connection from its token check to its teardown, and a write
takes SQLite's writer turn holding only the connection it writes on (``store.db``). Here
one ``serve`` worker as shipped (32 threads, a pool of 34) takes writes of every kind — creates,
user PATCH and PUT, group renames and member changes, Bulk, deletes — from pool + 1 and
from 4 x threads clients at once while two readers long-poll the feed: every request is
answered, none with a 5xx, none after more than 5 s, and the feed holds each acknowledged
write once. Then the feed scenario of 16 writers on 4 workers, ten times over while
another process keeps a core busy.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scimserver.config import Settings
from scimserver.service.tokens import TokenService
from scimserver.store.db import Database
from scimserver.wiring import SPARE_CONNECTIONS
from tests.concurrency.conftest import Live
from tests.concurrency.harness import CLIENTS, LogCursor, log_alarms, wait_for_workers
from tests.concurrency.writers import Run, check_feed, check_stored, run_writers
from tests.live import LiveServer

pytestmark = pytest.mark.slow

THREADS = Settings().threads
POOL = THREADS + SPARE_CONNECTIONS
SLOWEST = 5.0
"""Seconds any one request may take: the pool's checkout wait, not a stall, would pass it."""
REPEATS = 10
LOAD_SECONDS = 240


@pytest.fixture(scope="module")
def one_worker(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir: Path = tmp_path_factory.mktemp("stall")
    env = {"SCIMSERVER_DATABASE_URL": database_url}
    with LiveServer(env, workers=1, cwd=workdir, log_dir=workdir) as server:
        wait_for_workers(server, 1)
        yield Live(server, database_url)


def _token(database_url: str) -> str:
    db = Database(database_url)
    try:
        _, secret = TokenService(db).create("stall", f"stall-{uuid.uuid4().hex[:10]}")
    finally:
        db.dispose()
    return secret


def _answered_in_time(run: Run, live: Live, token: str) -> None:
    assert not run.errors, run.errors[:3]
    assert run.slowest < SLOWEST, f"a request took {run.slowest:.1f} s"
    for reader in run.readers:
        check_feed(reader, run.books)
    check_stored(live.server, token, run.books)


@pytest.mark.parametrize("writers", [POOL + 1, 4 * THREADS], ids=["pool+1", "4x-threads"])
def test_more_writers_than_one_worker_has_connections_are_all_served(
    one_worker: Live, writers: int
) -> None:
    token = _token(one_worker.database_url)
    cursor = LogCursor(one_worker.server)
    run = run_writers(one_worker.server, token, writers, operations=6, readers=2, own_groups=True)
    _answered_in_time(run, one_worker, token)
    assert len(run.seconds) >= writers * 6
    alarms = log_alarms(cursor.new_text())
    assert not alarms, "\n".join(alarms[:5])


@pytest.fixture
def busy_core() -> Iterator[None]:
    """Another process spinning on a core for the test (bounded: LOAD_SECONDS)."""
    spin = (
        f"import time\nend = time.monotonic() + {LOAD_SECONDS}\nwhile time.monotonic() < end: pass"
    )
    process = subprocess.Popen([sys.executable, "-c", spin])
    try:
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


def test_sixteen_writers_on_four_workers_ten_times_under_load(
    live: Live, token: str, busy_core: None
) -> None:
    for repeat in range(REPEATS):
        run = run_writers(live.server, token, CLIENTS, operations=6, seed=repeat * 100)
        _answered_in_time(run, live, token)
