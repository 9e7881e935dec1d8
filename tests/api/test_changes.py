"""The change feed: every committed write, exactly once, in order; nothing for rollbacks."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from flask import Flask

from scimserver.service.changes import prune
from tests.conftest import ScimClient, assert_scim_error, make_client

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def feed(scim: ScimClient, after: str | None = None, **params: Any) -> dict[str, Any]:
    query = {**params, **({"after": after} if after is not None else {})}
    response = scim.client.get(
        "/api/v1/changes",
        query_string=query,
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def head(scim: ScimClient) -> str:
    response = scim.client.get(
        "/api/v1/changes/head", headers={"Authorization": f"Bearer {scim.token}"}
    )
    assert response.status_code == 200
    cursor: str = response.get_json()["next"]
    return cursor


def changes_since(scim: ScimClient, cursor: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = feed(scim, cursor, limit=1000)["changes"]
    return found


def kinds(changes: list[dict[str, Any]]) -> list[str]:
    return [c["type"] for c in changes]


def patch(scim: ScimClient, path: str, *operations: dict[str, Any], **kw: Any) -> Any:
    response = scim.patch(path, {"schemas": [PATCH_OP], "Operations": list(operations)}, **kw)
    assert response.status_code in (200, 204), response.get_json()
    return response


def test_a_user_lifecycle_in_order(scim: ScimClient) -> None:
    start = head(scim)
    response = scim.post(
        "/Users",
        {"schemas": [USER], "userName": "ada@example.com", "externalId": "ada-1"},
        headers={"X-Request-Id": "req-create-1"},
    )
    user = response.get_json()
    path = f"/Users/{user['id']}"
    patch(scim, path, {"op": "replace", "path": "name.givenName", "value": "Ada"})
    patch(scim, path, {"op": "replace", "value": {"active": False}})
    patch(scim, path, {"op": "replace", "path": "active", "value": True})
    assert scim.delete(path).status_code == 204
    changes = changes_since(scim, start)
    assert kinds(changes) == [
        "user.created",
        "user.updated",
        "user.deactivated",
        "user.reactivated",
        "user.deleted",
    ]
    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert len({c["id"] for c in changes}) == 5
    created, updated, deactivated = changes[0], changes[1], changes[2]
    assert created["resource"] == {
        "type": "User",
        "id": user["id"],
        "externalId": "ada-1",
        "userName": "ada@example.com",
    }
    assert created["actor"] == "test"
    assert created["requestId"] == "req-create-1"
    assert created["version"] == user["meta"]["version"]
    assert updated["attributes"] == ["name.givenName"]
    assert deactivated["attributes"] == ["active"]
    assert "member" not in deactivated
    assert changes[-1]["resource"]["id"] == user["id"]
    assert "version" not in changes[-1]


def test_put_reports_the_changed_paths(scim: ScimClient) -> None:
    user = scim.create_user("pat@example.com", name={"givenName": "Pat", "familyName": "X"})
    start = head(scim)
    body = {
        "schemas": [USER, ENTERPRISE],
        "userName": "pat@example.com",
        "name": {"givenName": "Patricia", "familyName": "X"},
        "emails": [{"value": "pat@example.com", "type": "work"}],
        ENTERPRISE: {"department": "Research"},
    }
    assert scim.put(f"/Users/{user['id']}", body).status_code == 200
    (change,) = changes_since(scim, start)
    assert change["type"] == "user.updated"
    assert set(change["attributes"]) == {
        "schemas",
        "name.givenName",
        "emails",
        f"{ENTERPRISE}:department",
    }


def test_membership_changes_are_one_event_per_member(scim: ScimClient) -> None:
    alice, bob, carol = (scim.create_user() for _ in range(3))
    start = head(scim)
    group = scim.create_group("Staff", members=[alice["id"], bob["id"]])
    path = f"/Groups/{group['id']}"
    patch(scim, path, {"op": "add", "path": "members", "value": [{"value": carol["id"]}]})
    patch(scim, path, {"op": "remove", "path": f'members[value eq "{alice["id"]}"]'})
    # Entra ID removes by value, with the members in "value".
    patch(scim, path, {"op": "remove", "path": "members", "value": [{"value": bob["id"]}]})
    # Re-adding a present member and replacing a name with itself change nothing.
    patch(scim, path, {"op": "add", "path": "members", "value": [{"value": carol["id"]}]})
    patch(scim, path, {"op": "replace", "path": "displayName", "value": "Staff"})
    changes = changes_since(scim, start)
    summary = [(c["type"], c.get("member", {}).get("id")) for c in changes]
    assert summary == [
        ("group.created", None),
        ("group.member_added", alice["id"]),  # in the order the request listed them
        ("group.member_added", bob["id"]),
        ("group.member_added", carol["id"]),
        ("group.member_removed", alice["id"]),
        ("group.member_removed", bob["id"]),
    ]
    member_event = changes[-1]
    assert member_event["resource"] == {"type": "Group", "id": group["id"], "displayName": "Staff"}
    assert member_event["member"] == {"type": "User", "id": bob["id"]}


def test_put_members_and_replace_report_exact_differences(scim: ScimClient) -> None:
    alice, bob, carol = (scim.create_user() for _ in range(3))
    group = scim.create_group("Okta", members=[alice["id"], bob["id"]])
    start = head(scim)
    body = {
        "schemas": [GROUP],
        "displayName": "Okta",
        "members": [{"value": bob["id"]}, {"value": carol["id"]}],
    }
    assert scim.put(f"/Groups/{group['id']}", body).status_code == 200
    replace = {"op": "replace", "path": "members", "value": [{"value": carol["id"]}]}
    patch(scim, f"/Groups/{group['id']}", replace)
    summary = [(c["type"], c["member"]["id"]) for c in changes_since(scim, start)]
    assert summary == [
        ("group.member_removed", alice["id"]),
        ("group.member_added", carol["id"]),
        ("group.member_removed", bob["id"]),
    ]


def test_deletes_report_every_membership_they_end(scim: ScimClient) -> None:
    alice, bob = scim.create_user(), scim.create_user()
    staff = scim.create_group("Staff", members=[alice["id"], bob["id"]])
    admins = scim.create_group("Admins", members=[alice["id"]])
    start = head(scim)
    assert scim.delete(f"/Users/{alice['id']}").status_code == 204
    assert scim.delete(f"/Groups/{staff['id']}").status_code == 204
    summary = [
        (c["type"], c["resource"]["id"], c.get("member", {}).get("id"))
        for c in changes_since(scim, start)
    ]
    removed_from = sorted([staff["id"], admins["id"]])
    changes = changes_since(scim, start)
    for change in changes[:2]:  # the groups' versions after losing alice
        group = scim.get(f"/Groups/{change['resource']['id']}").get_json()
        if change["resource"]["id"] == admins["id"]:
            assert change["version"] == group["meta"]["version"]
    assert summary == [
        *[("group.member_removed", g, alice["id"]) for g in removed_from],
        ("user.deleted", alice["id"], None),
        ("group.member_removed", staff["id"], bob["id"]),
        ("group.deleted", staff["id"], None),
    ]


def test_rolled_back_and_refused_writes_log_nothing(scim: ScimClient) -> None:
    user = scim.create_user("taken@example.com")
    start = head(scim)
    clash = scim.post("/Users", {"schemas": [USER], "userName": "TAKEN@example.com"})
    assert_scim_error(clash, 409, "uniqueness")
    bad = scim.patch(
        f"/Users/{user['id']}",
        {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "id", "value": "x"}]},
    )
    assert bad.status_code == 400
    stale = scim.patch(
        f"/Users/{user['id']}",
        {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "nickName", "value": "n"}]},
        headers={"If-Match": 'W/"999"'},
    )
    assert stale.status_code == 412
    missing = scim.post(
        "/Groups", {"schemas": [GROUP], "displayName": "G", "members": [{"value": "nope"}]}
    )
    assert missing.status_code == 400
    assert changes_since(scim, start) == []
    assert head(scim) == start


def test_bulk_operations_are_logged_with_one_request_id(scim: ScimClient) -> None:
    start = head(scim)
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "u1",
                "data": {"schemas": [USER], "userName": "bulk-user@example.com"},
            },
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g1",
                "data": {
                    "schemas": [GROUP],
                    "displayName": "Bulk group",
                    "members": [{"value": "bulkId:u1"}],
                },
            },
        ],
    }
    response = scim.post("/Bulk", body, headers={"X-Request-Id": "bulk-42"})
    assert response.status_code == 200
    changes = changes_since(scim, start)
    assert kinds(changes) == ["user.created", "group.created", "group.member_added"]
    assert {c["requestId"] for c in changes} == {"bulk-42"}


def test_cursor_pages_and_limit(scim: ScimClient) -> None:
    start = head(scim)
    for _ in range(5):
        scim.create_user()
    first = feed(scim, start, limit=2)
    second = feed(scim, first["next"], limit=2)
    third = feed(scim, second["next"], limit=2)
    done = feed(scim, third["next"], limit=2)
    pages = [first, second, third]
    assert [len(p["changes"]) for p in pages] == [2, 2, 1]
    assert done == {"changes": [], "next": third["next"]}
    seqs = [c["seq"] for p in pages for c in p["changes"]]
    assert seqs == list(range(int(start) + 1, int(start) + 6))


def test_long_poll_returns_when_a_change_commits(scim: ScimClient, app: Flask) -> None:
    user = scim.create_user()
    start = head(scim)
    writer = make_writer(scim, app, user["id"])
    began = time.monotonic()
    timer = threading.Timer(0.3, writer)
    timer.start()
    try:
        body = feed(scim, start, wait=10)
    finally:
        timer.join()
    elapsed = time.monotonic() - began
    assert kinds(body["changes"]) == ["user.deactivated"]
    assert 0.25 < elapsed < 2.0


def make_writer(scim: ScimClient, app: Flask, user_id: str) -> Any:
    other = ScimClient(app.test_client(), scim.token, scim.tenant)

    def deactivate() -> None:
        patch(other, f"/Users/{user_id}", {"op": "replace", "path": "active", "value": False})

    return deactivate


def test_long_poll_times_out_empty(scim: ScimClient) -> None:
    start = head(scim)
    began = time.monotonic()
    assert feed(scim, start, wait=0.5) == {"changes": [], "next": start}
    assert time.monotonic() - began >= 0.45


def test_feeds_are_per_tenant_and_need_a_token(scim: ScimClient, app: Flask) -> None:
    other = make_client(app)
    start = head(other)
    scim.create_user()
    assert changes_since(other, start) == []
    reader = make_client(app, scope="read", tenant=scim.tenant)
    assert kinds(feed(reader)["changes"]) == ["user.created"]
    anonymous = scim.client.get("/api/v1/changes")
    assert_scim_error(anonymous, 401)


def test_bad_parameters_are_scim_errors(scim: ScimClient) -> None:
    auth = {"Authorization": f"Bearer {scim.token}"}
    for query in (
        {"after": "abc"},
        {"after": "-1"},
        {"after": "99999999"},
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "2.5"},
        {"wait": "31"},
        {"wait": "nan"},
        {"wait": "-1"},
    ):
        response = scim.client.get("/api/v1/changes", query_string=query, headers=auth)
        assert_scim_error(response, 400, "invalidValue")


def test_a_cursor_past_retention_is_410(scim: ScimClient, app: Flask) -> None:
    start = head(scim)
    scim.create_user()
    scim.create_user()
    server = app.extensions["scimserver"]
    tenant_id = server.tokens.authenticate(scim.token).tenant_id
    assert prune(server.db, [tenant_id], timedelta(seconds=-1)) == 2
    response = scim.client.get(
        "/api/v1/changes",
        query_string={"after": start},
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert_scim_error(response, 410)
    assert "re-read" in response.get_json()["detail"]
    assert feed(scim, head(scim)) == {"changes": [], "next": head(scim)}
    scim.create_user()
    from_the_start = feed(scim)  # no cursor: the oldest change retention kept
    assert kinds(from_the_start["changes"]) == ["user.created"]
