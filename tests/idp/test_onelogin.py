"""OneLogin's SCIM provisioner, replayed from the user-schema templates OneLogin publishes.

Source: https://developers.onelogin.com/scim/define-user-schema ("OneLogin Core User
Schema" and "OneLogin Enterprise User Schema": the JSON template OneLogin fills in and
POSTs). The templates use SCIM 1.1 URNs, a single ``emails`` object and
``manager.managerId``; OneLogin sends them as ``application/json``. The ``{$...}``
placeholders are filled with sample values here.
"""

from __future__ import annotations

from tests.conftest import ScimClient, assert_scim_error
from tests.idp.replay import ENTERPRISE, USER_SCHEMA, found, send, stored

JSON = "application/json"

CORE_TEMPLATE = """{
    "schemas": [
        "urn:scim:schemas:core:1.0"
    ],
    "userName": "{$parameters.scimusername}",
    "name": {
        "givenName": "{$user.firstname}",
        "familyName": "{$user.lastname}",
        "formatted": "{$user.display_name}"
    }
}"""

ENTERPRISE_TEMPLATE = """{
    "schemas": [
        "urn:scim:schemas:core:1.0",
        "urn:scim:schemas:extension:enterprise:1.0"
    ],
    "userName": "{$parameters.scimusername}",
    "name": {
        "familyName": "{$user.lastname}",
        "givenName": "{$user.firstname}",
        "formatted": "{$user.display_name}"
    },
    "emails": {
        "value": "{$user.email}",
        "type": "work",
        "primary": true
    },
    "title": "{$parameters.title}",
    "urn:scim:schemas:extension:enterprise:1.0": {
        "department": "{$parameters.department}",
        "manager": {
            "managerId": "{$parameters.external_manager_id}",
            "displayName": "{$user.manager_firstname} {$user.manager_lastname}"
        }
    }
}"""

KATE = {
    "{$parameters.scimusername}": "kate@example.com",
    "{$user.firstname}": "Kate",
    "{$user.lastname}": "Libby",
    "{$user.display_name}": "Kate Libby",
}


def test_core_template_with_a_legacy_urn_creates_the_user(scim: ScimClient) -> None:
    assert found(scim, "/Users", 'userName eq "kate@example.com"') == []
    response = send(scim, "POST", "/Users", CORE_TEMPLATE, KATE, content_type=JSON)
    assert response.status_code == 201, response.get_json()
    user = response.get_json()
    assert user["schemas"] == [USER_SCHEMA]
    assert user["name"] == {"givenName": "Kate", "familyName": "Libby", "formatted": "Kate Libby"}
    [hit] = found(scim, "/Users", 'userName eq "kate@example.com"')
    assert hit == stored(scim, "/Users", user["id"])


def test_enterprise_template_keeps_department_and_manager(scim: ScimClient) -> None:
    values = {
        **KATE,
        "{$user.email}": "kate@example.com",
        "{$parameters.title}": "Engineer",
        "{$parameters.department}": "Security",
        "{$parameters.external_manager_id}": "00u-manager-1",
        "{$user.manager_firstname} {$user.manager_lastname}": "Eugene Belford",
    }
    response = send(scim, "POST", "/Users", ENTERPRISE_TEMPLATE, values, content_type=JSON)
    assert response.status_code == 201, response.get_json()
    user = stored(scim, "/Users", response.get_json()["id"])
    assert user["emails"] == [{"value": "kate@example.com", "type": "work", "primary": True}]
    assert user["title"] == "Engineer"
    assert user["schemas"] == [USER_SCHEMA, ENTERPRISE]
    # manager.displayName is readOnly (RFC 7643 §4.3), so the server drops what was sent.
    assert user[ENTERPRISE] == {"department": "Security", "manager": {"value": "00u-manager-1"}}
    [hit] = found(scim, "/Users", f'{ENTERPRISE}:department eq "Security"')
    assert hit["id"] == user["id"]


def test_update_by_put_with_the_template_and_string_boolean(scim: ScimClient) -> None:
    created = send(scim, "POST", "/Users", CORE_TEMPLATE, KATE, content_type=JSON).get_json()
    body = CORE_TEMPLATE.replace('"userName"', '"active": "false", "userName"')
    renamed = {**KATE, "{$user.lastname}": "Libby-Murphy"}
    response = send(scim, "PUT", f"/Users/{created['id']}", body, renamed, content_type=JSON)
    assert response.status_code == 200, response.get_json()
    after = stored(scim, "/Users", created["id"])
    assert (after["active"], after["name"]["familyName"]) == (False, "Libby-Murphy")


def test_unfilled_placeholders_that_break_a_type_are_a_clean_400(scim: ScimClient) -> None:
    """A template whose boolean was left as text gets invalidValue, never a 500."""
    body = CORE_TEMPLATE.replace('"userName"', '"active": "{$user.status}", "userName"')
    response = send(scim, "POST", "/Users", body, KATE, content_type=JSON)
    assert_scim_error(response, 400, "invalidValue")


def test_nulls_in_a_body_are_absent(scim: ScimClient) -> None:
    body = CORE_TEMPLATE.replace('"userName"', '"title": null, "emails": null, "userName"')
    response = send(scim, "POST", "/Users", body, KATE, content_type=JSON)
    assert response.status_code == 201
    user = stored(scim, "/Users", response.get_json()["id"])
    assert "title" not in user and "emails" not in user


def test_delete_user(scim: ScimClient) -> None:
    created = send(scim, "POST", "/Users", CORE_TEMPLATE, KATE, content_type=JSON).get_json()
    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    assert_scim_error(scim.get(f"/Users/{created['id']}"), 404)
