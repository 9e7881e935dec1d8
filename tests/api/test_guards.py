"""Requests refused or normalised before routing; health and readiness."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask

from scimserver.app import create_app
from scimserver.config import Settings
from scimserver.store import migrate
from scimserver.store.db import Database
from tests.conftest import ScimClient, assert_scim_error, close_app


def test_nul_bytes_anywhere_are_400(scim: ScimClient) -> None:
    user = scim.create_user()
    for method, path in (
        ("GET", "/Users/%00"),
        ("DELETE", f"/Users/{user['id']}%00"),
        ("GET", "/Groups/a%00b"),
        ("GET", "/Users?filter=userName%20eq%20%22a%00%22"),
        ("PATCH", f"/Users/{user['id']}%00"),
    ):
        assert_scim_error(scim.open(method, path), 400, "invalidValue")
    header = scim.get("/Users", headers={"X-Note": "a\x00b"})
    assert_scim_error(header, 400, "invalidValue")
    body = scim.post(
        "/Users",
        data='{"userName": "nul\\u0000@example.com"}',
        headers={"Content-Type": "application/scim+json"},
    )
    assert_scim_error(body, 400, "invalidValue")
    nested = scim.post(
        "/Users",
        data='{"userName": "n@example.com", "emails": [{"value": "x\\u0000@x"}]}',
        headers={"Content-Type": "application/scim+json"},
    )
    assert_scim_error(nested, 400, "invalidValue")
    assert scim.get(f"/Users/{user['id']}").status_code == 200  # nothing was deleted


def test_endpoint_names_match_without_case(scim: ScimClient) -> None:
    created = scim.post(
        "/users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "lc"}
    )
    assert created.status_code == 201
    user_id = created.get_json()["id"]
    assert created.get_json()["meta"]["location"].endswith(f"/Users/{user_id}")
    assert scim.get(f"/USERS/{user_id}").status_code == 200
    assert scim.get("/serviceproviderconfig").status_code == 200
    assert scim.get("/resourcetypes/User").status_code == 200
    assert scim.get("/groups").status_code == 200
    assert_scim_error(scim.get(f"/users/{user_id.upper()}x"), 404)


def test_resource_types_list_user_first(scim: ScimClient) -> None:
    listed = scim.get("/ResourceTypes").get_json()["Resources"]
    assert [r["id"] for r in listed] == ["User", "Group"]


def test_health_and_readiness(app: Flask) -> None:
    http = app.test_client()
    assert http.get("/healthz").get_json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert (ready.status_code, ready.get_json()["status"]) == (200, "ready")


def test_not_ready_until_migrated_then_probes_log_nothing(
    backend: str, database_url_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = database_url_factory(backend)
    db = Database(url)
    migrate.upgrade(db, "0010")  # behind the newest
    app = create_app(Settings(database_url=url, auto_migrate=False))
    http = app.test_client()
    behind = http.get("/readyz")
    assert (behind.status_code, behind.get_json()["status"]) == (503, "unavailable")
    assert http.get("/healthz").status_code == 200  # alive all the same
    migrate.upgrade(db)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        statuses = [http.get("/readyz").status_code for _ in range(3)]
        statuses.append(http.get("/healthz").status_code)
    assert statuses == [200, 200, 200, 200]
    assert caplog.records == []  # neither Alembic's lines nor a request line per probe
    close_app(app)
    db.dispose()
