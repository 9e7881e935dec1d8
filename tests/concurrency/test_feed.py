"""The feed under load: 16 writers on 4 gunicorn workers while a reader long-polls it.

Every writer owns its users (so what each acknowledged write must log is known
exactly) and shares four groups with the others. The reader follows ``next`` with
``wait`` while they write; afterwards its events must be exactly the acknowledged
writes' events — each once, ``seq`` strictly increasing, each resource's events in the
order its writer made them — and the stored state must agree with the writers' books.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.concurrency.conftest import Live
from tests.concurrency.harness import (
    CLIENTS,
    REQUEST_TIMEOUT,
    add_members,
    client,
    group_body,
    patch_body,
    user_body,
)

pytestmark = pytest.mark.slow

OPERATIONS = 14
"""Writes per writer: 16 x 14 = 224 requests, a few seconds on either database."""
Event = tuple[str, str, str | None]
"""(type, resource id, member id)."""


@dataclass
class Books:
    """What one writer's acknowledged writes changed, and the events they must log."""

    groups: list[str]
    events: list[Event] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    memberships: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def _create(http: httpx.Client, books: Books, rng: random.Random) -> None:
    name = f"u{rng.getrandbits(48):x}@example.com"
    response = http.post("/Users", json=user_body(name, name={"givenName": "A"}))
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    books.users[user_id] = {"givenName": "A", "active": True}
    books.events.append(("user.created", user_id, None))


def _bulk_create(http: httpx.Client, books: Books, rng: random.Random) -> None:
    names = [f"b{rng.getrandbits(48):x}@example.com" for _ in range(2)]
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": user_body(n)}
        for i, n in enumerate(names)
    ]
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]}
    response = http.post("/Bulk", json={**body, "Operations": operations})
    assert response.status_code == 200, response.text
    for result in response.json()["Operations"]:
        assert result["status"] == "201", result
        user_id = result["location"].rsplit("/", 1)[1]
        books.users[user_id] = {"givenName": None, "active": True}
        books.events.append(("user.created", user_id, None))


def _rename(http: httpx.Client, books: Books, rng: random.Random, user_id: str) -> None:
    given = f"G{rng.getrandbits(32):x}"
    body = patch_body({"op": "replace", "path": "name.givenName", "value": given})
    assert http.patch(f"/Users/{user_id}", json=body).status_code == 200
    books.users[user_id]["givenName"] = given
    books.events.append(("user.updated", user_id, None))


def _toggle(http: httpx.Client, books: Books, user_id: str) -> None:
    active = not books.users[user_id]["active"]
    body = patch_body({"op": "replace", "value": {"active": active}})
    assert http.patch(f"/Users/{user_id}", json=body).status_code == 200
    books.users[user_id]["active"] = active
    kind = "user.reactivated" if active else "user.deactivated"
    books.events.append((kind, user_id, None))


def _put(http: httpx.Client, books: Books, rng: random.Random, user_id: str) -> None:
    given = f"P{rng.getrandbits(32):x}"
    current = http.get(f"/Users/{user_id}").json()
    body = user_body(current["userName"], name={"givenName": given})
    assert http.put(f"/Users/{user_id}", json=body).status_code == 200
    books.users[user_id]["givenName"] = given
    books.events.append(("user.updated", user_id, None))


def _join_or_leave(http: httpx.Client, books: Books, rng: random.Random, user_id: str) -> None:
    group_id = rng.choice(books.groups)
    if user_id in books.memberships[group_id]:
        body = patch_body({"op": "remove", "path": f'members[value eq "{user_id}"]'})
        kind = "group.member_removed"
        books.memberships[group_id].discard(user_id)
    else:
        body = add_members(user_id)
        kind = "group.member_added"
        books.memberships[group_id].add(user_id)
    assert http.patch(f"/Groups/{group_id}", json=body).status_code == 204
    books.events.append((kind, group_id, user_id))


def _delete(http: httpx.Client, books: Books, user_id: str) -> None:
    assert http.delete(f"/Users/{user_id}").status_code == 204
    for group_id in sorted(books.groups):
        if user_id in books.memberships[group_id]:
            books.memberships[group_id].discard(user_id)
            books.events.append(("group.member_removed", group_id, user_id))
    books.events.append(("user.deleted", user_id, None))
    del books.users[user_id]


