"""Updates planned against the version read before they write, and written without a
locked read (on PostgreSQL as one statement outside a transaction; on SQLite in a
transaction that reads nothing, on the write lock).

What a client must not be able to tell: a write overtaken between its read and its
write is made again on the locked row, keeping the other writer's change; a refused
write leaves nothing behind; the password hash survives updates that do not send one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from scimserver.pacing import paused
from scimserver.service import resources
from scimserver.store.models import Resource
from tests.api.test_changes import changes_since, head, kinds
from tests.conftest import ScimClient, assert_scim_error

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _replace(path: str, value: Any) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": path, "value": value}]}


def _password_hash(app: Flask, resource_id: str) -> str | None:
    with app.extensions["scimserver"].db.read() as session:
        row = session.get(Resource, resource_id)
        assert row is not None
        return row.password_hash


@pytest.fixture
def overtaken(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], None]]:
    """``overtaken(write)``: the next update's read of its resource is followed, before
    that update writes, by ``write`` committing in another thread — as a writer of
    another worker process would: the update gives its process's request slot back
    meanwhile (``pacing``), or one slot would make the two wait for each other."""
    pending: list[Callable[[], Any]] = []

    def after_read(read: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any) -> Any:
            found = read(*args)
            if pending:
                other = threading.Thread(target=pending.pop())
                with paused():
                    other.start()
                    other.join(timeout=30)
                assert not other.is_alive()
            return found

        return wrapped

    for name in ("identified", "identified_with_groups"):  # SQLite's and PostgreSQL's read
        monkeypatch.setattr(resources, name, after_read(getattr(resources, name)))
    yield pending.append
    assert not pending, "no update read its resource"


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_an_update_overtaken_after_its_read_is_made_again_on_the_locked_row(
    scim: ScimClient, overtaken: Callable[[Callable[[], Any]], None], method: str
) -> None:
    user = scim.create_user("ada", title="engineer")
    path = f"/Users/{user['id']}"
    start = head(scim)

    def other_writer() -> None:
        response = scim.patch(path, _replace("nickName", "Countess"))
        assert response.status_code == 200, response.get_json()

    overtaken(other_writer)
    if method == "PATCH":
        response = scim.patch(path, _replace("title", "analyst"))
    else:
        body = {"schemas": [USER], "userName": "ada", "title": "analyst", "nickName": "Countess"}
        response = scim.put(path, body)
    assert response.status_code == 200, response.get_json()
    written = response.get_json()
    assert (written["title"], written["nickName"]) == ("analyst", "Countess")
    assert written["meta"]["version"] == 'W/"3"' == response.headers["ETag"]
    assert scim.get(path).get_json() == written
    changes = changes_since(scim, start)
    assert kinds(changes) == ["user.updated", "user.updated"]
    assert [(c["attributes"], c["version"]) for c in changes] == [
        (["nickName"], 'W/"2"'),
        (["title"], 'W/"3"'),
    ]
    for query, total in (('title eq "analyst"', 1), ('title eq "engineer"', 0)):
        assert scim.get(f"/Users?filter={query}").get_json()["totalResults"] == total


def test_an_overtaken_update_whose_if_match_is_now_stale_is_412(
    scim: ScimClient, overtaken: Callable[[Callable[[], Any]], None]
) -> None:
    user = scim.create_user("grace")
    path = f"/Users/{user['id']}"
    overtaken(lambda: scim.patch(path, _replace("title", "admiral")))
    response = scim.patch(path, _replace("title", "rear admiral"), headers={"If-Match": 'W/"1"'})
    assert_scim_error(response, 412)
    assert scim.get(path).get_json()["title"] == "admiral"


def test_updates_keep_the_stored_password_unless_they_send_one(
    scim: ScimClient, app: Flask
) -> None:
    user = scim.create_user("linus", password="first-Secret-1")
    path = f"/Users/{user['id']}"
    first = _password_hash(app, user["id"])
    assert first is not None
    assert scim.patch(path, _replace("title", "maintainer")).status_code == 200
    assert scim.put(path, {"schemas": [USER], "userName": "linus"}).status_code == 200
    assert _password_hash(app, user["id"]) == first
    assert scim.patch(path, _replace("password", "second-Secret-2")).status_code == 200
    second = _password_hash(app, user["id"])
    assert second not in (None, first)


def test_a_refused_rename_writes_nothing(scim: ScimClient) -> None:
    scim.create_user("taken")
    user = scim.create_user("barbara", title="lead")
    path = f"/Users/{user['id']}"
    start = head(scim)
    response = scim.put(path, {"schemas": [USER], "userName": "TAKEN", "title": "other"})
    assert_scim_error(response, 409, "uniqueness")
    response = scim.patch(path, _replace("userName", "taken"))
    assert_scim_error(response, 409, "uniqueness")
    assert scim.get(path).get_json() == user
    assert changes_since(scim, start) == []
    assert scim.get('/Users?filter=title eq "other"').get_json()["totalResults"] == 0
    assert scim.get('/Users?filter=title eq "lead"').get_json()["totalResults"] == 1


def test_a_no_op_update_answers_the_resource_and_writes_nothing(scim: ScimClient) -> None:
    user = scim.create_user("edsger", title="professor")
    path = f"/Users/{user['id']}"
    start = head(scim)
    response = scim.patch(path, _replace("title", "professor"))
    assert response.status_code == 200 and response.get_json() == user
    response = scim.put(path, {"schemas": [USER], "userName": "edsger", "title": "professor"})
    assert response.status_code == 200 and response.get_json() == user
    assert changes_since(scim, start) == []


def test_an_update_answers_the_groups_of_its_user(scim: ScimClient) -> None:
    user = scim.create_user("margaret")
    group = scim.post(
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Apollo",
            "members": [{"value": user["id"]}],
        },
    ).get_json()
    path = f"/Users/{user['id']}"
    written = scim.patch(path, _replace("title", "director")).get_json()
    assert [(g["value"], g["display"]) for g in written["groups"]] == [(group["id"], "Apollo")]
    assert scim.get(path).get_json() == written
    bare = scim.patch(f"{path}?excludedAttributes=groups", _replace("title", "lead")).get_json()
    assert "groups" not in bare and bare["title"] == "lead"
