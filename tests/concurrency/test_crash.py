"""Crash safety: every acknowledged write survives SIGKILL, and nothing is half-written.

16 clients create users, PATCH their titles and add them to groups through 4 gunicorn
workers. Mid-load the test SIGKILLs one worker, later the whole server (master and
workers at once), then restarts it on the same database and checks that every write that
got a 2xx is there, and that for every resource the stored document, the value index
(``attribute_values``) and the memberships table agree, in the database and through the API.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from scimserver.schema import default_schema_dir, load_registry
from scimserver.scim.values import IndexedValue, index_values
from scimserver.store.db import Database
from scimserver.store.models import AttributeValue, Membership, Resource
from tests.concurrency.harness import (
    CLIENTS,
    WORKERS,
    add_members,
    client,
    clients,
    group_body,
    log_alarms,
    patch_body,
    user_body,
    wait_for_workers,
)
from tests.live import LiveServer, fresh_database

pytestmark = pytest.mark.slow

GROUPS = 4
OPS_PER_CLIENT = 60
"""Each client's request budget for the whole load; the kills come well before it runs out."""
KILL_WORKER_AT = 100
KILL_SERVER_AT = 240
"""Acknowledged writes after which the test kills one worker, then the whole server."""
PHASE_TIMEOUT = 20.0
"""Seconds to wait for either mark; the kill happens then regardless."""
JOIN_TIMEOUT = 30.0


