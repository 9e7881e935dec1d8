"""Writers whose books say exactly what the feed must show, and a reader following it.

No tests here. Every writer owns its users (so what each acknowledged write must log is
known exactly) and shares a few groups with the others; :func:`check_feed` compares what
a :class:`Reader` saw with the writers' books, :func:`check_stored` the stored state.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.concurrency.harness import (
    REQUEST_TIMEOUT,
    add_members,
    client,
    group_body,
    patch_body,
    user_body,
)
from tests.live import LiveServer

OPERATIONS = 14
"""Writes per writer: 16 x 14 = 224 requests, a few seconds on either database."""
SHARED_GROUPS = 4
Event = tuple[str, str, str | None]
"""(type, resource id, member id)."""


@dataclass
class Books:
    """What one writer's acknowledged writes changed, and the events they must log.

    ``groups`` are shared by every writer (members only: each writer moves its own
    users); ``own_group``, if any, is this writer's alone, and only it renames it.
    """

    groups: list[str]
    own_group: str | None = None
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


def _rename_group(http: httpx.Client, books: Books, rng: random.Random, group_id: str) -> None:
    body = patch_body(
        {"op": "replace", "path": "displayName", "value": f"g{rng.getrandbits(48):x}"}
    )
    assert http.patch(f"/Groups/{group_id}", json=body).status_code == 204
    books.events.append(("group.updated", group_id, None))


def write(http: httpx.Client, books: Books, seed: int, operations: int = OPERATIONS) -> None:
    """``operations`` writes of every kind, chosen by ``seed``, entered in ``books``."""
    rng = random.Random(seed)
    for _ in range(operations):
        if not books.users or rng.random() < 0.15:
            _create(http, books, rng)
            continue
        user_id = rng.choice(sorted(books.users))
        action = rng.choice(("rename", "toggle", "put", "member", "member", "bulk", "delete"))
        if books.own_group is not None and rng.random() < 0.2:
            _rename_group(http, books, rng, books.own_group)
        elif action == "rename":
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

    def __init__(self, server: LiveServer, token: str, start: str) -> None:
        self.http = httpx.Client(
            base_url=server.url,
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


def check_feed(reader: Reader, books: list[Books]) -> None:
    """The reader saw every acknowledged write's events once, each resource's in order."""
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


def check_stored(server: LiveServer, token: str, books: list[Books]) -> None:
    with client(server, token) as http:
        for b in books:
            for user_id, state in b.users.items():
                user = http.get(f"/Users/{user_id}").json()
                assert user.get("active", True) is state["active"]  # absent until set
                assert user.get("name", {}).get("givenName") == state["givenName"]
        for group_id in books[0].groups:
            group = http.get(f"/Groups/{group_id}").json()
            stored = {m["value"] for m in group.get("members", [])}
            assert stored == set().union(*(b.memberships[group_id] for b in books))


@dataclass
class Run:
    """What a scenario's clients saw: every writer's books, every reader, each request's
    time to its answer's headers, and what went wrong (surfaced by the caller)."""

    books: list[Books]
    readers: list[Reader]
    seconds: list[float] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    @property
    def slowest(self) -> float:
        return max(self.seconds, default=0.0)


def timed_client(server: LiveServer, token: str, seconds: list[float]) -> httpx.Client:
    """A SCIM client that appends each request's time to its response headers."""

    def began(request: httpx.Request) -> None:
        request.extensions["began"] = time.monotonic()

    def answered(response: httpx.Response) -> None:
        seconds.append(time.monotonic() - response.request.extensions["began"])

    http = client(server, token)
    http.event_hooks = {"request": [began], "response": [answered]}
    return http


def run_writers(
    server: LiveServer,
    token: str,
    writers: int,
    operations: int = OPERATIONS,
    readers: int = 1,
    own_groups: bool = False,
    seed: int = 1000,
) -> Run:
    """``writers`` clients writing at once while ``readers`` follow the feed with
    long-poll; returns when all are done (bounded: REQUEST_TIMEOUT per request)."""
    with client(server, token) as http:
        shared = [
            http.post("/Groups", json=group_body(f"g{i}")).json()["id"]
            for i in range(SHARED_GROUPS)
        ]
        own = [
            http.post("/Groups", json=group_body(f"own{i}")).json()["id"] if own_groups else None
            for i in range(writers)
        ]
        start = http.get(f"{server.url}/api/v1/changes/head").json()["next"]
    run = Run([Books(shared, own[i]) for i in range(writers)], [])
    run.readers = [Reader(server, token, start) for _ in range(readers)]
    following = [threading.Thread(target=_guarded, args=(r.follow, run)) for r in run.readers]

    def one(index: int) -> None:
        with timed_client(server, token, run.seconds) as http:
            write(http, run.books[index], seed + index, operations)

    threads = [threading.Thread(target=_guarded, args=(one, run, i)) for i in range(writers)]
    for thread in following + threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT * operations)
    for reader in run.readers:
        reader.stop.set()
    for thread in following:
        thread.join(timeout=REQUEST_TIMEOUT * 2)
    assert not any(t.is_alive() for t in following + threads), "a client never finished"
    return run


def _guarded(call: Any, run: Run, *args: Any) -> None:
    try:
        call(*args)
    except BaseException as exc:  # surfaced by the test, with what the others saw
        run.errors.append(exc)
