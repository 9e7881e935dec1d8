"""Google Workspace automated user provisioning (auto-provisioning to a custom SAML app).

Sources:
- https://support.google.com/a/answer/7365072 (Google's auto-provisioning: create,
  update, and on deprovisioning suspend or delete the user).
- PROBE: https://authn-sh-docs.pages.dev/guides/scim/google-workspace/ (a service
  provider's walk-through: saving the configuration probes ``GET /Users?count=1``).
Google does not publish its request bodies; these tests cover the documented lifecycle.
"""

from __future__ import annotations

from tests.conftest import ScimClient, assert_scim_error
from tests.idp.replay import LIST_RESPONSE, found, stored

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_configuration_probe_on_an_empty_tenant(scim: ScimClient) -> None:
    response = scim.get("/Users?count=1")
    assert response.status_code == 200
    body = response.get_json()
    assert body["schemas"] == [LIST_RESPONSE]
    assert body["totalResults"] == 0


def test_probe_returns_one_of_many(scim: ScimClient) -> None:
    for name in ("g1@example.com", "g2@example.com"):
        scim.create_user(name)
    body = scim.get("/Users?count=1").get_json()
    assert (body["totalResults"], body["itemsPerPage"], len(body["Resources"])) == (2, 1, 1)


def test_create_suspend_and_delete(scim: ScimClient) -> None:
    user = scim.create_user(
        "gw@example.com",
        name={"givenName": "G", "familyName": "W"},
        emails=[{"value": "gw@example.com", "primary": True}],
        active=True,
    )
    suspend = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert scim.patch(f"/Users/{user['id']}", suspend).status_code == 200
    assert stored(scim, "/Users", user["id"])["active"] is False
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert_scim_error(scim.get(f"/Users/{user['id']}"), 404)
    assert found(scim, "/Users", 'userName eq "gw@example.com"') == []
