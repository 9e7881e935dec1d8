"""The write contract: every backend and every write path stores the same rows.

A write reaches the database by one of three paths (``ResourceService``): alone (a
user's create, PUT or PATCH as the fewest statements: ``store.single``), locked with its
plan made before the write turn (``Database.ahead``, the one-writer database's way), or
locked with its plan made inside the transaction (the row-locking database's way). Each
backend takes one of them by default; here every backend is made to take each. The same
script of writes — users created with a password and indexed attributes, PATCHed,
PUT, a password-only change, a no-op, groups created with members, their members added,
removed and replaced, a rename, a user deleted out of a group — must leave identical
rows: resources, value index, memberships and change records (ids named, clocks left
out), as scim2-server's ``ScimStorageContract`` holds its backends together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from scimserver.service.reading import EVERYTHING
from scimserver.service.resources import ResourceService
from scimserver.service.server import Server
from scimserver.store.models import AttributeValue, Change, Membership, Resource

PATHS = ["alone", "ahead", "in-transaction"]
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
Rows = dict[str, list[tuple[Any, ...]]]


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def _user(user_name: str, **attributes: Any) -> dict[str, Any]:
    return {"schemas": [USER, ENTERPRISE], "userName": user_name, **attributes}


class Writer:
    """The script's writes through one path, in one tenant of its own."""

    def __init__(self, server: Server, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.tenant_id = server.tenants().ensure(f"contract-{uuid.uuid4().hex[:10]}")
        db = server.db
        if path == "ahead":  # plan before the turn, whatever the database wants
            monkeypatch.setattr(db, "ahead", lambda plan: _run(db, plan))
        elif path == "in-transaction":
            monkeypatch.setattr(db, "ahead", lambda plan: None)
        self.alone = path == "alone"
        self.ids: dict[str, str] = {}

    def service(self, type_id: str) -> ResourceService:
        resource_type = self.server.registry.resource_type(type_id)
        assert resource_type is not None
        service = self.server.resources(resource_type, self.tenant_id, "https://scim.test")
        service.writes_alone = service.writes_alone and self.alone
        return service

    def create(self, name: str, type_id: str, body: dict[str, Any]) -> None:
        written = self.service(type_id).create(self._named(body), EVERYTHING)
        assert written.resource is not None
        self.ids[name] = written.resource["id"]

    def replace(self, name: str, type_id: str, body: dict[str, Any]) -> None:
        self.service(type_id).replace(self.ids[name], self._named(body), None, EVERYTHING)

    def patch(self, name: str, type_id: str, body: dict[str, Any]) -> None:
        self.service(type_id).patch(self.ids[name], self._named(body), None, EVERYTHING)

    def delete(self, name: str, type_id: str) -> None:
        self.service(type_id).delete(self.ids[name], None)

    def _named(self, body: Any) -> Any:
        """``body`` with every ``{"value": "@name"}`` member naming the id made for it."""
        if isinstance(body, dict):
            return {k: self._named(v) for k, v in body.items()}
        if isinstance(body, list):
            return [self._named(v) for v in body]
        if isinstance(body, str) and body.startswith("@"):
            return self.ids[body[1:]]
        return body


def _run(db: Any, plan: Callable[[Any], Any]) -> Any:
    with db.connect() as connection:
        return plan(connection)


def script(w: Writer) -> None:
    w.create(
        "ann",
        "User",
        _user(
            "Ann@Example.com",
            password="correct horse battery",
            name={"givenName": "Ann", "familyName": "Lee"},
            emails=[{"value": "ann@example.com", "type": "work", "primary": True}],
            **{ENTERPRISE: {"employeeNumber": "7", "department": "R&D"}},
        ),
    )
    w.create("bob", "User", _user("bob", displayName="Bob", active=True))
    w.patch(
        "ann",
        "User",
        _patch(
            {"op": "replace", "path": "name.givenName", "value": "Anne"},
            {"op": "add", "path": "emails", "value": [{"value": "a@home.example", "type": "home"}]},
            {"op": "replace", "path": "active", "value": False},
        ),
    )
    w.replace("bob", "User", _user("bob", displayName="Robert", title="Eng", active=True))
    w.patch("ann", "User", _patch({"op": "replace", "path": "password", "value": "s3cret!!"}))
    w.patch("bob", "User", _patch({"op": "replace", "path": "title", "value": "Eng"}))  # no-op
    w.create(
        "devs", "Group", {"schemas": [GROUP], "displayName": "devs", "members": [{"value": "@ann"}]}
    )
    w.patch(
        "devs",
        "Group",
        _patch(
            {"op": "add", "path": "members", "value": [{"value": "@bob"}]},
            {"op": "remove", "path": 'members[value eq "@ann"]'},
            {"op": "replace", "path": "displayName", "value": "developers"},
        ),
    )
    w.create("ops", "Group", {"schemas": [GROUP], "displayName": "ops"})
    w.replace(
        "ops",
        "Group",
        {
            "schemas": [GROUP],
            "displayName": "ops",
            "members": [{"value": "@ann"}, {"value": "@bob"}],
        },
    )
    w.delete("bob", "User")


def stored(server: Server, w: Writer) -> Rows:
    """The tenant's rows, ids replaced by the script's names, clocks left out."""
    names = {v: k for k, v in w.ids.items()}
    tenant = w.tenant_id

    def named(value: Any) -> Any:
        """``value`` with every id in it (at any depth) replaced by the script's name."""
        if isinstance(value, dict):  # members are kept in no order: compared sorted
            return {
                k: sorted(named(v), key=repr) if k == "members" else named(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return type(value)(named(v) for v in value)
        return names.get(value, value) if isinstance(value, str) else value

    with server.db.read() as session:
        resources = [
            (
                names[r.id],
                r.resource_type,
                r.user_name_key,
                r.display_name,
                r.version,
                r.data,
                r.password_hash is not None,
            )
            for r in session.scalars(select(Resource).where(Resource.tenant_id == tenant))
        ]
        values = [
            (
                names[v.resource_id],
                v.path,
                v.ordinal,
                v.str_key,
                v.str_value,
                v.num_value,
                v.time_value,
                v.bool_value,
            )
            for v in session.scalars(
                select(AttributeValue).where(AttributeValue.tenant_id == tenant)
            )
        ]
        memberships = [
            (names[m.group_id], names[m.member_id], m.member_type, m.display)
            for m in session.scalars(select(Membership).where(Membership.tenant_id == tenant))
        ]
        changes: dict[str | None, list[tuple[Any, ...]]] = {}  # by transaction, in order
        for c in session.scalars(
            select(Change).where(Change.tenant_id == tenant).order_by(Change.seq)
        ):
            changes.setdefault(c.txn, []).append(
                named(
                    (
                        c.type,
                        c.operation,
                        c.resource_type,
                        names[c.resource_id],
                        c.display,
                        c.attributes,
                        named(c.member_id),
                        c.member_type,
                        c.version,
                        c.data,
                    )
                )
            )
    return {
        "resources": sorted(resources, key=repr),
        "values": sorted(values, key=repr),
        "memberships": sorted(memberships),
        # The transactions in commit order; in each, its changes in any order (a deleted
        # user leaves its groups in the order of their random ids) and the documents it
        # logged by resource (a PUT's group document goes with the last of its changes).
        "changes": [_unordered(made) for made in changes.values()],
    }


def _unordered(made: list[tuple[Any, ...]]) -> tuple[list[str], list[str]]:
    rows = sorted(repr(change[:-1]) for change in made)
    documents = sorted(repr((change[3], change[-1])) for change in made if change[-1])
    return rows, documents


@pytest.fixture(scope="module")
def results() -> Iterator[dict[tuple[str, str], Rows]]:
    yield {}


@pytest.mark.parametrize("path", PATHS)
def test_every_backend_and_path_stores_the_same_rows(
    app: Flask,
    backend: str,
    path: str,
    results: dict[tuple[str, str], Rows],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: Server = app.extensions["scimserver"]
    writer = Writer(server, path, monkeypatch)
    script(writer)
    rows = stored(server, writer)
    assert len(rows["changes"]) == 10 and rows["memberships"] and rows["values"]
    for (other_backend, other_path), other in results.items():
        for table in rows:
            assert rows[table] == other[table], (
                f"{backend}/{path} and {other_backend}/{other_path} differ in {table}"
            )
    results[(backend, path)] = rows
