"""One read token's 70 long polls cannot take the threads another tenant's IdP needs:
under ``scimserver serve`` (2 workers x 32 threads, fewer threads than waits), the
token holds at most its cap per worker and gets 429 with Retry-After for the rest,
while another tenant's lookups keep their p99 under 100 ms."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from scimserver.service.tokens import TokenService
from scimserver.store.db import Database
from tests.live import LiveServer, fresh_database

pytestmark = pytest.mark.slow
WAITERS = 70
WAIT = 10
LOOKUPS = 300
P99_MS = 100.0


class Waiters:
    """``WAITERS`` feed loops of one token that follow ``next`` and honour Retry-After."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.stop = threading.Event()
        self.answers: Counter[int] = Counter()
        self.slowest_refusal = 0.0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, daemon=True) for _ in range(WAITERS)]

    def loop(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=WAIT + 20) as http:
            cursor = http.get("/api/v1/changes/head").json()["next"]
            while not self.stop.is_set():
                began = time.monotonic()
                page = http.get("/api/v1/changes", params={"after": cursor, "wait": WAIT})
                with self.lock:
                    self.answers[page.status_code] += 1
                    if page.status_code == 429:
                        self.slowest_refusal = max(self.slowest_refusal, time.monotonic() - began)
                if page.status_code == 429:
                    self.stop.wait(float(page.headers["Retry-After"]))
                else:
                    cursor = page.json()["next"]

    def refused(self) -> int:
        with self.lock:
            return self.answers[429]


def lookup_times(url: str, token: str) -> list[float]:
    """Milliseconds of each of ``LOOKUPS`` IdP-style userName lookups, one after another."""
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        for _ in range(LOOKUPS):
            began = time.monotonic()
            found = http.get("/Users", params={"filter": 'userName eq "x"'})
            times.append((time.monotonic() - began) * 1000)
            assert found.status_code == 200
            assert found.json()["totalResults"] == 1
    return times


def test_one_tokens_waits_leave_other_tenants_lookups_fast(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        env = {"SCIMSERVER_DATABASE_URL": url}
        with LiveServer(env, workers=2, cwd=tmp_path, log_dir=tmp_path) as server:
            assert server.token is not None
            db = Database(url)
            try:
                _, reader = TokenService(db).create("app", "apps", "read")
            finally:
                db.dispose()
            idp = {"Authorization": f"Bearer {server.token}"}
            user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"}
            assert httpx.post(f"{server.scim_url}/Users", json=user, headers=idp).status_code == 201
            waiters = Waiters(server.url, reader)
            for thread in waiters.threads:
                thread.start()
            try:
                # 2 workers hold 4 waits of one token each at most: the rest are refused.
                deadline = time.monotonic() + 30
                while waiters.refused() < WAITERS - 2 * 4:
                    assert time.monotonic() < deadline, dict(waiters.answers)
                    time.sleep(0.05)
                times = lookup_times(server.scim_url, server.token)
            finally:
                waiters.stop.set()
                for thread in waiters.threads:
                    thread.join(timeout=WAIT + 20)
    p99 = statistics.quantiles(times, n=100)[98]
    print(
        f"{backend}: lookups p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(times):.1f} ms; waits answered {dict(waiters.answers)}, "
        f"slowest 429 {waiters.slowest_refusal * 1000:.0f} ms"
    )
    assert p99 < P99_MS
    assert waiters.slowest_refusal < 2.0
    assert not any(thread.is_alive() for thread in waiters.threads)
