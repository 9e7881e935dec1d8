"""Ping Identity's outbound SCIM provisioners (PingOne and the PingFederate SCIM connector).

Ping publishes configuration, not request bodies:
- FILTER: https://docs.pingidentity.com/pingone/integrations/p1_scim_filter_expressions.html
  (the user lookup is a configurable filter; its examples are ``username Eq "%s"`` and
  ``email Co "%s"``: attribute names and operators in any case).
- LIFECYCLE: https://docs.pingidentity.com/integrations/scim/pf_scim_connector_user_and_group_management.html
  (users are matched on ``userName``, created, updated, disabled or deleted; groups are
  created, renamed, have members added and removed, and are deleted).
The bodies below are RFC 7644 requests carrying what those pages describe.
"""

from __future__ import annotations

from tests.conftest import ScimClient, assert_scim_error
from tests.idp.replay import found, stored

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_lookup_filter_in_pings_spelling(scim: ScimClient) -> None:
    assert found(scim, "/Users", 'username Eq "jsmith"') == []
    user = scim.create_user("jsmith")
    [hit] = found(scim, "/Users", 'username Eq "jsmith"')
    assert hit["id"] == user["id"]
    [hit] = found(scim, "/Users", 'USERNAME EQ "JSMITH"')
    assert hit["id"] == user["id"]


def test_lookup_on_an_attribute_scim_does_not_have_is_a_clean_400(scim: ScimClient) -> None:
    """Ping's ``email Co "%s"`` example names no User attribute: invalidFilter, not a 500."""
    response = scim.get("/Users", query_string={"filter": 'email Co "jsmith"'})
    assert_scim_error(response, 400, "invalidFilter")
    assert found(scim, "/Users", 'emails Co "jsmith"') == []


def test_user_create_update_disable_delete(scim: ScimClient) -> None:
    user = scim.create_user("jsmith", name={"givenName": "Janet", "familyName": "Smith"})
    update = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "name.familyName", "value": "Jones"}],
    }
    assert scim.patch(f"/Users/{user['id']}", update).status_code == 200
    disable = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert scim.patch(f"/Users/{user['id']}", disable).status_code == 200
    after = stored(scim, "/Users", user["id"])
    assert (after["name"]["familyName"], after["active"]) == ("Jones", False)
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert found(scim, "/Users", 'username Eq "jsmith"') == []


def test_group_create_rename_members_delete(scim: ScimClient) -> None:
    a, b = scim.create_user("a@example.com"), scim.create_user("b@example.com")
    group = scim.create_group("Ping Group", [a["id"]])
    path = f"/Groups/{group['id']}"
    changes = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "replace", "path": "displayName", "value": "Ping Group 2"},
            {"op": "add", "path": "members", "value": [{"value": b["id"]}]},
            {"op": "remove", "path": f'members[value eq "{a["id"]}"]'},
        ],
    }
    assert scim.patch(path, changes).status_code == 204
    after = stored(scim, "/Groups", group["id"])
    assert after["displayName"] == "Ping Group 2"
    assert [m["value"] for m in after["members"]] == [b["id"]]
    assert scim.delete(path).status_code == 204
    assert_scim_error(scim.get(path), 404)
