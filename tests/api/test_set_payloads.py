"""One SET per resource per transaction, describing the final state (RFC 9967 §2),
as a poll receiver gets it and PyJWT verifies it: the exact events, ``attributes``,
``data`` and ``version`` of each SET for each write shape."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.api.test_sets import drain, full_app, start
from tests.conftest import ScimClient, make_client

P = "urn:ietf:params:scim:event:"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


__all__ = ["full_app"]  # the module's full-mode app, shared with test_sets


@pytest.fixture
def full(full_app: Flask) -> ScimClient:
    return make_client(full_app)


def ref(user: dict[str, Any]) -> dict[str, str]:
    return {"value": user["id"], "$ref": f"/Users/{user['id']}"}


def test_a_group_created_with_members_is_one_create(scim: ScimClient) -> None:
    user = scim.create_user()
    start(scim)
    group = scim.create_group("crm", members=[user["id"]])
    (created,) = drain(scim)
    assert created["sub_id"]["uri"] == f"/Groups/{group['id']}"
    assert created["events"] == {
        P + "prov:create:notice": {"attributes": ["schemas", "displayName", "members"]}
    }


def test_full_create_with_members_carries_them(full: ScimClient) -> None:
    user = full.create_user()
    start(full)
    group = full.create_group("crm", members=[user["id"]])
    (created,) = drain(full)
    data = created["events"][P + "prov:create:full"]["data"]
    assert data["members"] == [ref(user)]
    assert data["meta"]["version"] == group["meta"]["version"]
    assert (data["schemas"], data["displayName"]) == ([GROUP], "crm")


def test_a_group_without_members_and_a_user_with_a_password(scim: ScimClient) -> None:
    start(scim)
    scim.create_group("empty")
    scim.create_user("pw", password="Secret-123!")
    group, user = drain(scim)
    assert group["events"] == {P + "prov:create:notice": {"attributes": ["schemas", "displayName"]}}
    assert user["events"] == {
        P + "prov:create:notice": {"attributes": ["schemas", "userName", "password"]}
    }
    assert "Secret" not in str(user)


def test_a_put_that_changes_members_is_one_put(scim: ScimClient) -> None:
    one, two = scim.create_user(), scim.create_user()
    group = scim.create_group("crm", members=[one["id"]])
    start(scim)
    body = {"schemas": [GROUP], "displayName": "crm-2", "members": [{"value": two["id"]}]}
    response = scim.put(f"/Groups/{group['id']}", body)
    assert response.status_code == 200
    (put,) = drain(scim)
    assert put["events"] == {
        P + "prov:put:notice": {
            "attributes": ["displayName", "members"],
            "version": response.headers["ETag"],
        }
    }


def test_a_patch_of_members_and_name_is_one_patch(full: ScimClient) -> None:
    user = full.create_user()
    group = full.create_group("crm")
    start(full)
    body = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "replace", "path": "displayName", "value": "crm-2"},
            {"op": "add", "path": "members", "value": [{"value": user["id"]}]},
        ],
    }
    response = full.patch(f"/Groups/{group['id']}", body)
    assert response.status_code in (200, 204)
    (patched,) = drain(full)
    version = full.get(f"/Groups/{group['id']}").get_json()["meta"]["version"]
    assert patched["events"] == {
        P + "prov:patch:full": {
            "version": version,
            "data": {
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "replace", "path": "displayName", "value": "crm-2"},
                    {"op": "add", "path": "members", "value": [ref(user)]},
                ],
            },
        }
    }


def test_a_password_only_patch_is_a_notice_even_in_full_mode(full: ScimClient) -> None:
    user = full.create_user()
    start(full)
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "password", "value": "N3w-Secret!"}],
    }
    response = full.patch(f"/Users/{user['id']}", body)
    assert response.status_code == 200
    (changed,) = drain(full)
    assert changed["events"] == {
        P + "prov:patch:notice": {"attributes": ["password"], "version": response.headers["ETag"]}
    }
    assert "N3w" not in str(changed)


def test_deleting_a_member_is_a_delete_and_a_patch_of_each_group(scim: ScimClient) -> None:
    user = scim.create_user()
    groups = [scim.create_group(members=[user["id"]]) for _ in range(2)]
    start(scim)
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    found = {c["sub_id"]["uri"]: c for c in drain(scim)}
    assert found[f"/Users/{user['id']}"]["events"] == {P + "prov:delete": {}}
    for group in groups:
        version = scim.get(f"/Groups/{group['id']}").get_json()["meta"]["version"]
        assert found[f"/Groups/{group['id']}"]["events"] == {
            P + "prov:patch:notice": {"attributes": ["members"], "version": version}
        }
    assert len(found) == 3
    assert len({c["txn"] for c in found.values()}) == 1


def test_deleting_a_group_with_members_is_one_delete(scim: ScimClient) -> None:
    users = [scim.create_user() for _ in range(3)]
    group = scim.create_group(members=[u["id"] for u in users])
    start(scim)
    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    (deleted,) = drain(scim)
    assert deleted["events"] == {P + "prov:delete": {}}
