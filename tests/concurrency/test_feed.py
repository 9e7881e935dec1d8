"""The feed under load: 16 writers on 4 gunicorn workers while a reader long-polls it.

Every writer owns its users (so what each acknowledged write must log is known
exactly) and shares four groups with the others. The reader follows ``next`` with
``wait`` while they write; afterwards its events must be exactly the acknowledged
writes' events — each once, ``seq`` strictly increasing, each resource's events in the
order its writer made them — and the stored state must agree with the writers' books.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.concurrency.conftest import Live
from tests.concurrency.harness import (
    CLIENTS,
    client,
    patch_body,
    user_body,
)
from tests.concurrency.writers import check_feed, check_stored, run_writers

pytestmark = pytest.mark.slow


def test_a_following_reader_sees_every_acknowledged_write_once_in_order(
    live: Live, token: str
) -> None:
    run = run_writers(live.server, token, CLIENTS)
    assert not run.errors, run.errors
    (reader,) = run.readers
    check_feed(reader, run.books)
    assert reader.polls < len(reader.seen) + 20, "a waiting reader does not spin"
    check_stored(live.server, token, run.books)


READERS = 64
"""Long-polling readers held at once: half of the 4 workers x 32 threads serving the test,
as many as the per-worker caps (half the threads) allow."""
READER_TOKENS = 16
"""Tokens the readers share, 4 each: one token may hold only 4 waits per worker."""


def test_waiting_readers_do_not_starve_scim_writes(live: Live, token: str) -> None:
    quiet = live.new_token()  # readers wait on a tenant nobody writes to
    tokens = [quiet, *(live.new_token(tenant_of=quiet) for _ in range(READER_TOKENS - 1))]
    stop = threading.Event()
    waiting = threading.Semaphore(0)

    def wait(secret: str) -> None:
        with httpx.Client(
            base_url=live.server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=40
        ) as reader:
            cursor = reader.get("/api/v1/changes/head").json()["next"]
            waiting.release()
            while not stop.is_set():
                page = reader.get("/api/v1/changes", params={"after": cursor, "wait": 10})
                if page.status_code == 429:  # a worker holds its cap: the rest still wait
                    stop.wait(float(page.headers["Retry-After"]))
                else:
                    assert page.json()["changes"] == []

    readers = [
        threading.Thread(target=wait, args=(tokens[n % READER_TOKENS],), daemon=True)
        for n in range(READERS)
    ]
    for reader in readers:
        reader.start()
    for _ in range(READERS):
        assert waiting.acquire(timeout=30)
    try:
        with client(live.server, token) as http:
            user = http.post("/Users", json=user_body("beside-readers@example.com")).json()
            for i in range(CLIENTS):
                began = time.monotonic()
                body = patch_body({"op": "replace", "path": "active", "value": i % 2 == 1})
                assert http.patch(f"/Users/{user['id']}", json=body).status_code == 200
                # Far below the readers' 10 s wait: the write did not queue behind them.
                assert time.monotonic() - began < 5.0
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=15)
    assert not any(reader.is_alive() for reader in readers)
