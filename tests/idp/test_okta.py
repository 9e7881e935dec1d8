"""Okta's SCIM 2.0 client, replayed from Okta's protocol reference.

Sources:
- REFERENCE: https://developer.okta.com/docs/reference/scim/scim-20/ (every request body
  below is copied from it; its sample ids are swapped for ours).
- TEST_CONNECTION: https://docs.delinea.com/online-help/delinea-platform/scim/okta-scim-provisioning/okta-scim-endpoint-reference.htm
  (Okta's connection test is ``GET /Users?startIndex=1&count=2``).
"""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from tests.conftest import ScimClient, assert_scim_error
from tests.idp.replay import LIST_RESPONSE, USER_SCHEMA, send, stored

USER_ID = "23a35c27-23d3-4c03-b4c5-6443c09e7173"
OTHER_USER_ID = "89bb1940-b905-4575-9e7f-6f887cfb368e"
GROUP_ID = "abf4dd94-a4c0-4f67-89c9-76b03340cb9b"

# REFERENCE, "Create the User".
CREATE_USER = """{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "test.user@okta.local",
    "name": {
        "givenName": "Test",
        "familyName": "User"
    },
    "emails": [{
        "primary": true,
        "value": "test.user@okta.local",
        "type": "work"
    }],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": true
}"""

# REFERENCE, "Update the User" (PUT): the full object, read-only id, groups and meta included.
PUT_USER = """{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
    "userName": "test.user@okta.local",
    "name": {
        "givenName": "Another",
        "middleName": "Excited",
        "familyName": "User"
    },
    "emails": [{
        "primary": true,
        "value": "test.user@okta.local",
        "type": "work",
        "display": "test.user@okta.local"
    }],
    "active": true,
    "groups": [],
    "meta": {
        "resourceType": "User"
    }
}"""

# REFERENCE, "Update a specific User (PATCH)": deactivation.
DEACTIVATE = """{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "replace",
        "value": {
            "active": false
        }
    }]
}"""

# REFERENCE, "Create Groups".
CREATE_GROUP = """{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "displayName": "Test SCIMv2",
    "members": []
}"""

# REFERENCE, "Update a specific Group name": the group's own read-only id rides along.
RENAME_GROUP = """{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "replace",
        "value": {
            "id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
            "displayName": "Test SCIMv2"
        }
    }]
}"""

# REFERENCE, "Update specific Group membership": one remove and one add in one request.
REMOVE_ONE_ADD_ANOTHER = """{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
          "op": "remove",
          "path": "members[value eq \\"89bb1940-b905-4575-9e7f-6f887cfb368e\\"]"
        },
        {
          "op": "add",
          "path": "members",
          "value": [{
              "value": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
              "display": "test.user@okta.local"
        }]
    }]
}"""

# REFERENCE, the full push of the membership with replace.
REPLACE_MEMBERS = """{
  "schemas": [
    "urn:ietf:params:scim:api:messages:2.0:PatchOp"
  ],
  "Operations": [
    {
      "op": "replace",
      "path": "members",
      "value": [
        {
          "value": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
          "display": "test.user@okta.local"
        },
        {
          "value": "89bb1940-b905-4575-9e7f-6f887cfb368e",
          "display": "test.user@okta.local"
        }
      ]
    }
  ]
}"""


def create_user(scim: ScimClient, body: str = CREATE_USER) -> dict[str, object]:
    response = send(scim, "POST", "/Users", body)
    assert response.status_code == 201, response.get_json()
    created: dict[str, object] = response.get_json()
    return created


def okta_lookup(scim: ScimClient, user_name: str) -> dict[str, object]:
    """Okta's exact lookup: filter, startIndex=1 and count=100 in the query string."""
    quoted = user_name.replace("@", "%40")
    response = scim.get(f"/Users?filter=userName%20eq%20%22{quoted}%22&startIndex=1&count=100")
    assert response.status_code == 200
    body: dict[str, object] = response.get_json()
    assert body["schemas"] == [LIST_RESPONSE]
    assert isinstance(body["totalResults"], int) and isinstance(body["startIndex"], int)
    return body


def test_connection_test_lists_users(scim: ScimClient) -> None:
    create_user(scim)
    response = scim.get("/Users?startIndex=1&count=2")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (1, 1, 1)
    assert body["Resources"][0]["userName"] == "test.user@okta.local"


def test_lookup_before_create_is_empty_then_create_matches(scim: ScimClient) -> None:
    empty = okta_lookup(scim, "test.user@okta.local")
    assert (empty["totalResults"], empty.get("Resources", [])) == (0, [])
    user = create_user(scim)
    assert user["schemas"] == [USER_SCHEMA]
    assert (user["userName"], user["displayName"], user["locale"]) == (
        "test.user@okta.local",
        "Test User",
        "en-US",
    )
    assert user["active"] is True
    assert "password" not in user
    assert "groups" not in user  # Okta's "groups": [] is read-only input, ignored
    body = okta_lookup(scim, "test.user@okta.local")
    assert [r["id"] for r in body["Resources"]] == [user["id"]]  # type: ignore[index]


def test_user_name_lookup_is_case_insensitive(scim: ScimClient) -> None:
    user = create_user(scim)
    body = okta_lookup(scim, "Test.User@OKTA.local")
    assert [r["id"] for r in body["Resources"]] == [user["id"]]  # type: ignore[index]


def test_creating_an_existing_user_is_409(scim: ScimClient) -> None:
    create_user(scim)
    again = send(scim, "POST", "/Users", CREATE_USER.replace("test.user@", "TEST.USER@"))
    assert_scim_error(again, 409, "uniqueness")


