"""Microsoft Entra ID's provisioning service, replayed from its published requests.

Sources:
- REQUESTS: https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
  ("SCIM protocol requests and responses": the user and group operations).
- FLAG: https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility
  ("Flags to alter the SCIM behavior": each request without and with aadOptscim062020).
- ADD_ON_EMPTY_FILTER: https://learn.microsoft.com/en-us/answers/questions/1684621/entra-id-patch-sending-add-instead-of-replace
  (Entra sends ``Add`` on ``emails[type eq "work"].value`` to change a work email).

The sample ids in the documented bodies are swapped for ours; everything else is verbatim.
"""

from __future__ import annotations

import pytest

from tests.conftest import ScimClient, assert_scim_error
from tests.idp.replay import (
    ENTERPRISE,
    LIST_RESPONSE,
    found,
    random_guid,
    send,
    stored,
)

# REQUESTS, "Create User".
CREATE_USER = """{
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
    "active": true,
    "emails": [{
        "primary": true,
        "type": "work",
        "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
    }],
    "meta": {
        "resourceType": "User"
    },
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName"
    },
    "roles": []
}"""
USER_NAME = "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
WORK_EMAIL = "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"

# REQUESTS, "Update User [Multi-valued properties]".
UPDATE_MULTI_VALUED = """{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [
            {
            "op": "Replace",
            "path": "emails[type eq \\"work\\"].value",
            "value": "updatedEmail@microsoft.com"
            },
            {
            "op": "Replace",
            "path": "name.familyName",
            "value": "updatedFamilyName"
            }
    ]
}"""

# REQUESTS, "Update User [Single-valued properties]".
UPDATE_SINGLE_VALUED = """{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "Replace",
        "path": "userName",
        "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    }]
}"""

# FLAG, "Requests made to disable users", without and with the flag.
DISABLE_DEFAULT = """{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "Replace",
            "path": "active",
            "value": "False"
        }
    ]
  }"""
DISABLE_FLAG = """{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "replace",
            "path": "active",
            "value": false
        }
    ]
  }"""

# FLAG, "Requests made to add a single-value string attribute".
ADD_NICKNAME_DEFAULT = """{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
      {
        "op": "Add",
        "path": "nickName",
        "value": "Babs"
      }
    ]
  }"""
ADD_NICKNAME_FLAG = """{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [
      {
        "op": "add",
        "path": "nickName",
        "value": "Babs"
      }
    ]
  }"""

# FLAG, "Requests to replace multiple attributes", without and with the flag.
REPLACE_MANY_DEFAULT = """{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "Replace",
            "path": "displayName",
            "value": "Pvlo"
        },
        {
            "op": "Replace",
            "path": "emails[type eq \\"work\\"].value",
            "value": "TestBcwqnm@test.microsoft.com"
        },
        {
            "op": "Replace",
            "path": "name.givenName",
            "value": "Gtfd"
        },
        {
            "op": "Replace",
            "path": "name.familyName",
            "value": "Pkqf"
        },
        {
            "op": "Replace",
            "path": "externalId",
            "value": "Eqpj"
        },
        {
            "op": "Replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "value": "Eqpj"
        }
    ]
  }"""
REPLACE_MANY_FLAG = """{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "replace",
            "path": "emails[type eq \\"work\\"].value",
            "value": "TestMhvaes@test.microsoft.com"
        },
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
            }
        }
    ]
  }"""

# REQUESTS, "Create Group": note the Microsoft-only schema URN Entra lists.
CREATE_GROUP = """{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
    "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    "displayName": "displayName",
    "meta": {
        "resourceType": "Group"
    }
}"""

# REQUESTS, "Update Group [Non-member attributes]".
RENAME_GROUP = """{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "Replace",
        "path": "displayName",
        "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    }]
}"""

