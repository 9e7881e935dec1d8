"""A drop-in resource type with ``members`` is a group in every write, whatever its name.

``Team`` (tests/fixtures/team_schemas) copies Group's attributes under another schema id,
type id and endpoint. POST, PUT, PATCH and Bulk must all keep its members in the
membership table — never in its document — and every reference to it or from it must
use its own endpoint: a member's ``$ref``, ``meta.location``, a user's ``groups``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from scimserver.schema import default_schema_dir
from tests.api.observing import app_with
from tests.conftest import FIXTURES, ScimClient, make_client

TEAM = "urn:example:scim:schemas:2.0:Team"
BASE = "https://scim.test/scim/v2"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@pytest.fixture(scope="module")
def teams(backend: str, database_url_factory: Any) -> Iterator[Flask]:
    dirs = (default_schema_dir(), FIXTURES / "team_schemas")
    with app_with(database_url_factory(backend), schema_dirs=dirs, base_url=BASE) as app:
        yield app


@pytest.fixture
def scim(teams: Flask) -> ScimClient:
    return make_client(teams)


def _team(members: list[str], name: str | None = None) -> dict[str, Any]:
    return {
        "schemas": [TEAM],
        "displayName": name or f"team-{uuid.uuid4().hex[:8]}",
        "members": [{"value": m} for m in members],
    }


def _members(scim: ScimClient, team_id: str) -> set[str]:
    team = scim.get(f"/Teams/{team_id}").get_json()
    for member in team.get("members", []):
        assert member["$ref"] == f"{BASE}/Users/{member['value']}"
        assert member["type"] == "User"
    assert team["meta"]["location"] == f"{BASE}/Teams/{team_id}"
    return {m["value"] for m in team.get("members", [])}


def _members_by_filter(scim: ScimClient, member: str) -> set[str]:
    """The teams that list ``member``, found through the membership table's filter."""
    found = scim.get("/Teams", query_string={"filter": f'members.value eq "{member}"'})
    assert found.status_code == 200, found.get_json()
    return {t["id"] for t in found.get_json()["Resources"]}


def test_post_put_patch_and_bulk_keep_a_teams_members_in_the_membership_table(
    scim: ScimClient,
) -> None:
    a, b, c = (scim.create_user()["id"] for _ in range(3))
    created = scim.post("/Teams", _team([a]))
    assert created.status_code == 201, created.get_json()
    team = created.get_json()["id"]
    assert _members(scim, team) == {a}
    assert _members_by_filter(scim, a) == {team}

    put = scim.put(f"/Teams/{team}", _team([a, b], "renamed"))
    assert put.status_code == 200, put.get_json()
    assert _members(scim, team) == {a, b}

    patch = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": c}]},
            {"op": "remove", "path": f'members[value eq "{a}"]'},
        ],
    }
    assert scim.patch(f"/Teams/{team}", patch).status_code in (200, 204)
    assert _members(scim, team) == {b, c}
    assert _members_by_filter(scim, c) == {team}
    assert _members_by_filter(scim, a) == set()

    bulk = {
        "schemas": [BULK],
        "Operations": [
            {"method": "POST", "path": "/Teams", "bulkId": "t", "data": _team([a])},
            {
                "method": "PATCH",
                "path": "/Teams/bulkId:t",
                "data": {
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": b}]}],
                },
            },
            {"method": "PUT", "path": f"/Teams/{team}", "data": _team([c], "put in bulk")},
        ],
    }
    answered = scim.post("/Bulk", bulk)
    assert answered.status_code == 200, answered.get_json()
    results = answered.get_json()["Operations"]
    assert [r["status"] for r in results] == ["201", "204", "200"], results  # as alone
    bulk_team = results[0]["location"].rsplit("/", 1)[1]
    assert results[0]["location"] == f"{BASE}/Teams/{bulk_team}"
    assert _members(scim, bulk_team) == {a, b}
    assert _members(scim, team) == {c}


def test_a_users_groups_point_at_the_team_and_a_deleted_user_leaves_it(
    scim: ScimClient,
) -> None:
    user = scim.create_user()["id"]
    team = scim.post("/Teams", _team([user], "blue")).get_json()["id"]
    group = scim.create_group(members=[user])["id"]
    shown = scim.get(f"/Users/{user}").get_json()["groups"]
    refs = {g["value"]: g["$ref"] for g in shown}
    assert refs == {team: f"{BASE}/Teams/{team}", group: f"{BASE}/Groups/{group}"}
    assert scim.delete(f"/Users/{user}").status_code == 204
    assert _members(scim, team) == set()
