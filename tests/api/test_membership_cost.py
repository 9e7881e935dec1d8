"""A membership change costs the same in a group of 100,000 as in a group of 100.

Members are seeded straight into the store (the rows the server would write); then one
user joins and leaves each group over SCIM. The SQL run must be the same statements for
both groups, and the other members' versions must not move.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert

from scimserver.store.models import Membership, Resource
from tests.conftest import ScimClient, statements_run

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
pytestmark = pytest.mark.slow


def seed_members(app: Flask, tenant_id: int, group_id: str, count: int) -> list[str]:
    moment = datetime.now(UTC).replace(tzinfo=None)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    users = [
        {
            "id": i,
            "tenant_id": tenant_id,
            "resource_type": "User",
            "user_name_key": f"seed-{i}",
            "display_name": f"seed-{i}",
            "version": 1,
            "created": moment,
            "last_modified": moment,
            "data": {"schemas": [USER], "userName": f"seed-{i}"},
        }
        for i in ids
    ]
    members = [
        {"group_id": group_id, "member_id": i, "member_type": "User", "tenant_id": tenant_id}
        for i in ids
    ]
    with app.extensions["scimserver"].db.write() as session:
        for start in range(0, count, 5000):
            session.execute(insert(Resource), users[start : start + 5000])
            session.execute(insert(Membership), members[start : start + 5000])
    return ids


def join_and_leave(scim: ScimClient, group_id: str, user_id: str) -> None:
    add = {"op": "add", "path": "members", "value": [{"value": user_id}]}
    remove = {"op": "remove", "path": f'members[value eq "{user_id}"]'}
    for operation in (add, remove):
        body = {"schemas": [PATCH_OP], "Operations": [operation]}
        assert scim.patch(f"/Groups/{group_id}", body).status_code == 204


def test_membership_changes_do_not_grow_with_the_group(scim: ScimClient, app: Flask) -> None:
    tenant_id = app.extensions["scimserver"].tokens.authenticate(scim.token).tenant_id
    small, big = scim.create_group("small"), scim.create_group("big")
    seed_members(app, tenant_id, small["id"], 100)
    others = seed_members(app, tenant_id, big["id"], 100_000)
    before = scim.get(f"/Users/{others[0]}").get_json()["meta"]["version"]
    joiner = scim.create_user()

    def run(group: dict[str, Any]) -> list[str]:
        return statements_run(app, lambda: join_and_leave(scim, group["id"], joiner["id"]))

    run(small)  # warm the statement caches alike
    assert run(big) == run(small)
    assert scim.get(f"/Users/{others[0]}").get_json()["meta"]["version"] == before
    assert scim.get(f"/Users/{others[-1]}").get_json()["meta"]["version"] == before
