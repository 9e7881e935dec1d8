"""JumpCloud's custom SCIM integration.

Sources:
- CONNECTOR: https://jumpcloud.com/support/provision-and-manage-users-and-groups-in-apps-using-custom-scim-identity-management-integration
  ("Test Connection" creates a test user and a test group and deletes both; without
  DELETE for users the test user is deactivated instead).
- MEMBERS: https://app.uni-moni.com/en/kb/sso-setup-jumpcloud (a service provider's note:
  JumpCloud removes group members Entra-style, ``value: [{value: uid}]`` without a filter).
JumpCloud does not publish its bodies; these carry what the pages describe.
"""

from __future__ import annotations

from tests.conftest import ScimClient, assert_scim_error
from tests.idp.replay import found, random_guid, stored

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_connection_test_creates_and_deletes_a_test_user_and_group(scim: ScimClient) -> None:
    user = scim.create_user(
        "jctest@example.com", emails=[{"value": "jctest@example.com", "type": "work"}]
    )
    group = scim.create_group(f"JumpCloud Test Group {random_guid()}")
    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert found(scim, "/Users", 'userName eq "jctest@example.com"') == []
    assert_scim_error(scim.get(f"/Groups/{group['id']}"), 404)


def test_deactivate_instead_of_delete(scim: ScimClient) -> None:
    user = scim.create_user("jcdeact@example.com", active=True)
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert scim.patch(f"/Users/{user['id']}", body).status_code == 200
    [hit] = found(scim, "/Users", 'userName eq "jcdeact@example.com"')
    assert hit["active"] is False


def test_member_removal_by_value_list_removes_only_the_listed(scim: ScimClient) -> None:
    a, b = scim.create_user("a@example.com"), scim.create_user("b@example.com")
    group = scim.create_group("JC Group", [a["id"], b["id"]])
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "remove", "path": "members", "value": [{"value": a["id"]}]}],
    }
    response = scim.open(
        "PATCH",
        f"/Groups/{group['id']}",
        body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 204
    assert [m["value"] for m in stored(scim, "/Groups", group["id"])["members"]] == [b["id"]]


def test_put_user_without_active_keeps_it_active(scim: ScimClient) -> None:
    user = scim.create_user("jcput@example.com", active=True)
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "jcput@example.com",
        "name": {"givenName": "Put", "familyName": "User"},
    }
    response = scim.put(f"/Users/{user['id']}", body)
    assert response.status_code == 200
    assert stored(scim, "/Users", user["id"])["active"] is True
