"""The identity view, access rules and identity.access_changed events, through the API
(and the access service, as the CLI and the worker call it), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from flask import Flask

from scimserver.service.access import AccessError, AccessService
from tests.api.test_changes import changes_since, head, patch
from tests.conftest import ScimClient, assert_scim_error, make_client

ACME = "urn:example:params:scim:schemas:extension:acme:2.0:User"
ACCESS = "identity.access_changed"


def rules(app: Flask, scim: ScimClient) -> AccessService:
    server = app.extensions["scimserver"]
    tenant = server.tenants().find(scim.tenant)
    return server.access(tenant, "tester")


def settle(app: Flask, scim: ScimClient) -> int:
    """What the worker does: settle pending rules edits."""
    return rules(app, scim).run_jobs()


def view(scim: ScimClient, user_id: str, **headers: str) -> Any:
    return scim.client.get(
        f"/api/v1/identities/{user_id}",
        headers={"Authorization": f"Bearer {scim.token}", **headers},
    )


def listing(scim: ScimClient, **query: Any) -> dict[str, Any]:
    response = scim.client.get(
        "/api/v1/identities",
        query_string=query,
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def access_events(scim: ScimClient, cursor: str) -> list[dict[str, Any]]:
    return [c for c in changes_since(scim, cursor) if c["type"] == ACCESS]


def add(scim: ScimClient, group: str, *users: str) -> None:
    patch(
        scim,
        f"/Groups/{group}",
        {"op": "add", "path": "members", "value": [{"value": u} for u in users]},
    )


def remove(scim: ScimClient, group: str, user: str) -> None:
    patch(scim, f"/Groups/{group}", {"op": "remove", "path": f'members[value eq "{user}"]'})


def test_the_view_of_a_person(app: Flask, scim: ScimClient) -> None:
    user = scim.create_user(
        "bjensen",
        externalId="bj",
        name={"givenName": "Barbara", "familyName": "Jensen"},
        emails=[{"value": "b@x.org", "type": "home"}, {"value": "bj@x.org", "type": "work"}],
    )
    group = scim.create_group("Engineering", members=[user["id"]])
    rules(app, scim).map("developers", "Engineering")
    response = view(scim, user["id"])
    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "id": user["id"],
        "externalId": "bj",
        "email": "bj@x.org",
        "firstName": "Barbara",
        "lastName": "Jensen",
        "displayName": "Barbara Jensen",
        "active": True,
        "groups": [{"id": group["id"], "displayName": "Engineering"}],
        "appGroups": ["developers"],
        "role": "developers",
        "roles": ["developers"],
        "isAdmin": None,
        "version": body["version"],
        "updated": body["updated"],
    }
    assert body["version"] == scim.get(f"/Users/{user['id']}").headers["ETag"]
    again = view(scim, user["id"], **{"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    rules(app, scim).map("developers", "Engineering", priority=5)  # same group: same view
    assert view(scim, user["id"], **{"If-None-Match": response.headers["ETag"]}).status_code == 304
    rules(app, scim).map("builders", "Engineering")  # the view moved: so does its ETag
    assert view(scim, user["id"], **{"If-None-Match": response.headers["ETag"]}).status_code == 200


def test_read_tokens_see_their_tenant_only(app: Flask, scim: ScimClient) -> None:
    user = scim.create_user("reader@x.org")
    reader = make_client(app, "read", tenant=scim.tenant)
    assert view(reader, user["id"]).get_json()["email"] == "reader@x.org"
    stranger = make_client(app)
    assert_scim_error(view(stranger, user["id"]), 404)
    assert listing(stranger, email="reader@x.org") == {"identities": [], "next": None}
    assert view(scim, "no-such-id").status_code == 404


def test_by_email_case_insensitively(scim: ScimClient) -> None:
    one = scim.create_user("one", emails=[{"value": "Same@X.org", "primary": True}])
    scim.create_user("two", emails=[{"value": "other@x.org"}, {"value": "same@x.org"}])
    found = listing(scim, email="same@x.org")
    assert [i["id"] for i in found["identities"]] == [one["id"]]
    assert found["next"] is None


def test_the_list_pages_with_a_cursor(scim: ScimClient) -> None:
    made = [scim.create_user(f"p{i}")["id"] for i in range(5)]
    seen: list[str] = []
    page = listing(scim, limit=2)
    while True:
        seen += [i["id"] for i in page["identities"]]
        if page["next"] is None:
            break
        page = listing(scim, limit=2, cursor=page["next"])
    assert seen == made
    for bad in ({"limit": 0}, {"limit": "x"}, {"cursor": "%%%"}, {"cursor": "bm9wZQ"}):
        response = scim.client.get(
            "/api/v1/identities",
            query_string=bad,
            headers={"Authorization": f"Bearer {scim.token}"},
        )
        assert_scim_error(response, 400)


def test_one_idp_group_per_app_group_and_one_to_many(app: Flask, scim: ScimClient) -> None:
    first, second = scim.create_group("first"), scim.create_group("second")
    service = rules(app, scim)
    service.map("app", "first")
    service.map("app", second["id"])  # replaces, never adds a second group
    service.map("other", "second")  # one IdP group feeds several app groups
    listed = service.rules().mappings
    assert [(m.app_group, m.group_id) for m in listed] == [
        ("app", second["id"]),
        ("other", second["id"]),
    ]
    assert first["id"] not in {m.group_id for m in listed}
    for wrong in ("nothing-named-so", ""):
        try:
            service.map("app", wrong)
        except AccessError:
            continue
        raise AssertionError(f"mapped to {wrong!r}")


def test_groups_are_chosen_by_external_id_and_names_are_rename_stable(
    app: Flask, scim: ScimClient
) -> None:
    user = scim.create_user()
    group = scim.create_group("Sales", members=[user["id"]], externalId="okta-123")
    rules(app, scim).map("crm", "okta-123")
    settle(app, scim)
    cursor = head(scim)
    patch(
        scim, f"/Groups/{group['id']}", {"op": "replace", "path": "displayName", "value": "Revenue"}
    )
    assert view(scim, user["id"]).get_json()["appGroups"] == ["crm"]
    assert access_events(scim, cursor) == []  # a rename moves nobody's access


def test_priority_and_default_role(app: Flask, scim: ScimClient) -> None:
    user = scim.create_user()
    low, high = scim.create_group("low"), scim.create_group("high")
    service = rules(app, scim)
    service.map("reader", "low", priority=20)
    service.map("writer", "high", priority=10)
    service.default_role("guest")
    assert view(scim, user["id"]).get_json()["role"] == "guest"
    add(scim, low["id"], user["id"])
    assert view(scim, user["id"]).get_json()["role"] == "reader"
    add(scim, high["id"], user["id"])
    body = view(scim, user["id"]).get_json()
    assert (body["appGroups"], body["role"], body["roles"]) == (
        ["writer", "reader"],
        "writer",
        ["writer"],
    )
    service.mode("multi")
    assert view(scim, user["id"]).get_json()["roles"] == ["writer", "reader"]


def test_membership_moves_announce_access_once_with_before_and_after(
    app: Flask, scim: ScimClient
) -> None:
    user = scim.create_user()
    group = scim.create_group("eng")
    rules(app, scim).map("developers", "eng")
    settle(app, scim)
    cursor = head(scim)
    add(scim, group["id"], user["id"])
    add(scim, group["id"], user["id"])  # already a member: nothing moves
    remove(scim, group["id"], user["id"])
    events = access_events(scim, cursor)
    assert [
        (e["resource"]["id"], e["access"]["before"]["appGroups"], e["access"]["after"]["appGroups"])
        for e in events
    ] == [
        (user["id"], [], ["developers"]),
        (user["id"], ["developers"], []),
    ]
    assert events[0]["attributes"] == ["appGroups", "role", "roles"]
    unmapped = scim.create_group("unmapped")
    cursor = head(scim)
    add(scim, unmapped["id"], user["id"])
    assert access_events(scim, cursor) == []


def test_deleting_a_mapped_group_and_deactivating_announce(app: Flask, scim: ScimClient) -> None:
    one, two = scim.create_user(), scim.create_user()
    group = scim.create_group("eng", members=[one["id"], two["id"]])
    rules(app, scim).map("developers", "eng")
    assert settle(app, scim) == 2
    cursor = head(scim)
    patch(scim, f"/Users/{one['id']}", {"op": "replace", "path": "active", "value": False})
    events = access_events(scim, cursor)
    assert [e["access"]["after"] for e in events] == [
        {"appGroups": [], "role": None, "roles": [], "isAdmin": False}
    ]
    cursor = head(scim)
    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    assert [e["resource"]["id"] for e in access_events(scim, cursor)] == [two["id"]]
    assert view(scim, two["id"]).get_json()["appGroups"] == []


def test_a_mapping_edit_is_audited_and_settled_by_the_worker(app: Flask, scim: ScimClient) -> None:
    users = [scim.create_user()["id"] for _ in range(7)]
    scim.create_group("everyone", members=users)
    cursor = head(scim)
    rules(app, scim).map("staff", "everyone")
    logged = changes_since(scim, cursor)
    assert [c["type"] for c in logged] == ["access.rules_changed"]  # nobody announced yet
    assert logged[0]["rules"]["after"]["mappings"][0]["appGroup"] == "staff"
    assert logged[0]["actor"] == "tester"
    assert rules(app, scim).rules().pending_jobs == 1
    service = rules(app, scim)
    assert service.run_jobs(batches=1, size=3) == 3  # bounded batches
    assert service.run_jobs(size=3) == 4
    assert service.run_jobs() == 0
    events = access_events(scim, cursor)
    assert sorted(e["resource"]["id"] for e in events) == sorted(users)
    assert {e["requestId"].split("/")[0] for e in events} == {"access"}
    assert rules(app, scim).rules().pending_jobs == 0


def test_a_membership_move_before_the_worker_settles_is_announced_once(
    app: Flask, scim: ScimClient
) -> None:
    user, late = scim.create_user(), scim.create_user()
    group = scim.create_group("eng", members=[user["id"]])
    rules(app, scim).map("developers", "eng")
    cursor = head(scim)
    add(scim, group["id"], late["id"])  # before the worker: announced now, from nothing
    remove(scim, group["id"], user["id"])  # never announced, now gone: nothing to say
    settle(app, scim)
    events = access_events(scim, cursor)
    assert [(e["resource"]["id"], e["access"]["after"]["appGroups"]) for e in events] == [
        (late["id"], ["developers"])
    ]


def test_is_admin_from_an_attribute_true_false_absent(custom_app: Flask) -> None:
    scim = make_client(custom_app)
    service = rules(custom_app, scim)
    service.admin(attribute=f"{ACME}:remote")
    user = scim.create_user()
    cursor = head(scim)

    def admin(value: bool | None) -> Any:
        operation = (
            {"op": "remove", "path": f"{ACME}:remote"}
            if value is None
            else {"op": "replace", "path": f"{ACME}:remote", "value": value}
        )
        patch(scim, f"/Users/{user['id']}", operation)
        return view(scim, user["id"]).get_json()["isAdmin"]

    assert admin(True) is True
    assert admin(None) is True  # absent: unchanged
    assert admin(False) is False
    assert admin(None) is False
    events = access_events(scim, cursor)
    assert [e["access"]["after"]["isAdmin"] for e in events] == [True, False]
    try:
        service.admin(attribute="userName")
    except AccessError as exc:
        assert "boolean" in str(exc)
    else:
        raise AssertionError("a string attribute was accepted")


def test_is_admin_from_a_group(app: Flask, scim: ScimClient) -> None:
    user = scim.create_user()
    admins = scim.create_group("admins")
    rules(app, scim).admin(idp_group="admins")
    settle(app, scim)
    assert view(scim, user["id"]).get_json()["isAdmin"] is False
    cursor = head(scim)
    add(scim, admins["id"], user["id"])
    assert view(scim, user["id"]).get_json()["isAdmin"] is True
    assert [e["access"]["after"]["isAdmin"] for e in access_events(scim, cursor)] == [True]