@dataclass
class Ledger:
    """What the clients were told: acknowledged writes, and titles sent without an answer."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: int = 0
    users: dict[str, str] = field(default_factory=dict)
    """id -> userName (also the user's one email) of every acknowledged create."""
    titles: dict[str, tuple[int, int]] = field(default_factory=dict)
    """id -> (last acknowledged title number, last title number sent)."""
    members: set[tuple[str, str]] = field(default_factory=set)
    """(group id, user id) of every acknowledged member add."""
    cut_off: int = 0
    """Requests that got no answer (connection reset or refused)."""
    unexpected: list[str] = field(default_factory=list)
    """Answers that were neither 2xx nor a cut-off connection."""

    def ack(self) -> None:
        with self.lock:
            self.acked += 1


def title_number(title: str) -> int:
    return int(title.rsplit("-", 1)[1])


class Writer:
    """One client's write loop: create a user, retitle it, add it to a group; repeat."""

    def __init__(self, http: httpx.Client, index: int, groups: list[str], ledger: Ledger) -> None:
        self.http = http
        self.index = index
        self.groups = groups
        self.ledger = ledger
        self.user_id: str | None = None

    def run(self, stop: threading.Event) -> None:
        for n in range(OPS_PER_CLIENT):
            if stop.is_set():
                return
            try:
                self.step(n)
            except httpx.TransportError:
                with self.ledger.lock:
                    self.ledger.cut_off += 1
                time.sleep(0.05)  # the server is down or a worker died: do not spin

    def step(self, n: int) -> None:
        if n % 3 == 0 or self.user_id is None:
            self.create(n)
        elif n % 3 == 1:
            self.retitle(self.user_id, n)
        else:
            self.join(self.user_id, self.groups[n % len(self.groups)])

    def create(self, n: int) -> None:
        name = f"crash-{self.index}-{n}@example.com"
        body = user_body(name, emails=[{"value": name, "type": "work"}])
        response = self.http.post("/Users", json=body)
        if self.expect(response, 201):
            self.user_id = response.json()["id"]
            with self.ledger.lock:
                self.ledger.users[response.json()["id"]] = name

    def retitle(self, user_id: str, n: int) -> None:
        with self.ledger.lock:
            acked, _ = self.ledger.titles.get(user_id, (-1, -1))
            self.ledger.titles[user_id] = (acked, n)
        operation = {"op": "replace", "path": "title", "value": f"title-{n}"}
        if self.expect(self.http.patch(f"/Users/{user_id}", json=patch_body(operation)), 200):
            with self.ledger.lock:
                self.ledger.titles[user_id] = (n, n)

    def join(self, user_id: str, group_id: str) -> None:
        if self.expect(self.http.patch(f"/Groups/{group_id}", json=add_members(user_id)), 204):
            with self.ledger.lock:
                self.ledger.members.add((group_id, user_id))

    def expect(self, response: httpx.Response, status: int) -> bool:
        if response.status_code == status:
            self.ledger.ack()
            return True
        with self.ledger.lock:
            self.ledger.unexpected.append(f"{response.request.method} {response.status_code}")
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def serve(database_url: str, workdir: Path) -> LiveServer:
    return LiveServer(
        {"SCIMSERVER_DATABASE_URL": database_url}, workers=WORKERS, cwd=workdir, log_dir=workdir
    )


def wait_until(ledger: Ledger, acked: int) -> int:
    """Wait (bounded) until ``acked`` writes were acknowledged; the count reached."""
    deadline = time.monotonic() + PHASE_TIMEOUT
    while ledger.acked < acked and time.monotonic() < deadline:
        time.sleep(0.02)
    return ledger.acked


def kill_one_worker(server: LiveServer) -> None:
    """SIGKILL one worker and wait (bounded) until gunicorn has replaced it."""
    victim = wait_for_workers(server, WORKERS)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + PHASE_TIMEOUT
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if victim not in pids and len(pids) == WORKERS:
            return
        time.sleep(0.05)
    raise AssertionError(f"worker {victim} was not replaced\n{server.logs()}")


def load_and_crash(server: LiveServer, token: str, ledger: Ledger) -> tuple[int, int]:
    """Write, kill a worker, write on, kill the server: the acknowledged counts at the kills."""
    with client(server, token) as http:
        groups = [create(http, "/Groups", group_body(f"crash-{i}")) for i in range(GROUPS)]
    stop = threading.Event()
    with clients(server, token) as pool, ThreadPoolExecutor(CLIENTS) as executor:
        writers = [Writer(http, i, groups, ledger) for i, http in enumerate(pool)]
        futures = [executor.submit(writer.run, stop) for writer in writers]
        try:
            at_worker_kill = wait_until(ledger, KILL_WORKER_AT)
            kill_one_worker(server)
            at_server_kill = wait_until(ledger, KILL_SERVER_AT)
            server.kill()
        finally:
            stop.set()
            for future in futures:
                future.result(timeout=JOIN_TIMEOUT)
    return at_worker_kill, at_server_kill


def create(http: httpx.Client, path: str, body: dict[str, Any]) -> str:
    response = http.post(path, json=body)
    assert response.status_code == 201, response.text
    resource_id: str = response.json()["id"]
    return resource_id


def check_acknowledged(http: httpx.Client, ledger: Ledger) -> None:
    """Every acknowledged create, title and member add is there, through the API."""
    memberships: dict[str, set[str]] = {}
    for user_id, name in ledger.users.items():
        response = http.get(f"/Users/{user_id}")
        assert response.status_code == 200, (user_id, response.text)
        user = response.json()
        assert (user["userName"], [e["value"] for e in user["emails"]]) == (name, [name])
        acked, sent = ledger.titles.get(user_id, (-1, -1))
        stored = title_number(user["title"]) if "title" in user else -1
        # A title sent without an answer may or may not have been written; never an older one.
        assert acked <= stored <= sent, (user_id, acked, stored, sent)
        memberships[user_id] = {g["value"] for g in user.get("groups", [])}
    for group_id, user_id in ledger.members:
        assert group_id in memberships[user_id], (group_id, user_id)


def check_api_agrees(http: httpx.Client) -> None:
    """Filters over the value index and the memberships table find what documents show."""
    groups = listing(http, "/Groups", None)
    users = listing(http, "/Users", None)
    for user in users:
        for email in user.get("emails", []):
            found = listing(http, "/Users", f'emails.value eq "{email["value"]}"')
            assert [u["id"] for u in found] == [user["id"]], email
        shown = {g["value"] for g in user.get("groups", [])}
        assert shown == {g["id"] for g in groups if user["id"] in member_ids(g)}, user["id"]
    for group in groups:
        for member in member_ids(group):
            found = listing(http, "/Groups", f'members.value eq "{member}"')
            assert group["id"] in {g["id"] for g in found}, (group["id"], member)


def listing(http: httpx.Client, path: str, filter_: str | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"count": 1000}
    if filter_ is not None:
        params["filter"] = filter_
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalResults"] == len(body["Resources"]), "more than one page"
    resources: list[dict[str, Any]] = body["Resources"]
    return resources


def member_ids(group: dict[str, Any]) -> set[str]:
    return {m["value"] for m in group.get("members", [])}


def check_stored_rows_agree(database_url: str) -> int:
    """In the database itself: each document's lookup columns and value-index rows are
    exactly what the document implies; the number of resources checked."""
    registry = load_registry([default_schema_dir()])
    db = Database(database_url)
    try:
        with db.read() as session:
            if db.features.name == "sqlite":
                assert session.scalar(text("PRAGMA integrity_check")) == "ok"
            resources = list(session.scalars(select(Resource)))
            index = index_rows(session.scalars(select(AttributeValue)))
            for resource in resources:
                resource_type = registry.resource_type(resource.resource_type)
                assert resource_type is not None, resource.resource_type
                expected = Counter(index_values(resource_type, resource.data))
                assert index.pop(resource.id, Counter()) == expected, resource.id
                assert "members" not in resource.data and "groups" not in resource.data
                check_lookup_columns(resource)
            assert not index, f"index rows of no resource: {sorted(index)}"
            check_memberships(session.scalars(select(Membership)), resources)
    finally:
        db.dispose()
    return len(resources)


def index_rows(rows: Iterable[AttributeValue]) -> dict[str, Counter[IndexedValue]]:
    """The stored value index, per resource, in the form ``index_values`` computes it."""
    out: dict[str, Counter[IndexedValue]] = {}
    for row in rows:
        value = IndexedValue(
            row.path, row.ordinal, row.str_value, row.num_value, row.time_value, row.bool_value
        )
        out.setdefault(row.resource_id, Counter())[value] += 1
    return out


def check_lookup_columns(resource: Resource) -> None:
    user_name = resource.data.get("userName")
    assert resource.user_name_key == (user_name.casefold() if user_name else None), resource.id
    assert resource.display_name == (resource.data.get("displayName") or user_name), resource.id


def check_memberships(rows: Iterable[Membership], resources: list[Resource]) -> None:
    by_id = {r.id: r for r in resources}
    for row in rows:
        group, member = by_id[row.group_id], by_id[row.member_id]
        assert group.resource_type == "Group", row.group_id
        assert row.member_type == member.resource_type, row.member_id
        assert row.tenant_id == group.tenant_id == member.tenant_id, (row.group_id, row.member_id)


def test_acknowledged_writes_survive_sigkill(database_url: str, tmp_path: Path) -> None:
    ledger = Ledger()
    with serve(database_url, tmp_path / "first") as first:
        token = first.token
        assert token, first.logs()
        at_worker_kill, at_server_kill = load_and_crash(first, token, ledger)
    assert not ledger.unexpected, ledger.unexpected
    assert at_server_kill > at_worker_kill, "no write was acknowledged after the worker died"
    assert ledger.cut_off, "the server was killed while no request was in flight"
    assert not log_alarms(first.logs()), first.logs()

    with serve(database_url, tmp_path / "second") as second, client(second, token) as http:
        check_acknowledged(http, ledger)
        check_api_agrees(http)
        assert not log_alarms(second.logs()), second.logs()
    assert check_stored_rows_agree(database_url) >= GROUPS + len(ledger.users)
