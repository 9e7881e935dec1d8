"""SET claims built from change facts, shaped like RFC 9967's figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scimserver.scim.render import Links
from scimserver.scim.sets import (
    ChangeFacts,
    Envelope,
    jti_for,
    set_claims,
    value_at,
)

P = "urn:ietf:params:scim:event:"
ISS = "https://scim.example.org/scim/v2"
LINKS = Links(ISS, {"User": "/Users", "Group": "/Groups"})
USER_ID = "2819c223-7f76-453a-919d-413861904646"
WHEN = datetime(2026, 1, 1, 0, 0, 0)
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def facts(**overrides: Any) -> ChangeFacts:
    values: dict[str, Any] = {
        "id": "c1",
        "type": "user.updated",
        "operation": "PATCH",
        "resource_type": "User",
        "resource_id": USER_ID,
        "request_id": "req-7f3a",
        "time": WHEN,
        "external_id": "bjensen",
        "attributes": ("active",),
        "version": 3,
        "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "active": False},
    }
    values.update(overrides)
    return ChangeFacts(**values)


def claims(change: ChangeFacts, full: bool = False) -> dict[str, Any]:
    return set_claims([change], Envelope(ISS, "aud-1", LINKS), "jti-1", WHEN, full)


def test_envelope_has_sub_id_txn_toe_and_no_sub_or_exp() -> None:
    found = claims(facts(type="user.deactivated"))
    assert found["iss"] == ISS and found["aud"] == "aud-1" and found["jti"] == "jti-1"
    assert found["iat"] == found["toe"] == 1767225600
    assert found["txn"] == "c1"  # no server txn (logged before it existed): the change id
    assert found["sub_id"] == {
        "format": "scim",
        "uri": f"/Users/{USER_ID}",
        "id": USER_ID,
        "externalId": "bjensen",
    }
    assert "sub" not in found and "exp" not in found


def test_deactivation_by_patch_pairs_patch_notice_with_deactivate() -> None:
    assert claims(facts(type="user.deactivated"))["events"] == {
        P + "prov:patch:notice": {"attributes": ["active"], "version": 'W/"3"'},
        P + "prov:deactivate": {},
    }


def test_reactivation_by_put_pairs_put_with_activate() -> None:
    events = claims(facts(type="user.reactivated", operation="PUT"))["events"]
    assert set(events) == {P + "prov:put:notice", P + "prov:activate"}


def test_create_notice_and_full() -> None:
    change = facts(
        type="user.created",
        operation="POST",
        attributes=("userName",),
        data={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bj"},
        version=1,
    )
    assert claims(change)["events"] == {P + "prov:create:notice": {"attributes": ["userName"]}}
    data = claims(change, full=True)["events"][P + "prov:create:full"]["data"]
    assert data == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": USER_ID,
        "userName": "bj",
        "meta": {
            "resourceType": "User",
            "location": f"{ISS}/Users/{USER_ID}",
            "created": "2026-01-01T00:00:00.000Z",
            "lastModified": "2026-01-01T00:00:00.000Z",
            "version": 'W/"1"',
        },
    }


def test_patch_full_is_a_patch_op_of_new_values_and_removals() -> None:
    change = facts(
        attributes=("name.givenName", "title", f"{ENTERPRISE}:department", "password"),
        data={"name": {"givenName": "Babs"}, ENTERPRISE: {"department": "R&D"}},
    )
    payload = claims(change, full=True)["events"][P + "prov:patch:full"]
    assert payload["version"] == 'W/"3"'
    assert payload["data"] == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "path": "name.givenName", "value": "Babs"},
            {"op": "remove", "path": "title"},
            {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "R&D"},
        ],
    }


def test_delete_is_bare() -> None:
    assert claims(facts(type="group.deleted", resource_type="Group", version=None))["events"] == {
        P + "prov:delete": {}
    }


def test_member_events_are_group_patches() -> None:
    added = facts(
        type="group.member_added",
        resource_type="Group",
        resource_id="g1",
        member_id=USER_ID,
        member_type="User",
        attributes=(),
        version=9,
    )
    assert claims(added)["events"] == {
        P + "prov:patch:notice": {"attributes": ["members"], "version": 'W/"9"'}
    }
    full = claims(added, full=True)["events"][P + "prov:patch:full"]["data"]
    assert full["Operations"] == [
        {"op": "add", "path": "members", "value": [{"value": USER_ID, "$ref": f"/Users/{USER_ID}"}]}
    ]
    removed = facts(type="group.member_removed", resource_type="Group", member_id=USER_ID)
    operations = claims(removed, full=True)["events"][P + "prov:patch:full"]["data"]["Operations"]
    assert operations == [{"op": "remove", "path": f'members[value eq "{USER_ID}"]'}]


def test_jti_is_stable_per_receiver_and_change() -> None:
    assert jti_for("r1", "c1") == jti_for("r1", "c1")
    assert len({jti_for("r1", "c1"), jti_for("r2", "c1"), jti_for("r1", "c2")}) == 3


def test_value_at_reads_case_insensitively() -> None:
    assert value_at({"Name": {"givenname": "B"}}, "name.givenName") == "B"
    assert value_at({"name": "flat"}, "name.givenName") is None