def write(http: httpx.Client, books: Books, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(OPERATIONS):
        if not books.users or rng.random() < 0.15:
            _create(http, books, rng)
            continue
        user_id = rng.choice(sorted(books.users))
        action = rng.choice(("rename", "toggle", "put", "member", "member", "bulk", "delete"))
        if action == "rename":
            _rename(http, books, rng, user_id)
        elif action == "toggle":
            _toggle(http, books, user_id)
        elif action == "put":
            _put(http, books, rng, user_id)
        elif action == "member":
            _join_or_leave(http, books, rng, user_id)
        elif action == "bulk":
            _bulk_create(http, books, rng)
        else:
            _delete(http, books, user_id)


class Reader:
    """Follows the feed with long-poll until told to stop and the head is reached."""

    def __init__(self, live: Live, token: str, start: str) -> None:
        self.http = httpx.Client(
            base_url=live.server.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=REQUEST_TIMEOUT,
        )
        self.cursor = start
        self.seen: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.polls = 0

    def follow(self) -> None:
        while True:
            stopping = self.stop.is_set()
            params = {"after": self.cursor, "limit": 50, "wait": 0 if stopping else 2}
            response = self.http.get("/api/v1/changes", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            self.polls += 1
            self.seen.extend(page["changes"])
            self.cursor = page["next"]
            if stopping and not page["changes"]:
                return


def test_a_following_reader_sees_every_acknowledged_write_once_in_order(
    live: Live, token: str
) -> None:
    with client(live.server, token) as http:
        groups = [http.post("/Groups", json=group_body(f"g{i}")).json()["id"] for i in range(4)]
        start = http.get(f"{live.server.url}/api/v1/changes/head").json()["next"]
    reader = Reader(live, token, start)
    thread = threading.Thread(target=reader.follow)
    thread.start()
    books = [Books(groups) for _ in range(CLIENTS)]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            with client(live.server, token) as http:
                write(http, books[index], seed=1000 + index)
        except BaseException as exc:  # surfaced below, with the writer's index
            errors.append(exc)

    writers = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=120)
    reader.stop.set()
    thread.join(timeout=60)
    assert not errors, errors
    assert not thread.is_alive()

    seqs = [c["seq"] for c in reader.seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "seq strictly increasing"
    assert len({c["id"] for c in reader.seen}) == len(reader.seen)
    seen: list[Event] = [
        (c["type"], c["resource"]["id"], c.get("member", {}).get("id")) for c in reader.seen
    ]
    expected = [event for b in books for event in b.events]
    assert Counter(seen) == Counter(expected), "each acknowledged write exactly once"
    for b in books:  # each resource's (and membership's) events in the writer's order
        for key in {(e[1], e[2]) for e in b.events}:
            mine = [e for e in b.events if (e[1], e[2]) == key]
            assert [e for e in seen if (e[1], e[2]) == key] == mine
    assert reader.polls < len(reader.seen) + 20, "a waiting reader does not spin"
    _stored_state_agrees(live, token, books)


def _stored_state_agrees(live: Live, token: str, books: list[Books]) -> None:
    with client(live.server, token) as http:
        for b in books:
            for user_id, state in b.users.items():
                user = http.get(f"/Users/{user_id}").json()
                assert user.get("active", True) is state["active"]  # absent until set
                assert user.get("name", {}).get("givenName") == state["givenName"]
        for group_id in books[0].groups:
            group = http.get(f"/Groups/{group_id}").json()
            stored = {m["value"] for m in group.get("members", [])}
            assert stored == set().union(*(b.memberships[group_id] for b in books))


READERS = 64
"""Long-polling readers held at once: half of the 4 workers x 32 threads serving the test."""


def test_waiting_readers_do_not_starve_scim_writes(live: Live, token: str) -> None:
    quiet = live.new_token()  # readers wait on a tenant nobody writes to
    stop = threading.Event()
    waiting = threading.Semaphore(0)

    def wait() -> None:
        with httpx.Client(
            base_url=live.server.url, headers={"Authorization": f"Bearer {quiet}"}, timeout=40
        ) as reader:
            cursor = reader.get("/api/v1/changes/head").json()["next"]
            waiting.release()
            while not stop.is_set():
                page = reader.get("/api/v1/changes", params={"after": cursor, "wait": 10})
                assert page.json()["changes"] == []

    readers = [threading.Thread(target=wait, daemon=True) for _ in range(READERS)]
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