# REQUESTS, "Update Group [Add Members]" and "[Remove Members]".
ADD_MEMBER = """{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "Add",
        "path": "members",
        "value": [{
            "$ref": null,
            "value": "f648f8d5ea4e4cd38e9c"
        }]
    }]
}"""
REMOVE_MEMBER_DEFAULT = """{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "Remove",
        "path": "members",
        "value": [{
            "$ref": null,
            "value": "f648f8d5ea4e4cd38e9c"
        }]
    }]
}"""

# FLAG, "Requests made to remove a group member", with the flag.
REMOVE_MEMBER_FLAG = """{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "remove",
            "path": "members[value eq \\"7f4bc1a3-285e-48ae-8202-5accb43efb0e\\"]"
        }
    ]
  }"""

# ADD_ON_EMPTY_FILTER: the body the Q&A thread shows Entra sending.
ADD_WORK_EMAIL = """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
"Operations":[{"op":"Replace","path":"title","value":"tester"},
{"op":"Add","path":"emails[type eq \\"work\\"].value","value":"joe@joe.com"}]}"""


def create_user(scim: ScimClient) -> dict[str, object]:
    response = send(scim, "POST", "/Users", CREATE_USER)
    assert response.status_code == 201, response.get_json()
    body: dict[str, object] = response.get_json()
    return body


def create_group(scim: ScimClient) -> dict[str, object]:
    response = send(scim, "POST", "/Groups", CREATE_GROUP)
    assert response.status_code == 201, response.get_json()
    body: dict[str, object] = response.get_json()
    return body


def test_connection_test_lookup_of_a_random_user_is_an_empty_list(scim: ScimClient) -> None:
    """Test Connection fetches a random user: 200 and an empty ListResponse, not 404."""
    response = scim.get("/Users", query_string={"filter": f'userName eq "{random_guid()}"'})
    assert response.status_code == 200
    body = response.get_json()
    assert body["schemas"] == [LIST_RESPONSE]
    assert (body["totalResults"], body.get("Resources", [])) == (0, [])
    groups = scim.get(
        "/Groups",
        query_string={
            "excludedAttributes": "members",
            "filter": f'displayName eq "{random_guid()}"',
        },
    )
    assert groups.status_code == 200
    assert groups.get_json()["totalResults"] == 0


def test_user_query_before_create_then_create_get_and_query(scim: ScimClient) -> None:
    assert found(scim, "/Users", f'userName eq "{USER_NAME}"') == []
    user = create_user(scim)
    assert user["userName"] == USER_NAME
    assert user["externalId"] == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    assert user["active"] is True
    assert user["emails"] == [{"primary": True, "type": "work", "value": WORK_EMAIL}]
    assert user["name"] == {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    }
    assert "roles" not in user  # an empty list is unassigned (RFC 7643 §2.5)
    assert stored(scim, "/Users", str(user["id"])) == user
    [hit] = found(scim, "/Users", f'userName eq "{USER_NAME}"')
    assert hit["id"] == user["id"]
    [by_mail] = found(scim, "/Users", f'emails[type eq "work"].value eq "{WORK_EMAIL}"')
    assert by_mail["id"] == user["id"]


def test_get_unknown_user_is_a_404_error_body(scim: ScimClient) -> None:
    assert_scim_error(scim.get("/Users/5171a35d82074e068ce2"), 404)


def test_update_multi_valued_properties(scim: ScimClient) -> None:
    user = create_user(scim)
    response = send(scim, "PATCH", f"/Users/{user['id']}", UPDATE_MULTI_VALUED)
    assert response.status_code == 200, response.get_json()
    after = stored(scim, "/Users", str(user["id"]))
    assert after["emails"] == [
        {"primary": True, "type": "work", "value": "updatedEmail@microsoft.com"}
    ]
    assert after["name"]["familyName"] == "updatedFamilyName"
    assert after["name"]["givenName"] == "givenName"
    assert response.get_json() == after


