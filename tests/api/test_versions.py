"""Versions tell the truth: ETag and meta.lastModified move whenever the representation does."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import ScimClient, assert_scim_error

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def meta(scim: ScimClient, path: str) -> dict[str, Any]:
    response = scim.get(path)
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()["meta"]
    assert response.headers["ETag"] == found["version"]
    return found


def patch(scim: ScimClient, path: str, *operations: dict[str, Any], **kw: Any) -> Any:
    return scim.patch(path, {"schemas": [PATCH_OP], "Operations": list(operations)}, **kw)


def still_cached(scim: ScimClient, path: str, version: str) -> bool:
    return scim.get(path, headers={"If-None-Match": version}).status_code == 304


def test_joining_a_group_changes_the_users_version(scim: ScimClient) -> None:
    user = scim.create_user()
    group = scim.create_group()
    before = meta(scim, f"/Users/{user['id']}")
    time.sleep(0.002)
    add = {"op": "add", "path": "members", "value": [{"value": user["id"]}]}
    assert patch(scim, f"/Groups/{group['id']}", add).status_code == 204
    after = meta(scim, f"/Users/{user['id']}")
    assert after["version"] != before["version"]
    assert after["lastModified"] > before["lastModified"]
    assert not still_cached(scim, f"/Users/{user['id']}", before["version"])
    assert still_cached(scim, f"/Users/{user['id']}", after["version"])
    # If-Match with the old version is refused now.
    stale = patch(
        scim,
        f"/Users/{user['id']}",
        {"op": "replace", "path": "displayName", "value": "x"},
        headers={"If-Match": before["version"]},
    )
    assert_scim_error(stale, 412)


def test_leaving_a_group_changes_the_users_version(scim: ScimClient) -> None:
    user = scim.create_user()
    group = scim.create_group(members=[user["id"]])
    before = meta(scim, f"/Users/{user['id']}")
    remove = {"op": "remove", "path": f'members[value eq "{user["id"]}"]'}
    assert patch(scim, f"/Groups/{group['id']}", remove).status_code == 204
    assert meta(scim, f"/Users/{user['id']}")["version"] != before["version"]


def test_renaming_a_group_changes_its_members_versions(scim: ScimClient) -> None:
    user = scim.create_user()
    group = scim.create_group("Old name", members=[user["id"]])
    before = meta(scim, f"/Users/{user['id']}")
    rename = {"op": "replace", "path": "displayName", "value": "New name"}
    assert patch(scim, f"/Groups/{group['id']}", rename).status_code == 204
    fetched = scim.get(f"/Users/{user['id']}").get_json()
    assert fetched["groups"][0]["display"] == "New name"
    assert fetched["meta"]["version"] != before["version"]


def test_deleting_a_group_changes_its_members_versions(scim: ScimClient) -> None:
    user = scim.create_user()
    group = scim.create_group(members=[user["id"]])
    before = meta(scim, f"/Users/{user['id']}")
    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    fetched = scim.get(f"/Users/{user['id']}").get_json()
    assert "groups" not in fetched
    assert fetched["meta"]["version"] != before["version"]


def test_deleting_a_member_changes_the_groups_version(scim: ScimClient) -> None:
    user = scim.create_user()
    other = scim.create_user()
    group = scim.create_group(members=[user["id"], other["id"]])
    before = meta(scim, f"/Groups/{group['id']}")
    time.sleep(0.002)
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    after = meta(scim, f"/Groups/{group['id']}")
    assert after["version"] != before["version"]
    assert after["lastModified"] > before["lastModified"]
    assert not still_cached(scim, f"/Groups/{group['id']}", before["version"])
    members = scim.get(f"/Groups/{group['id']}").get_json()["members"]
    assert [m["value"] for m in members] == [other["id"]]


def test_no_op_writes_keep_the_version(scim: ScimClient) -> None:
    user = scim.create_user("same@example.com", displayName="Same")
    group = scim.create_group(members=[user["id"]])
    user_version = meta(scim, f"/Users/{user['id']}")["version"]
    group_version = meta(scim, f"/Groups/{group['id']}")["version"]
    same = {"op": "replace", "path": "displayName", "value": "Same"}
    assert patch(scim, f"/Users/{user['id']}", same).status_code == 200
    readd = {"op": "add", "path": "members", "value": [{"value": user["id"]}]}
    assert patch(scim, f"/Groups/{group['id']}", readd).status_code == 204
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "same@example.com",
        "displayName": "Same",
    }
    put = scim.put(f"/Users/{user['id']}", body)
    assert put.status_code == 200
    assert put.headers["ETag"] == user_version
    assert meta(scim, f"/Users/{user['id']}")["version"] == user_version
    assert meta(scim, f"/Groups/{group['id']}")["version"] == group_version


def test_if_none_match_accepts_a_list_and_star(scim: ScimClient) -> None:
    user = scim.create_user()
    version = meta(scim, f"/Users/{user['id']}")["version"]
    path = f"/Users/{user['id']}"
    assert scim.get(path, headers={"If-None-Match": f'W/"999", {version}'}).status_code == 304
    assert scim.get(path, headers={"If-None-Match": "*"}).status_code == 304
    assert scim.get(path, headers={"If-None-Match": 'W/"999"'}).status_code == 200
