"""Clients written against AWS IAM Identity Center's SCIM examples (Terraform, scripts).

Sources, the request examples of the IAM Identity Center SCIM developer guide:
- CREATE_USER: https://docs.aws.amazon.com/singlesignon/latest/developerguide/createuser.html
- PATCH_USER: https://docs.aws.amazon.com/singlesignon/latest/developerguide/patchuser.html
- CREATE_GROUP: https://docs.aws.amazon.com/singlesignon/latest/developerguide/creategroup.html
- https://docs.aws.amazon.com/singlesignon/latest/developerguide/deleteuser.html and
  getuser.html / getgroup.html (plain GET and DELETE by id, 204 on delete).

AWS's bodies carry no ``schemas`` at all, a relative ``$ref`` ("../Users/…") and
``"active": "false"`` as a string; a client copying them must still work here.
"""

from __future__ import annotations

from tests.conftest import ScimClient, assert_scim_error
from tests.idp.replay import ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA, found, send, stored

SAMPLE_USER = "9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074"
SAMPLE_MANAGER = "9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734"
JSON = "application/json"

CREATE_USER = """{
  "externalId": "701984",
  "userName": "bjensen",
  "name": {
    "formatted": "Ms. Barbara J Jensen, III",
    "familyName": "Jensen",
    "givenName": "Barbara",
    "middleName": "Jane",
    "honorificPrefix": "Ms.",
    "honorificSuffix": "III"
  },
  "displayName": "Babs Jensen",
  "nickName": "Babs",
  "profileUrl": "https://login.example.com/bjensen",
  "emails": [
    {
      "value": "bjensen@example.com",
      "type": "work",
      "primary": true
    }
  ],
  "addresses": [
    {
      "type": "work",
      "streetAddress": "100 Universal City Plaza",
      "locality": "Hollywood",
      "region": "CA",
      "postalCode": "91608",
      "country": "USA",
      "formatted": "100 Universal City Plaza Hollywood, CA 91608 USA",
      "primary": true
    }
  ],
  "phoneNumbers": [
    {
      "value": "555-555-5555",
      "type": "work"
    }
  ],
  "roles": [
    {
        "value": "Researcher",
        "type": "work",
        "primary": true
    }
  ],
  "userType": "Employee",
  "title": "Tour Guide",
  "preferredLanguage": "en-US",
  "locale": "en-US",
  "timezone": "America/Los_Angeles",
  "active": true,
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "701984",
    "costCenter": "4130",
    "organization": "Universal Studios",
    "division": "Theme Park",
    "department": "Tour Operations",
    "manager": {
      "value": "9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734",
      "$ref": "../Users/9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734"
    }
  }
}"""

PATCH_USER = """{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "replace",
            "path": "active",
            "value": "false"
        }
    ]
}"""

CREATE_GROUP = """{
    "externalId": "701984",
    "displayName": "Group Bar",
    "members": [
        {
            "value": "9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074",
            "$ref": "../Users/9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074",
            "type": "User"
        }
    ]
}"""


def create_user(scim: ScimClient) -> dict[str, object]:
    manager = scim.create_user("manager@example.com")
    response = send(
        scim, "POST", "/Users", CREATE_USER, {SAMPLE_MANAGER: manager["id"]}, content_type=JSON
    )
    assert response.status_code == 201, response.get_json()
    body: dict[str, object] = response.get_json()
    return body


def test_create_user_without_schemas(scim: ScimClient) -> None:
    user = create_user(scim)
    assert user["schemas"] == [USER_SCHEMA, ENTERPRISE]
    after = stored(scim, "/Users", str(user["id"]))
    assert after == user
    assert after["name"]["honorificSuffix"] == "III"
    assert after["addresses"][0]["postalCode"] == "91608"
    assert after["roles"] == [{"value": "Researcher", "type": "work", "primary": True}]
    assert after[ENTERPRISE]["department"] == "Tour Operations"
    assert after[ENTERPRISE]["manager"]["value"] != SAMPLE_MANAGER
    [hit] = found(scim, "/Users", 'userName eq "bjensen"')
    assert hit["id"] == user["id"]


def test_patch_active_as_the_string_false(scim: ScimClient) -> None:
    user = create_user(scim)
    response = send(scim, "PATCH", f"/Users/{user['id']}", PATCH_USER, content_type=JSON)
    assert response.status_code == 200
    assert response.get_json()["active"] is False
    assert stored(scim, "/Users", str(user["id"]))["active"] is False
    assert [u["userName"] for u in found(scim, "/Users", "active eq false")] == ["bjensen"]


def test_create_group_without_schemas_with_a_relative_ref(scim: ScimClient) -> None:
    user = create_user(scim)
    response = send(
        scim, "POST", "/Groups", CREATE_GROUP, {SAMPLE_USER: str(user["id"])}, content_type=JSON
    )
    assert response.status_code == 201, response.get_json()
    group = response.get_json()
    assert group["schemas"] == [GROUP_SCHEMA]
    assert (group["displayName"], group["externalId"]) == ("Group Bar", "701984")
    after = stored(scim, "/Groups", group["id"])
    assert [(m["value"], m["type"]) for m in after["members"]] == [(user["id"], "User")]
    [hit] = found(scim, "/Groups", 'displayName eq "Group Bar"')
    assert hit["id"] == group["id"]


def test_group_rename_member_changes_and_delete(scim: ScimClient) -> None:
    user = create_user(scim)
    group = send(
        scim, "POST", "/Groups", CREATE_GROUP, {SAMPLE_USER: str(user["id"])}, content_type=JSON
    ).get_json()
    path = f"/Groups/{group['id']}"
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "path": "displayName", "value": "Group Foo"},
            {"op": "remove", "path": f'members[value eq "{user["id"]}"]'},
        ],
    }
    assert scim.patch(path, patch).status_code == 204
    after = stored(scim, "/Groups", group["id"])
    assert after["displayName"] == "Group Foo" and "members" not in after
    assert scim.delete(path).status_code == 204
    assert_scim_error(scim.get(path), 404)


def test_delete_user_then_get_is_404(scim: ScimClient) -> None:
    user = create_user(scim)
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert_scim_error(scim.get(f"/Users/{user['id']}"), 404)
    assert_scim_error(scim.delete(f"/Users/{user['id']}"), 404)
