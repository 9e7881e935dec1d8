"""SCIMSERVER_UNIQUE_EMAIL: a user's email (the identity view's) is unique in a tenant."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from scimserver.app import create_app
from scimserver.config import Settings
from tests.api.test_changes import patch
from tests.conftest import ScimClient, assert_scim_error, close_app, make_client

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture(scope="module")
def unique_app(backend: str, database_url_factory: Any) -> Iterator[Flask]:
    settings = Settings(
        database_url=database_url_factory(backend),
        base_url="https://scim.test/scim/v2",
        unique_email=True,
    )
    application = create_app(settings)
    yield application
    close_app(application)


def body(user_name: str, **attrs: Any) -> dict[str, Any]:
    return {"schemas": [USER], "userName": user_name, **attrs}


def test_a_duplicate_email_is_409_uniqueness(unique_app: Flask) -> None:
    scim = make_client(unique_app)
    first = scim.create_user("ann", emails=[{"value": "Ann@X.org", "primary": True}])
    assert_scim_error(
        scim.post("/Users", body("ann2", emails=[{"value": "ann@x.org", "type": "work"}])),
        409,
        "uniqueness",
    )
    assert_scim_error(scim.post("/Users", body("ann@x.org")), 409, "uniqueness")
    # Not the email: a non-primary address that equals it is fine.
    other = scim.create_user(
        "bob", emails=[{"value": "bob@x.org", "primary": True}, {"value": "ann@x.org"}]
    )
    # An update that would make it so is refused too; its own update is not.
    response = scim.put(f"/Users/{other['id']}", body("bob", emails=[{"value": "ANN@x.org"}]))
    assert_scim_error(response, 409, "uniqueness")
    patch(scim, f"/Users/{first['id']}", {"op": "replace", "path": "displayName", "value": "Ann"})
    # Another tenant has its own emails.
    make_client(unique_app).create_user("ann", emails=[{"value": "ann@x.org"}])


def test_without_the_setting_emails_may_repeat(scim: ScimClient) -> None:
    scim.create_user("one", emails=[{"value": "same@x.org"}])
    scim.create_user("two", emails=[{"value": "same@x.org"}])


def test_eight_concurrent_creates_of_one_email_make_one_user(unique_app: Flask) -> None:
    scim = make_client(unique_app)
    statuses: list[int] = []
    start = threading.Barrier(8)

    def create(i: int) -> None:
        client = ScimClient(unique_app.test_client(), scim.token, scim.tenant)
        start.wait()
        response = client.post("/Users", body(f"racer{i}", emails=[{"value": "race@x.org"}]))
        if response.status_code == 409:
            assert response.get_json()["scimType"] == "uniqueness"
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 7
    found = scim.client.get(
        "/api/v1/identities",
        query_string={"email": "race@x.org"},
        headers={"Authorization": f"Bearer {scim.token}"},
    ).get_json()
    assert len(found["identities"]) == 1
