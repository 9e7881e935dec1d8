"""Leftovers made consistent: "" is unassigned everywhere; server-unique values stay unique
under concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from scimserver.app import create_app
from scimserver.config import Settings
from scimserver.schema import default_schema_dir
from tests.conftest import FIXTURES, ScimClient, assert_scim_error, close_app, make_client

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_an_empty_string_is_unassigned_in_post_put_and_patch(scim: ScimClient) -> None:
    created = scim.post("/Users", {"schemas": [USER], "userName": "e@x", "nickName": ""})
    assert created.status_code == 201
    user_id = created.get_json()["id"]
    assert "nickName" not in scim.get(f"/Users/{user_id}").get_json()
    body = {"schemas": [USER], "userName": "e@x", "nickName": "Nick", "title": "T"}
    assert scim.put(f"/Users/{user_id}", body).status_code == 200
    cleared = {**body, "title": ""}
    assert "title" not in scim.put(f"/Users/{user_id}", cleared).get_json()
    patch = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "nickName", "value": ""}],
    }
    assert "nickName" not in scim.patch(f"/Users/{user_id}", patch).get_json()
    assert_scim_error(scim.post("/Users", {"schemas": [USER], "userName": ""}), 400)


@pytest.fixture
def unique_app(backend: str, database_url_factory: Any) -> Iterator[Flask]:
    """Groups whose displayName is ``uniqueness: server`` (a schema dropped in)."""
    schema_dirs = (default_schema_dir(), FIXTURES / "unique_schemas")
    app = create_app(Settings(database_url=database_url_factory(backend), schema_dirs=schema_dirs))
    yield app
    close_app(app)


def test_concurrent_creates_of_one_unique_value_store_it_once(unique_app: Flask) -> None:
    scim = make_client(unique_app)
    barrier = threading.Barrier(8, timeout=30)
    statuses: list[int] = []

    def create() -> None:
        client = ScimClient(unique_app.test_client(), scim.token, scim.tenant)
        barrier.wait()
        response = client.post("/Groups", {"schemas": [GROUP], "displayName": "Only once"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201] + [409] * 7
    found = scim.get("/Groups", query_string={"filter": 'displayName eq "Only once"'})
    assert found.get_json()["totalResults"] == 1