def test_put_full_user_keeps_what_okta_does_not_send(scim: ScimClient) -> None:
    """Okta's PUT omits locale, displayName and externalId; a PUT replaces, so they go."""
    user = create_user(scim)
    response = send(scim, "PUT", f"/Users/{user['id']}", PUT_USER, {USER_ID: str(user["id"])})
    assert response.status_code == 200, response.get_json()
    after = stored(scim, "/Users", str(user["id"]))
    assert after == response.get_json()
    assert after["name"] == {"givenName": "Another", "middleName": "Excited", "familyName": "User"}
    assert after["emails"] == [
        {
            "primary": True,
            "value": "test.user@okta.local",
            "type": "work",
            "display": "test.user@okta.local",
        }
    ]
    assert after["active"] is True
    assert after["meta"]["version"] == 'W/"2"'


def test_put_without_active_does_not_deactivate(scim: ScimClient) -> None:
    user = create_user(scim)
    without_active = PUT_USER.replace('"active": true,', "")
    assert '"active"' not in without_active
    response = send(scim, "PUT", f"/Users/{user['id']}", without_active, {USER_ID: str(user["id"])})
    assert response.status_code == 200
    assert stored(scim, "/Users", str(user["id"]))["active"] is True


def test_deactivate_and_reactivate_with_pathless_replace(scim: ScimClient) -> None:
    user = create_user(scim)
    response = send(scim, "PATCH", f"/Users/{user['id']}", DEACTIVATE)
    assert response.status_code == 200
    assert response.get_json()["active"] is False
    assert okta_lookup(scim, "test.user@okta.local")["Resources"][0]["active"] is False  # type: ignore[index]
    reactivate = DEACTIVATE.replace("false", "true")
    assert send(scim, "PATCH", f"/Users/{user['id']}", reactivate).status_code == 200
    assert stored(scim, "/Users", str(user["id"]))["active"] is True


def test_group_push_rename_and_membership(scim: ScimClient) -> None:
    test_user = create_user(scim)
    other = scim.create_user("other.user@okta.local")
    created = send(scim, "POST", "/Groups", CREATE_GROUP)
    assert created.status_code == 201
    group = created.get_json()
    assert group["displayName"] == "Test SCIMv2"
    path = f"/Groups/{group['id']}"
    ids = {USER_ID: str(test_user["id"]), OTHER_USER_ID: other["id"]}
    own_id = {GROUP_ID: group["id"]}

    renamed = send(scim, "PATCH", path, RENAME_GROUP.replace("Test SCIMv2", "Test SCIMv20"), own_id)
    assert renamed.status_code == 204
    assert stored(scim, "/Groups", group["id"])["displayName"] == "Test SCIMv20"

    assert (
        scim.patch(
            path,
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": other["id"]}]}],
            },
        ).status_code
        == 204
    )
    swapped = send(scim, "PATCH", path, REMOVE_ONE_ADD_ANOTHER, ids)
    assert swapped.status_code == 204
    members = stored(scim, "/Groups", group["id"])["members"]
    assert [(m["value"], m.get("display")) for m in members] == [
        (test_user["id"], "test.user@okta.local")
    ]
    assert [g["value"] for g in stored(scim, "/Users", other["id"]).get("groups", [])] == []

    assert send(scim, "PATCH", path, REPLACE_MEMBERS, ids).status_code == 204
    members = stored(scim, "/Groups", group["id"])["members"]
    assert {m["value"] for m in members} == {test_user["id"], other["id"]}

    loud = send(scim, "PATCH", f"{path}?attributes=displayName", RENAME_GROUP, own_id)
    assert loud.status_code == 200
    assert loud.get_json()["displayName"] == "Test SCIMv2"

    assert scim.delete(path).status_code == 204
    assert_scim_error(scim.get(path), 404)


def test_rename_cannot_change_the_group_id(scim: ScimClient) -> None:
    """The id Okta sends is ignored, even when it is not the group's own."""
    group = scim.create_group("Named")
    body = RENAME_GROUP.replace(GROUP_ID, "someone-else")
    assert send(scim, "PATCH", f"/Groups/{group['id']}", body).status_code == 204
    after = stored(scim, "/Groups", group["id"])
    assert (after["id"], after["displayName"]) == (group["id"], "Test SCIMv2")


def test_group_import_pages_with_count_100(scim: ScimClient) -> None:
    names = [f"group-{i:03d}" for i in range(3)]
    for name in names:
        scim.create_group(name)
    response = scim.get("/Groups?startIndex=1&count=100")
    body = response.get_json()
    assert (body["totalResults"], body["itemsPerPage"]) == (3, 3)
    assert [g["displayName"] for g in body["Resources"]] == names
    assert (
        scim.get("/Groups?startIndex=3&count=100").get_json()["Resources"][0]["displayName"]
        == names[2]
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_normalisations_are_logged_with_the_token_name(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """The service logs which dialect rules fired, naming the token the IdP uses."""
    from tests.conftest import ScimClient as Client

    _, secret = app.extensions["scimserver"].tokens.create("okta-prod", "okta-log-tenant")
    okta = Client(app.test_client(), secret, "okta-log-tenant")
    group = okta.create_group("Logged")
    caplog.set_level(logging.INFO, logger="scimserver")
    body = RENAME_GROUP.replace(GROUP_ID, group["id"])
    assert send(okta, "PATCH", f"/Groups/{group['id']}", body).status_code == 204
    [record] = [r for r in caplog.records if "normalis" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert "okta-prod" in record.getMessage()
    assert "ignored-read-only-key" in record.getMessage()
    assert (record.client, record.normalisations) == ("okta-prod", ("ignored-read-only-key",))  # type: ignore[attr-defined]
