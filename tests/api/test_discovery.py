"""ServiceProviderConfig, ResourceTypes and Schemas come from the schema files."""

from __future__ import annotations

import json

from scimserver.schema import default_schema_dir
from tests.conftest import ScimClient, assert_scim_error

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


def test_service_provider_config_is_truthful(scim: ScimClient) -> None:
    body = scim.get("/ServiceProviderConfig").get_json()
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert body["patch"]["supported"] is True
    assert body["filter"]["supported"] is True
    assert body["filter"]["maxResults"] == 1000
    assert body["sort"]["supported"] is True
    assert body["etag"]["supported"] is True
    assert body["bulk"] == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1048576}
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_resource_types(scim: ScimClient) -> None:
    body = scim.get("/ResourceTypes").get_json()
    assert body["totalResults"] == 2
    by_id = {r["id"]: r for r in body["Resources"]}
    assert by_id["User"]["endpoint"] == "/Users"
    assert by_id["User"]["schema"] == USER
    assert by_id["User"]["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert by_id["Group"]["meta"]["location"] == "https://scim.test/scim/v2/ResourceTypes/Group"
    assert scim.get("/ResourceTypes/User").get_json()["id"] == "User"
    assert_scim_error(scim.get("/ResourceTypes/Nope"), 404)


def test_schemas_match_the_schema_files(scim: ScimClient) -> None:
    body = scim.get("/Schemas").get_json()
    assert {s["id"] for s in body["Resources"]} == {USER, GROUP, ENTERPRISE, CONFIG}
    served = scim.get(f"/Schemas/{USER}").get_json()
    source = json.loads((default_schema_dir() / "core" / "User.json").read_text())
    assert [a["name"] for a in served["attributes"]] == [a["name"] for a in source["attributes"]]
    user_name = next(a for a in served["attributes"] if a["name"] == "userName")
    assert (user_name["uniqueness"], user_name["required"], user_name["caseExact"]) == (
        "server",
        True,
        False,
    )
    password = next(a for a in served["attributes"] if a["name"] == "password")
    assert (password["returned"], password["mutability"]) == ("never", "writeOnly")