def test_update_single_valued_user_name(scim: ScimClient) -> None:
    user = create_user(scim)
    response = send(scim, "PATCH", f"/Users/{user['id']}", UPDATE_SINGLE_VALUED)
    assert response.status_code == 200
    assert response.get_json()["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    assert found(scim, "/Users", f'userName eq "{USER_NAME}"') == []


@pytest.mark.parametrize("body", [DISABLE_DEFAULT, DISABLE_FLAG], ids=["default", "flag"])
def test_disable_then_reenable(scim: ScimClient, body: str) -> None:
    """Soft delete: the user stays readable and filterable while inactive."""
    user = create_user(scim)
    response = send(scim, "PATCH", f"/Users/{user['id']}", body)
    assert response.status_code == 200
    assert response.get_json()["active"] is False
    [hit] = found(scim, "/Users", f'userName eq "{USER_NAME}"')
    assert hit["active"] is False
    enable = body.replace('"False"', '"True"').replace("false", "true")
    assert send(scim, "PATCH", f"/Users/{user['id']}", enable).status_code == 200
    assert stored(scim, "/Users", str(user["id"]))["active"] is True


@pytest.mark.parametrize("body", [ADD_NICKNAME_DEFAULT, ADD_NICKNAME_FLAG], ids=["default", "flag"])
def test_add_single_value_string_attribute(scim: ScimClient, body: str) -> None:
    user = create_user(scim)
    assert send(scim, "PATCH", f"/Users/{user['id']}", body).status_code == 200
    assert stored(scim, "/Users", str(user["id"]))["nickName"] == "Babs"


def test_replace_multiple_attributes_default(scim: ScimClient) -> None:
    user = create_user(scim)
    assert send(scim, "PATCH", f"/Users/{user['id']}", REPLACE_MANY_DEFAULT).status_code == 200
    after = stored(scim, "/Users", str(user["id"]))
    assert after["displayName"] == "Pvlo"
    assert after["emails"][0]["value"] == "TestBcwqnm@test.microsoft.com"
    assert (after["name"]["givenName"], after["name"]["familyName"]) == ("Gtfd", "Pkqf")
    assert after["externalId"] == "Eqpj"
    assert after[ENTERPRISE] == {"employeeNumber": "Eqpj"}
    assert ENTERPRISE in after["schemas"]


def test_replace_multiple_attributes_flag_uses_dotted_and_urn_keys(scim: ScimClient) -> None:
    user = create_user(scim)
    assert send(scim, "PATCH", f"/Users/{user['id']}", REPLACE_MANY_FLAG).status_code == 200
    after = stored(scim, "/Users", str(user["id"]))
    assert after["displayName"] == "Bjfe"
    assert after["emails"] == [
        {"primary": True, "type": "work", "value": "TestMhvaes@test.microsoft.com"}
    ]
    assert after["name"] == {
        "formatted": "givenName familyName",
        "givenName": "Kkom",
        "familyName": "Unua",
    }
    assert after[ENTERPRISE] == {"employeeNumber": "Aklq"}


def test_add_through_a_filter_that_matches_nothing_creates_the_element(
    scim: ScimClient,
) -> None:
    user = scim.create_user("joe@testaccount.onmicrosoft.com", title="scim tester")
    response = send(scim, "PATCH", f"/Users/{user['id']}", ADD_WORK_EMAIL)
    assert response.status_code == 200, response.get_json()
    after = stored(scim, "/Users", user["id"])
    assert after["title"] == "tester"
    assert after["emails"] == [{"type": "work", "value": "joe@joe.com"}]


def test_attribute_mapping_paths_create_their_elements(scim: ScimClient) -> None:
    """Targets from Entra's default attribute-mapping table, sub-attribute case as listed."""
    user = scim.create_user("mapped@example.com")
    operations = [
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
        {"op": "Add", "path": 'addresses[type eq "work"].postalCode', "value": "98052"},
        {"op": "Add", "path": 'emails[type eq "other"].Value', "value": "alias@example.com"},
        {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Sales"},
    ]
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations}
    assert scim.patch(f"/Users/{user['id']}", body).status_code == 200
    after = stored(scim, "/Users", user["id"])
    assert after["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]
    assert after["addresses"] == [{"type": "work", "postalCode": "98052"}]
    assert after["emails"] == [{"type": "other", "value": "alias@example.com"}]
    assert after[ENTERPRISE] == {"department": "Sales"}


def test_manager_as_a_bare_id_string(scim: ScimClient) -> None:
    manager = scim.create_user("boss@example.com")
    user = scim.create_user("report@example.com")
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager["id"]}],
    }
    assert scim.patch(f"/Users/{user['id']}", body).status_code == 200
    assert stored(scim, "/Users", user["id"])[ENTERPRISE]["manager"]["value"] == manager["id"]
    [hit] = found(scim, "/Users", f'{ENTERPRISE}:manager.value eq "{manager["id"]}"')
    assert hit["id"] == user["id"]


