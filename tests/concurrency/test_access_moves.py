"""16 writers move people between mapped groups while a reader follows the feed: every
change of a person's effective access is announced exactly once, in order, and the
identity view agrees with the last announcement (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

from tests.api.test_access import rules, view
from tests.conftest import ScimClient, make_client

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
WRITERS = 16
ROUNDS = 2
STEPS = (("add", "A"), ("add", "B"), ("remove", "A"), ("remove", "B"))


def move(client: ScimClient, op: str, group: str, user: str) -> None:
    operation: dict[str, Any] = (
        {"op": "add", "path": "members", "value": [{"value": user}]}
        if op == "add"
        else {"op": "remove", "path": f'members[value eq "{user}"]'}
    )
    for _ in range(20):  # a PostgreSQL deadlock between two bumps is a retryable 409
        response = client.patch(
            f"/Groups/{group}", {"schemas": [PATCH_OP], "Operations": [operation]}
        )
        if response.status_code in (200, 204):
            return
        assert response.status_code in (409, 503), response.get_json()
    raise AssertionError("a move never landed")


def test_sixteen_writers_and_a_feed_reader(app: Flask) -> None:
    scim = make_client(app)
    users = [scim.create_user(f"mover{i}")["id"] for i in range(WRITERS)]
    groups = {name: scim.create_group(name)["id"] for name in ("A", "B")}
    service = rules(app, scim)
    service.map("alpha", "A", priority=1)
    service.map("beta", "B", priority=2)
    service.run_jobs()
    start = scim.client.get(
        "/api/v1/changes/head", headers={"Authorization": f"Bearer {scim.token}"}
    ).get_json()["next"]
    seen: list[dict[str, Any]] = []
    done = threading.Event()

    def read() -> None:
        cursor = start
        while True:
            finished = done.is_set()
            page = scim.client.get(
                "/api/v1/changes",
                query_string={"after": cursor, "limit": 1000},
                headers={"Authorization": f"Bearer {scim.token}"},
            ).get_json()
            seen.extend(page["changes"])
            cursor = page["next"]
            if finished and not page["changes"]:
                return

    def write(user: str) -> None:
        client = ScimClient(app.test_client(), scim.token, scim.tenant)
        for _ in range(ROUNDS):
            for op, group in STEPS:
                move(client, op, groups[group], user)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(u,)) for u in users]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()

    seqs = [c["seq"] for c in seen]
    assert seqs == sorted(set(seqs))  # in order, none twice
    announced = [c for c in seen if c["type"] == "identity.access_changed"]
    nothing = {"appGroups": [], "role": None, "roles": [], "isAdmin": None}
    for user in users:
        chain = [c["access"] for c in announced if c["resource"]["id"] == user]
        assert len(chain) == ROUNDS * len(STEPS)  # every move moved access: once each
        last = nothing
        for event in chain:
            assert event["before"] == last and event["after"] != last
            last = event["after"]
        shown = view(scim, user).get_json()
        assert {k: shown[k] for k in nothing} == last == nothing
