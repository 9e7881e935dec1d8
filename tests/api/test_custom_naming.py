"""A drop-in type is located and named by its own resource type, not by its type id.

``Team`` (tests/fixtures/team_schemas) is served here at ``/Squads``, and ``Contractor``,
named by a ``userName``, at ``/People``: neither endpoint is the type id with an ``s``.
A SET's ``sub_id.uri``, its full ``data`` (``meta.location``, a member's ``$ref``) and
the change feed's label must follow the resource type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from scimserver.schema import default_schema_dir
from tests.api.observing import app_with
from tests.api.test_sets import drain, start
from tests.conftest import FIXTURES, ScimClient, make_client

TEAM = "urn:example:scim:schemas:2.0:Team"
CONTRACTOR = "urn:example:scim:schemas:2.0:Contractor"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
BASE = "https://scim.test/scim/v2"
CREATE_FULL = "urn:ietf:params:scim:event:prov:create:full"


def _attribute(name: str, uniqueness: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "string",
        "multiValued": False,
        "required": name == "userName",
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": uniqueness,
    }


def _resource_type(type_id: str, endpoint: str, schema: str) -> dict[str, Any]:
    return {
        "schemas": [RESOURCE_TYPE],
        "id": type_id,
        "name": type_id,
        "endpoint": endpoint,
        "description": type_id,
        "schema": schema,
    }


def _schemas(folder: Path) -> Path:
    """Team at /Squads, and a Contractor type (userName, displayName) at /People."""
    contractor = {
        "id": CONTRACTOR,
        "name": "Contractor",
        "attributes": [_attribute("userName", "server"), _attribute("displayName", "none")],
    }
    files = {
        "core/Contractor.json": contractor,
        "resource_types/Team.json": _resource_type("Team", "/Squads", TEAM),
        "resource_types/Contractor.json": _resource_type("Contractor", "/People", CONTRACTOR),
    }
    for name, body in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(body), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def squads(
    backend: str, database_url_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    own = _schemas(tmp_path_factory.mktemp("schemas"))
    dirs = (default_schema_dir(), FIXTURES / "team_schemas" / "core", own)
    url = database_url_factory(backend)
    with app_with(url, schema_dirs=dirs, base_url=BASE, poll_full_events=True) as app:
        yield app


@pytest.fixture
def scim(squads: Flask) -> ScimClient:
    return make_client(squads)


def test_a_teams_set_names_it_and_its_members_by_their_endpoints(scim: ScimClient) -> None:
    start(scim)
    member = scim.create_user()["id"]
    body = {"schemas": [TEAM], "displayName": "blue", "members": [{"value": member}]}
    created = scim.post("/Squads", body)
    assert created.status_code == 201, created.get_json()
    team = created.get_json()["id"]
    (claims,) = [c for c in drain(scim) if c["sub_id"]["id"] == team]
    assert claims["sub_id"]["uri"] == f"/Squads/{team}"
    data = claims["events"][CREATE_FULL]["data"]
    assert data["meta"]["location"] == f"{BASE}/Squads/{team}"
    assert data["members"] == [{"value": member, "$ref": f"/Users/{member}"}]


def test_the_feed_labels_each_type_by_its_naming_attribute(scim: ScimClient) -> None:
    person = scim.post("/People", {"schemas": [CONTRACTOR], "userName": "ada"}).get_json()["id"]
    team = scim.post("/Squads", {"schemas": [TEAM], "displayName": "red"}).get_json()["id"]
    auth = {"Authorization": f"Bearer {scim.token}"}  # its tenant's feed: these two only
    feed = scim.client.get("/api/v1/changes", headers=auth)
    shown = [change["resource"] for change in feed.get_json()["changes"]]
    assert shown == [
        {"type": "Contractor", "id": person, "userName": "ada"},
        {"type": "Team", "id": team, "displayName": "red"},
    ]
