"""PATCH through HTTP: status codes, atomicity, membership as set operations, If-Match."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from scimserver.store.models import Membership
from tests.conftest import ScimClient, assert_scim_error, statements_run

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def test_user_patch_returns_200_with_the_resource_and_new_version(scim: ScimClient) -> None:
    user = scim.create_user("patch@example.com")
    response = scim.patch(
        f"/Users/{user['id']}", ops({"op": "replace", "value": {"active": False, "title": "Gone"}})
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["active"], body["title"]) == (False, "Gone")
    assert body["meta"]["version"] == 'W/"2"' == response.headers["ETag"]
    assert scim.get(f"/Users/{user['id']}").get_json() == body


def test_patch_honours_attributes_on_the_response(scim: ScimClient) -> None:
    user = scim.create_user("proj-patch@example.com", title="T")
    response = scim.patch(
        f"/Users/{user['id']}?attributes=title",
        ops({"op": "replace", "path": "title", "value": "U"}),
    )
    assert response.get_json() == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": user["id"],
        "title": "U",
    }


def test_failing_operation_writes_nothing(scim: ScimClient) -> None:
    user = scim.create_user("atomic@example.com", title="Before")
    response = scim.patch(
        f"/Users/{user['id']}",
        ops(
            {"op": "replace", "path": "title", "value": "After"},
            {"op": "replace", "path": "nosuch", "value": "x"},
        ),
    )
    assert_scim_error(response, 400, "invalidPath")
    after = scim.get(f"/Users/{user['id']}").get_json()
    assert after["title"] == "Before"
    assert after["meta"]["version"] == user["meta"]["version"]


def test_patch_result_is_validated_against_the_schema(scim: ScimClient) -> None:
    user = scim.create_user("typed@example.com")
    bad = scim.patch(f"/Users/{user['id']}", ops({"op": "replace", "path": "active", "value": 7}))
    assert_scim_error(bad, 400, "invalidValue")
    gone = scim.patch(f"/Users/{user['id']}", ops({"op": "remove", "path": "userName"}))
    assert gone.status_code == 400
    assert scim.get(f"/Users/{user['id']}").get_json()["userName"] == "typed@example.com"


def test_patch_user_name_to_a_taken_one_is_409(scim: ScimClient) -> None:
    scim.create_user("taken@example.com")
    user = scim.create_user("free@example.com")
    response = scim.patch(
        f"/Users/{user['id']}",
        ops({"op": "replace", "path": "userName", "value": "TAKEN@example.com"}),
    )
    assert_scim_error(response, 409, "uniqueness")


def test_group_patch_is_204_by_default_and_200_when_attributes_are_asked(
    scim: ScimClient,
) -> None:
    user = scim.create_user()
    group = scim.create_group("Quiet")
    add = ops({"op": "add", "path": "members", "value": [{"value": user["id"]}]})
    response = scim.patch(f"/Groups/{group['id']}", add)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["ETag"] == 'W/"2"'
    loud = scim.patch(
        f"/Groups/{group['id']}?excludedAttributes=members",
        ops({"op": "replace", "path": "displayName", "value": "Loud"}),
    )
    assert loud.status_code == 200
    assert loud.get_json()["displayName"] == "Loud"
    assert "members" not in loud.get_json()


def test_member_add_and_remove_are_idempotent_set_operations(scim: ScimClient, app: Flask) -> None:
    a, b = scim.create_user()["id"], scim.create_user()["id"]
    group = scim.create_group("Set", [a])
    path = f"/Groups/{group['id']}"
    assert (
        scim.patch(
            path, ops({"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]})
        ).status_code
        == 204
    )
    assert (
        scim.patch(path, ops({"op": "add", "path": "members", "value": [{"value": a}]})).status_code
        == 204
    )
    remove = ops({"op": "remove", "path": f'members[value eq "{a}"]'})
    assert scim.patch(path, remove).status_code == 204
    assert scim.patch(path, remove).status_code == 204  # removing a non-member is fine
    with app.extensions["scimserver"].db.read() as session:
        members = set(
            session.scalars(select(Membership.member_id).where(Membership.group_id == group["id"]))
        )
    assert members == {b}
    version = scim.get(path).get_json()["meta"]["version"]
    assert version == 'W/"3"'  # the two no-op PATCHes did not bump the version


def test_okta_remove_one_add_another_in_one_request(scim: ScimClient) -> None:
    a, b = scim.create_user()["id"], scim.create_user()["id"]
    group = scim.create_group("Swap", [a])
    response = scim.patch(
        f"/Groups/{group['id']}",
        ops(
            {"op": "remove", "path": f'members[value eq "{a}"]'},
            {"op": "add", "path": "members", "value": [{"value": b, "display": "B"}]},
        ),
    )
    assert response.status_code == 204
    members = scim.get(f"/Groups/{group['id']}").get_json()["members"]
    assert [m["value"] for m in members] == [b]


def test_replace_members_computes_the_difference(scim: ScimClient) -> None:
    a, b, c = (scim.create_user()["id"] for _ in range(3))
    group = scim.create_group("Replace", [a, b])
    response = scim.patch(
        f"/Groups/{group['id']}",
        ops({"op": "replace", "path": "members", "value": [{"value": b}, {"value": c}]}),
    )
    assert response.status_code == 204
    members = scim.get(f"/Groups/{group['id']}").get_json()["members"]
    assert {m["value"] for m in members} == {b, c}


def test_adding_an_unknown_member_is_400_and_writes_nothing(scim: ScimClient) -> None:
    a = scim.create_user()["id"]
    group = scim.create_group("Strict")
    response = scim.patch(
        f"/Groups/{group['id']}",
        ops({"op": "add", "path": "members", "value": [{"value": a}, {"value": "ghost"}]}),
    )
    assert_scim_error(response, 400, "invalidValue")
    assert "members" not in scim.get(f"/Groups/{group['id']}").get_json()


def test_member_patch_does_not_touch_other_members(scim: ScimClient, app: Flask) -> None:
    """Adding one member runs a bounded number of statements, none selecting all members."""
    ids = [scim.create_user()["id"] for _ in range(30)]
    group = scim.create_group("Large", ids[:-1])
    add = ops({"op": "add", "path": "members", "value": [{"value": ids[-1]}]})
    statuses: list[int] = []
    statements = statements_run(
        app, lambda: statuses.append(scim.patch(f"/Groups/{group['id']}", add).status_code)
    )
    assert statuses == [204]
    membership_reads = [s for s in statements if "FROM memberships" in s and "SELECT" in s]
    assert all("member_id IN" in s for s in membership_reads), membership_reads
    assert not any("attribute_values" in s for s in statements)
    assert len(statements) <= 12, statements


def test_if_match_on_patch_and_delete(scim: ScimClient) -> None:
    user = scim.create_user("etag@example.com")
    stale = {"If-Match": 'W/"0"'}
    body = ops({"op": "replace", "path": "title", "value": "x"})
    assert_scim_error(scim.patch(f"/Users/{user['id']}", body, headers=stale), 412)
    assert_scim_error(scim.delete(f"/Users/{user['id']}", headers=stale), 412)
    fresh = {"If-Match": user["meta"]["version"]}
    assert scim.patch(f"/Users/{user['id']}", body, headers=fresh).status_code == 200
    assert_scim_error(scim.delete(f"/Users/{user['id']}", headers=fresh), 412)
    assert scim.delete(f"/Users/{user['id']}", headers={"If-Match": "*"}).status_code == 204


def test_patch_unknown_id_is_404(scim: ScimClient) -> None:
    body = ops({"op": "replace", "path": "title", "value": "x"})
    assert_scim_error(scim.patch("/Users/nope", body), 404)


def test_password_patch_is_hashed_not_returned(scim: ScimClient) -> None:
    user = scim.create_user("pw@example.com")
    response = scim.patch(
        f"/Users/{user['id']}", ops({"op": "replace", "path": "password", "value": "n3w-Secret"})
    )
    assert response.status_code == 200
    assert "password" not in response.get_json()
    assert response.get_json()["meta"]["version"] == 'W/"2"'


def test_required_attributes_cannot_be_patched_empty(scim: ScimClient) -> None:
    user = scim.create_user("kept@example.com")
    group = scim.create_group("Kept")
    for path, target, value in (
        (f"/Users/{user['id']}", "userName", ""),
        (f"/Users/{user['id']}", "userName", "  "),
        (f"/Groups/{group['id']}", "displayName", ""),
    ):
        response = scim.patch(path, ops({"op": "replace", "path": target, "value": value}))
        assert_scim_error(response, 400)  # "" clears (mutability), spaces are invalidValue
    assert scim.get(f"/Users/{user['id']}").get_json()["userName"] == "kept@example.com"
    assert scim.get(f"/Groups/{group['id']}").get_json()["displayName"] == "Kept"
    assert_scim_error(scim.post("/Groups", {"displayName": ""}), 400, "invalidValue")


def _index_rows(app: Flask, resource_id: str) -> dict[int, tuple[Any, ...]]:
    from scimserver.store.models import AttributeValue

    columns = (AttributeValue.path, AttributeValue.ordinal, AttributeValue.str_value)
    with app.extensions["scimserver"].db.read() as session:
        query = select(AttributeValue.id, *columns).where(AttributeValue.resource_id == resource_id)
        return {row_id: tuple(rest) for row_id, *rest in session.execute(query)}


def test_patch_rewrites_only_the_index_rows_that_changed(scim: ScimClient, app: Flask) -> None:
    user = scim.create_user(
        "indexed@example.com",
        active=True,
        title="Engineer",
        emails=[{"value": "a@example.com", "type": "work"}, {"value": "b@example.com"}],
    )
    before = _index_rows(app, user["id"])
    scim.patch(f"/Users/{user['id']}", ops({"op": "replace", "path": "title", "value": "Boss"}))
    after = _index_rows(app, user["id"])
    changed = {v for k, v in after.items() if k not in before}
    assert changed == {("title", 0, "boss")}
    assert {k: v for k, v in before.items() if v[0] != "title"}.items() <= after.items()
    # Removing an element shifts the ordinals after it: those rows are rewritten too.
    remove_first = {"op": "remove", "path": 'emails[value eq "a@example.com"]'}
    scim.patch(f"/Users/{user['id']}", ops(remove_first))
    rows = sorted(v for v in _index_rows(app, user["id"]).values() if v[0].startswith("email"))
    assert rows == [("emails.value", 0, "b@example.com")]
    found = scim.get("/Users", query_string={"filter": 'emails.value eq "a@example.com"'})
    assert found.get_json()["totalResults"] == 0
    found = scim.get("/Users", query_string={"filter": 'title eq "boss"'})
    assert [r["id"] for r in found.get_json()["Resources"]] == [user["id"]]
