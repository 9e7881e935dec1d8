"""Each write shape and the exact SETs a receiver gets for it (RFC 9967), poll and push.

A :class:`Case` prepares a tenant, makes one write, and names the resources involved.
What a receiver got is compared in a normal form (:func:`normalised`): each SET as its
``sub_id.uri`` and its ``events`` with the URN prefix dropped, resource ids replaced by
their names (``<user>``, ``<group>``…), a version equal to the subject's ETag now by
``<version>``, and timestamps by ``<time>``. The same cases render the table in
docs/events.md (:func:`table`); tests/webhooks/test_set_shapes.py checks both, and
``python -m tests.webhooks.set_cases`` rewrites the table after a change of the cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import ScimClient

PREFIX = "urn:ietf:params:scim:event:"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LOCATION = "https://scim.test/scim/v2"
DOC = Path(__file__).parents[2] / "docs" / "events.md"
BEGIN = "<!-- BEGIN set shapes: generated from tests/webhooks/set_cases.py -->"
END = "<!-- END set shapes -->"
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

Names = dict[str, str]
"""A resource's name in the normal form (``user``) → its id."""
Sent = list[tuple[str, dict[str, Any]]]
"""The SETs of one write, in the order sent: (``sub_id.uri``, ``events``) each."""


@dataclass(frozen=True)
class Case:
    id: str
    write: str
    """What the client does, as the table shows it."""
    prepare: Callable[[ScimClient], Names]
    act: Callable[[ScimClient, Names], Names]
    """Make the write; returns the names of what it created."""
    notice: Sent
    full: Sent


def normalised(scim: ScimClient, names: Names, claims: list[dict[str, Any]]) -> Sent:
    """``claims`` (verified SETs) in the normal form the cases are written in."""
    found: Sent = []
    for claim in claims:
        uri = claim["sub_id"]["uri"]
        response = scim.get(uri)
        etag = response.headers["ETag"] if response.status_code == 200 else None
        events = {_unprefixed(uri): body for uri, body in claim["events"].items()}
        found.append((_swap(uri, names, etag), _swap(events, names, etag)))
    return sorted(found, key=lambda sent: sent[0])  # groups of one write: in no set order


def _unprefixed(uri: str) -> str:
    assert uri.startswith(PREFIX), uri
    return uri.removeprefix(PREFIX)


def _swap(value: Any, names: Names, etag: str | None) -> Any:
    if isinstance(value, Mapping):
        found = {k: _swap(v, names, etag) for k, v in value.items()}
        if isinstance(found.get("members"), list):  # stored in no order SCIM defines
            found["members"] = sorted(found["members"], key=lambda m: m["value"])
        return found
    if isinstance(value, list):
        return [_swap(v, names, etag) for v in value]
    if not isinstance(value, str):
        return value
    if value == etag:
        return "<version>"
    if _TIME.match(value):
        return "<time>"
    for name, resource_id in names.items():
        value = value.replace(resource_id, f"<{name}>")
    return value


def _user(scim: ScimClient, name: str, **attrs: Any) -> str:
    return str(scim.create_user(name, **attrs)["id"])


def _group(scim: ScimClient, name: str, members: list[str] | None = None) -> str:
    return str(scim.create_group(name, members=members)["id"])


def _ok(response: Any, *status: int) -> None:
    assert response.status_code in status, response.get_json()


def _created(response: Any, name: str) -> Names:
    _ok(response, 201)
    return {name: response.get_json()["id"]}


