"""A change of a person's effective access as a poll receiver gets it (RFC 8936): one
signed SET of its own, right after the membership change's SET of the same transaction,
verified by PyJWT against the tenant's published key (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.api.test_access import add, remove, rules, settle
from tests.api.test_sets import drain, poll, start
from tests.conftest import ScimClient

P = "urn:ietf:params:scim:event:"
ACCESS_EVENT = "urn:scimserver:event:identity:access_changed"
NONE = {"appGroups": [], "role": None, "roles": [], "isAdmin": None}
DEVELOPER = {"appGroups": ["developers"], "role": "developers", "roles": ["developers"]}


def version(scim: ScimClient, group_id: str) -> str:
    found: str = scim.get(f"/Groups/{group_id}").get_json()["meta"]["version"]
    return found


def received(scim: ScimClient) -> list[dict[str, Any]]:
    """Every SET waiting, verified; then acknowledged, so that none is left over."""
    claims = drain(scim)
    jtis = [c["jti"] for c in claims]
    left = poll(scim, {"returnImmediately": True, "ack": jtis}).get_json()
    assert left == {"sets": {}, "moreAvailable": False}
    return claims


def test_an_access_change_is_one_set_after_its_membership_patch(
    app: Flask, scim: ScimClient
) -> None:
    user = scim.create_user("ann@example.org", externalId="ann-1")
    group = scim.create_group("eng")
    rules(app, scim).map("developers", "eng")
    settle(app, scim)
    subject = {"format": "scim", "uri": f"/Users/{user['id']}", "id": user["id"]}
    start(scim)
    add(scim, group["id"], user["id"])
    patched, changed = received(scim)
    assert patched["sub_id"]["uri"] == f"/Groups/{group['id']}"
    assert patched["events"] == {
        P + "prov:patch:notice": {"attributes": ["members"], "version": version(scim, group["id"])}
    }
    assert changed["sub_id"] == {**subject, "externalId": "ann-1"}
    after = {**DEVELOPER, "isAdmin": None}
    assert changed["events"] == {ACCESS_EVENT: {"before": NONE, "after": after}}
    assert changed["txn"] == patched["txn"] and changed["jti"] != patched["jti"]

    remove(scim, group["id"], user["id"])
    patched, changed = received(scim)
    assert patched["events"] == {
        P + "prov:patch:notice": {"attributes": ["members"], "version": version(scim, group["id"])}
    }
    assert changed["sub_id"] == {**subject, "externalId": "ann-1"}
    assert changed["events"] == {ACCESS_EVENT: {"before": after, "after": NONE}}
    assert changed["txn"] == patched["txn"]


def test_a_move_in_an_unmapped_group_is_the_group_patch_alone(app: Flask, scim: ScimClient) -> None:
    user = scim.create_user()
    scim.create_group("eng")
    other = scim.create_group("cafeteria")
    rules(app, scim).map("developers", "eng")
    settle(app, scim)
    start(scim)
    add(scim, other["id"], user["id"])
    (patched,) = received(scim)
    assert patched["sub_id"]["uri"] == f"/Groups/{other['id']}"
    assert list(patched["events"]) == [P + "prov:patch:notice"]