def test_patch_without_schemas_and_with_lowercase_operations_key(scim: ScimClient) -> None:
    """Entra-style bodies seen by peers (ssoready/ssoready#182): no schemas, "operations"."""
    user = create_user(scim)
    group = create_group(scim)
    send(scim, "PATCH", f"/Groups/{group['id']}", ADD_MEMBER, {"f648f8d5ea4e4cd38e9c": user["id"]})
    body = '{"operations": [{"op":"remove","path":"members","value":[{"value":"USER"}]}]}'
    response = send(scim, "PATCH", f"/Groups/{group['id']}", body, {"USER": str(user["id"])})
    assert response.status_code == 204
    assert "members" not in stored(scim, "/Groups", str(group["id"]))


def test_group_lifecycle_default_dialect(scim: ScimClient) -> None:
    """Create, look up, rename, add and remove a member, delete: Entra's group sequence."""
    alice, bob = create_user(scim), scim.create_user("bob@example.com")
    assert found(scim, "/Groups", 'displayName eq "displayName"') == []
    group = create_group(scim)
    assert group["displayName"] == "displayName"
    assert group["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    assert group["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Group"]
    path = f"/Groups/{group['id']}"

    fetched = scim.get(f"{path}?excludedAttributes=members")
    assert fetched.status_code == 200
    listed = scim.get(
        "/Groups",
        query_string={"excludedAttributes": "members", "filter": 'displayName eq "displayName"'},
    ).get_json()
    assert [g["id"] for g in listed["Resources"]] == [group["id"]]

    renamed = send(scim, "PATCH", path, RENAME_GROUP)
    assert (renamed.status_code, renamed.get_data()) == (204, b"")
    assert stored(scim, "/Groups", str(group["id"]))["displayName"] == (
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    )

    for member in (alice, bob):
        added = send(scim, "PATCH", path, ADD_MEMBER, {"f648f8d5ea4e4cd38e9c": str(member["id"])})
        assert added.status_code == 204
    removed = send(
        scim, "PATCH", path, REMOVE_MEMBER_DEFAULT, {"f648f8d5ea4e4cd38e9c": alice["id"]}
    )
    assert removed.status_code == 204
    members = stored(scim, "/Groups", str(group["id"]))["members"]
    assert [m["value"] for m in members] == [bob["id"]]  # only the listed member went

    assert scim.delete(path).status_code == 204
    assert_scim_error(scim.get(path), 404)
    assert "groups" not in stored(scim, "/Users", bob["id"])


def test_remove_member_with_the_flag_removes_only_that_member(scim: ScimClient) -> None:
    alice, bob = scim.create_user("alice@example.com"), scim.create_user("bob@example.com")
    group = scim.create_group("Flagged", [alice["id"], bob["id"]])
    response = send(
        scim,
        "PATCH",
        f"/Groups/{group['id']}",
        REMOVE_MEMBER_FLAG,
        {"7f4bc1a3-285e-48ae-8202-5accb43efb0e": alice["id"]},
    )
    assert response.status_code == 204
    members = stored(scim, "/Groups", group["id"])["members"]
    assert [m["value"] for m in members] == [bob["id"]]


def test_delete_user_then_it_is_gone(scim: ScimClient) -> None:
    user = create_user(scim)
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert_scim_error(scim.get(f"/Users/{user['id']}"), 404)
    assert found(scim, "/Users", f'userName eq "{USER_NAME}"') == []