def _meta(kind: str, name: str, created: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceType": kind, "location": f"{LOCATION}/{kind}s/<{name}>"}
    if created:
        meta["created"] = "<time>"
    return {**meta, "lastModified": "<time>", "version": "<version>"}


def _ref(name: str) -> dict[str, str]:
    return {"value": f"<{name}>", "$ref": f"/Users/<{name}>"}


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def _nothing(_scim: ScimClient) -> Names:
    return {}


def _one_user(scim: ScimClient) -> Names:
    return {"user": _user(scim, "bjensen")}


def _two_users_one_in_crm(scim: ScimClient) -> Names:
    one, two = _user(scim, "one"), _user(scim, "two")
    return {"one": one, "two": two, "group": _group(scim, "crm", [one])}


def _user_in_two_groups(scim: ScimClient) -> Names:
    user = _user(scim, "bjensen")
    return {"user": user, "g1": _group(scim, "crm", [user]), "g2": _group(scim, "hr", [user])}


def _create_user(scim: ScimClient, _names: Names) -> Names:
    body = {"schemas": [USER], "userName": "bjensen", "externalId": "bj", "title": "Tour Guide"}
    return _created(scim.post("/Users", body), "user")


def _create_user_with_password(scim: ScimClient, _names: Names) -> Names:
    body = {"schemas": [USER], "userName": "bjensen", "password": "Secret-123!"}
    return _created(scim.post("/Users", body), "user")


def _create_group(scim: ScimClient, _names: Names) -> Names:
    return _created(scim.post("/Groups", {"schemas": [GROUP], "displayName": "crm"}), "group")


def _create_group_with_member(scim: ScimClient, names: Names) -> Names:
    body = {"schemas": [GROUP], "displayName": "crm", "members": [{"value": names["user"]}]}
    return _created(scim.post("/Groups", body), "group")


def _put_members(scim: ScimClient, names: Names) -> Names:
    body = {"schemas": [GROUP], "displayName": "crm", "members": [{"value": names["two"]}]}
    _ok(scim.put(f"/Groups/{names['group']}", body), 200)
    return {}


def _put_name_and_members(scim: ScimClient, names: Names) -> Names:
    members = [{"value": names["one"]}, {"value": names["two"]}]
    body = {"schemas": [GROUP], "displayName": "crm-2", "members": members}
    _ok(scim.put(f"/Groups/{names['group']}", body), 200)
    return {}


def _patch_password(scim: ScimClient, names: Names) -> Names:
    body = _patch({"op": "replace", "path": "password", "value": "N3w-Secret!"})
    _ok(scim.patch(f"/Users/{names['user']}", body), 200)
    return {}


def _deactivate(scim: ScimClient, names: Names) -> Names:
    body = _patch({"op": "replace", "path": "active", "value": False})
    _ok(scim.patch(f"/Users/{names['user']}", body), 200)
    return {}


def _patch_members(scim: ScimClient, names: Names) -> Names:
    body = _patch(
        {"op": "add", "path": "members", "value": [{"value": names["two"]}]},
        {"op": "remove", "path": f'members[value eq "{names["one"]}"]'},
    )
    _ok(scim.patch(f"/Groups/{names['group']}", body), 200, 204)
    return {}


def _delete_user(scim: ScimClient, names: Names) -> Names:
    _ok(scim.delete(f"/Users/{names['user']}"), 204)
    return {}


def _delete_group(scim: ScimClient, names: Names) -> Names:
    _ok(scim.delete(f"/Groups/{names['group']}"), 204)
    return {}


def _member_patch(name: str) -> tuple[str, dict[str, Any]]:
    return (
        f"/Groups/<{name}>",
        {"prov:patch:notice": {"attributes": ["members"], "version": "<version>"}},
    )


def _member_removal(name: str, member: str) -> tuple[str, dict[str, Any]]:
    remove = {"op": "remove", "path": f'members[value eq "<{member}>"]'}
    data = {"schemas": [PATCH_OP], "Operations": [remove]}
    return f"/Groups/<{name}>", {"prov:patch:full": {"version": "<version>", "data": data}}


CASES = [
    Case(
        "user-created",
        "`POST /Users` (userName, externalId, title)",
        _nothing,
        _create_user,
        [
            (
                "/Users/<user>",
                {
                    "prov:create:notice": {
                        "attributes": ["schemas", "userName", "title", "externalId"]
                    }
                },
            )
        ],
        [
            (
                "/Users/<user>",
                {
                    "prov:create:full": {
                        "data": {
                            "schemas": [USER],
                            "id": "<user>",
                            "userName": "bjensen",
                            "externalId": "bj",
                            "title": "Tour Guide",
                            "meta": _meta("User", "user"),
                        }
                    }
                },
            )
        ],
    ),
    Case(
        "user-created-with-password",
        "`POST /Users` with a `password`",
        _nothing,
        _create_user_with_password,
        [
            (
                "/Users/<user>",
                {"prov:create:notice": {"attributes": ["schemas", "userName", "password"]}},
            )
        ],
        [
            (
                "/Users/<user>",
                {
                    "prov:create:full": {
                        "data": {
                            "schemas": [USER],
                            "id": "<user>",
                            "userName": "bjensen",
                            "meta": _meta("User", "user"),
                        }
                    }
                },
            )
        ],
    ),
    Case(
        "group-created",
        "`POST /Groups` without members",
        _nothing,
        _create_group,
        [("/Groups/<group>", {"prov:create:notice": {"attributes": ["schemas", "displayName"]}})],
        [
            (
                "/Groups/<group>",
                {
                    "prov:create:full": {
                        "data": {
                            "schemas": [GROUP],
                            "id": "<group>",
                            "displayName": "crm",
                            "meta": _meta("Group", "group"),
                        }
                    }
                },
            )
        ],
    ),
    Case(
        "group-created-with-members",
        "`POST /Groups` with `members`",
        _one_user,
        _create_group_with_member,
        [
            (
                "/Groups/<group>",
                {"prov:create:notice": {"attributes": ["schemas", "displayName", "members"]}},
            )
        ],
        [
            (
                "/Groups/<group>",
                {
                    "prov:create:full": {
                        "data": {
                            "schemas": [GROUP],
                            "id": "<group>",
                            "displayName": "crm",
                            "meta": _meta("Group", "group"),
                            "members": [_ref("user")],
                        }
                    }
                },
            )
        ],
    ),
    Case(
        "group-put-members",
        "`PUT /Groups/{id}` that changes only `members` (`one` → `two`)",
        _two_users_one_in_crm,
        _put_members,
        [
            (
                "/Groups/<group>",
                {"prov:put:notice": {"attributes": ["members"], "version": "<version>"}},
            )
        ],
        [
            (
                "/Groups/<group>",
                {
                    "prov:put:full": {
                        "data": {
                            "schemas": [GROUP],
                            "id": "<group>",
                            "displayName": "crm",
                            "members": [_ref("two")],
                            "meta": _meta("Group", "group", created=False),
                        },
                        "version": "<version>",
                    }
                },
            )
        ],
    ),
    Case(
        "group-put-name-and-members",
        "`PUT /Groups/{id}` that renames it and adds a member",
        _two_users_one_in_crm,
        _put_name_and_members,
        [
            (
                "/Groups/<group>",
                {
                    "prov:put:notice": {
                        "attributes": ["displayName", "members"],
                        "version": "<version>",
                    }
                },
            )
        ],
        [
            (
                "/Groups/<group>",
                {
                    "prov:put:full": {
                        "data": {
                            "schemas": [GROUP],
                            "id": "<group>",
                            "displayName": "crm-2",
                            "members": [_ref("one"), _ref("two")],
                            "meta": _meta("Group", "group", created=False),
                        },
                        "version": "<version>",
                    }
                },
            )
        ],
    ),
    Case(
        "user-password-patched",
        "`PATCH /Users/{id}` of `password` only",
        _one_user,
        _patch_password,
        [
            (
                "/Users/<user>",
                {"prov:patch:notice": {"attributes": ["password"], "version": "<version>"}},
            )
        ],
        [
            (
                "/Users/<user>",
                {"prov:patch:notice": {"attributes": ["password"], "version": "<version>"}},
            )
        ],
    ),
    Case(
        "user-deactivated",
        "`PATCH /Users/{id}` `active` → false",
        _one_user,
        _deactivate,
        [
            (
                "/Users/<user>",
                {
                    "prov:patch:notice": {"attributes": ["active"], "version": "<version>"},
                    "prov:deactivate": {},
                },
            )
        ],
        [
            (
                "/Users/<user>",
                {
                    "prov:patch:full": {
                        "data": _patch({"op": "replace", "path": "active", "value": False}),
                        "version": "<version>",
                    },
                    "prov:deactivate": {},
                },
            )
        ],
    ),
    Case(
        "group-members-patched",
        "`PATCH /Groups/{id}`: add `two`, remove `one`",
        _two_users_one_in_crm,
        _patch_members,
        [_member_patch("group")],
        [
            (
                "/Groups/<group>",
                {
                    "prov:patch:full": {
                        "version": "<version>",
                        "data": _patch(
                            {"op": "remove", "path": 'members[value eq "<one>"]'},
                            {"op": "add", "path": "members", "value": [_ref("two")]},
                        ),
                    }
                },
            )
        ],
    ),
    Case(
        "user-deleted-in-groups",
        "`DELETE /Users/{id}` of a member of groups `g1` and `g2`",
        _user_in_two_groups,
        _delete_user,
        [_member_patch("g1"), _member_patch("g2"), ("/Users/<user>", {"prov:delete": {}})],
        [
            _member_removal("g1", "user"),
            _member_removal("g2", "user"),
            ("/Users/<user>", {"prov:delete": {}}),
        ],
    ),
    Case(
        "group-deleted",
        "`DELETE /Groups/{id}` of a group with members",
        _two_users_one_in_crm,
        _delete_group,
        [("/Groups/<group>", {"prov:delete": {}})],
        [("/Groups/<group>", {"prov:delete": {}})],
    ),
]


def _cell(sent: Sent) -> str:
    return "<br>".join(f"`{uri}` `{json.dumps(events)}`" for uri, events in sent)


def table() -> str:
    """The docs' table of every case, between its markers."""
    lines = [
        BEGIN,
        "| Write | Notice mode: one SET per line, `sub_id.uri` then `events` | Full mode |",
        "|---|---|---|",
        *(f"| {c.write} | {_cell(c.notice)} | {_cell(c.full)} |" for c in CASES),
        END,
    ]
    return "\n".join(lines)


def documented() -> str:
    """The table as docs/events.md has it now, between its markers."""
    text = DOC.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    assert 0 <= start < end, f"{DOC} lacks the markers {BEGIN} … {END}"
    return text[start : end + len(END)]


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    DOC.write_text(text.replace(documented(), table()), encoding="utf-8")
