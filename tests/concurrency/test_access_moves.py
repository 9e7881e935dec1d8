"""16 writers move people between mapped groups on ``scimserver serve`` (2 workers) while
a reader long-polls the feed: every change of a person's effective access is announced
exactly once, in order, and the identity view agrees with the last announcement
(SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from scimserver.config import Settings
from scimserver.wiring import build
from tests.concurrency.conftest import Live
from tests.concurrency.harness import (
    LogCursor,
    client,
    group_body,
    log_alarms,
    patch_body,
    user_body,
    wait_for_workers,
)
from tests.concurrency.writers import Reader
from tests.live import LiveServer

WORKERS = 2
WRITERS = 16
ROUNDS = 5
STEPS = (("add", "A"), ("add", "B"), ("remove", "A"), ("remove", "B"))
"""Every step moves the mover's access: alpha; alpha and beta; beta; nothing. Then each
mover is added to one group for good (A or B by turns), which the view must show."""
DEADLINE = 60.0
NOTHING = {"appGroups": [], "role": None, "roles": [], "isAdmin": None}
FINAL = {
    group: {"appGroups": [app], "role": app, "roles": [app], "isAdmin": None}
    for group, app in (("A", "alpha"), ("B", "beta"))
}


def final_group(index: int) -> str:
    return "AB"[index % 2]


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir: Path = tmp_path_factory.mktemp("access-moves")
    env = {"SCIMSERVER_DATABASE_URL": database_url}
    with LiveServer(env, workers=WORKERS, cwd=workdir, log_dir=workdir) as server:
        wait_for_workers(server, WORKERS)
        yield Live(server, database_url)


def map_groups(live: Live, token: str) -> None:
    """alpha from group A (priority 1), beta from B, settled as the worker would."""
    server = build(Settings(database_url=live.database_url))
    try:
        tenant = server.tenants().find(live.tenants[token])
        assert tenant is not None
        access = server.access(tenant, "tester")
        access.map("alpha", "A", priority=1)
        access.map("beta", "B", priority=2)
        access.run_jobs()
    finally:
        server.db.dispose()


def move(http: httpx.Client, op: str, group: str, user: str) -> None:
    operation: dict[str, Any] = (
        {"op": "add", "path": "members", "value": [{"value": user}]}
        if op == "add"
        else {"op": "remove", "path": f'members[value eq "{user}"]'}
    )
    for _ in range(20):  # a PostgreSQL deadlock between two bumps is a retryable 409
        response = http.patch(f"/Groups/{group}", json=patch_body(operation))
        if response.status_code in (200, 204):
            return
        assert response.status_code in (409, 503), response.text
    raise AssertionError("a move never landed")


def write(live: Live, token: str, groups: dict[str, str], user: str, last: str) -> None:
    deadline = time.monotonic() + DEADLINE
    with client(live.server, token) as http:
        for op, group in [*STEPS * ROUNDS, ("add", last)]:
            assert time.monotonic() < deadline, "the writers ran out of time"
            move(http, op, groups[group], user)


def test_sixteen_writers_and_a_feed_reader(served: Live) -> None:
    cursor = LogCursor(served.server)
    token = served.new_token()
    with client(served.server, token) as http:
        users = [
            http.post("/Users", json=user_body(f"mover{i}")).json()["id"] for i in range(WRITERS)
        ]
        groups = {n: http.post("/Groups", json=group_body(n)).json()["id"] for n in ("A", "B")}
    map_groups(served, token)
    feed = httpx.get(
        f"{served.server.url}/api/v1/changes/head", headers={"Authorization": f"Bearer {token}"}
    )
    reader = Reader(served.server, token, feed.json()["next"])
    following = threading.Thread(target=reader.follow)
    following.start()
    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            runs = [
                pool.submit(write, served, token, groups, u, final_group(i))
                for i, u in enumerate(users)
            ]
            for run in runs:
                run.result(timeout=DEADLINE)
    finally:
        reader.stop.set()
        following.join(timeout=DEADLINE)
    assert not following.is_alive(), "the reader did not reach the head"
    check_announced(reader.seen, users)
    check_views(served, token, users)
    alarms = log_alarms(cursor.new_text())
    assert not alarms, "\n".join(alarms)


def check_announced(seen: list[dict[str, Any]], users: list[str]) -> None:
    """Each person's access changes: one per move, each from the last one announced, the
    last one the group each mover was left in."""
    seqs = [c["seq"] for c in seen]
    assert seqs == sorted(set(seqs))  # in order, none twice
    announced = [c for c in seen if c["type"] == "identity.access_changed"]
    for index, user in enumerate(users):
        chain = [c["access"] for c in announced if c["resource"]["id"] == user]
        assert len(chain) == ROUNDS * len(STEPS) + 1
        last = NOTHING
        for event in chain:
            assert event["before"] == last and event["after"] != last
            last = event["after"]
        assert last == FINAL[final_group(index)]


def check_views(live: Live, token: str, users: list[str]) -> None:
    """The view of every person agrees with the final state: one mapped group each."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live.server.url, headers=headers, timeout=30) as http:
        for index, user in enumerate(users):
            response = http.get(f"/api/v1/identities/{user}")
            assert response.status_code == 200, response.text
            shown = response.json()
            group = final_group(index)
            assert {k: shown[k] for k in NOTHING} == FINAL[group]
            assert [g["displayName"] for g in shown["groups"]] == [group]
