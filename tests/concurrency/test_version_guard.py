"""The version check lives in the write itself: ``UPDATE``/``DELETE … WHERE version = ?``.

The services lock the row before they read it, so no live race reaches this guard; these
tests play the writer that sneaks in between a read and a write, inside one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import text

from scimserver.errors import Conflict
from scimserver.service.tokens import TenantService
from scimserver.store.models import Resource
from scimserver.store.repository import ResourceRepository, describe
from tests.conftest import make_client


def rewrite(repo: ResourceRepository, resource: Resource) -> None:
    resource.data = {**resource.data, "title": "Lost"}
    resource.version += 1
    repo.update(resource, [], [], describe(resource, "user.updated", attributes=("title",)))


def touch(repo: ResourceRepository, resource: Resource) -> None:
    repo.touch(resource, datetime.now(UTC).replace(tzinfo=None))


def remove(repo: ResourceRepository, resource: Resource) -> None:
    repo.remove(resource, datetime.now(UTC).replace(tzinfo=None))


@pytest.mark.parametrize("write", [rewrite, touch, remove])
def test_a_write_on_a_version_it_did_not_read_changes_nothing(
    app: Flask, write: Callable[[ResourceRepository, Resource], None]
) -> None:
    scim = make_client(app)
    user = scim.create_user(title="Kept")
    db = app.extensions["scimserver"].db
    tenant_id = TenantService(db).find(scim.tenant)
    assert tenant_id is not None
    with pytest.raises(Conflict), db.write() as session:
        repo = ResourceRepository(session, tenant_id, "User")
        resource = repo.find(user["id"])
        assert resource is not None
        # Another writer's version 2, committed after our read (as if we had not locked).
        bump = "UPDATE resources SET version = version + 1 WHERE id = :id"
        session.execute(text(bump), {"id": user["id"]})
        write(repo, resource)
    after = scim.get(f"/Users/{user['id']}").get_json()
    assert (after["title"], after["meta"]["version"]) == ("Kept", 'W/"1"')
