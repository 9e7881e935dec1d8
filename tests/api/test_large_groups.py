"""Large groups are streamed: the same document, read and sent one chunk of members at a time.

A group just over the threshold is seeded straight into the store (the rows the server
would write). Each answer is compared byte for byte with the same request answered with
the threshold raised, i.e. built whole in memory as before streaming existed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import insert
from werkzeug.test import TestResponse

from scimserver.service import reading
from scimserver.store.models import Membership, Resource
from tests.conftest import ScimClient

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LARGE = reading.STREAM_MEMBERS_ABOVE + 500


def tenant_of(app: Flask, scim: ScimClient) -> int:
    principal = app.extensions["scimserver"].tokens.authenticate(scim.token)
    return int(principal.tenant_id)


def seed_users(app: Flask, tenant_id: int, ids: list[str]) -> None:
    moment = datetime.now(UTC).replace(tzinfo=None)
    users = [
        {
            "id": i,
            "tenant_id": tenant_id,
            "resource_type": "User",
            "user_name_key": f"m-{i}",
            "display_name": f"m-{i}",
            "version": 1,
            "created": moment,
            "last_modified": moment,
            "data": {"schemas": [USER], "userName": f"m-{i}"},
        }
        for i in ids
    ]
    with app.extensions["scimserver"].db.write() as session:
        session.execute(insert(Resource), users)


def seed_members(app: Flask, tenant_id: int, group_id: str, count: int) -> list[str]:
    """``count`` new users as members of the group; every third with a ``display``."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    seed_users(app, tenant_id, ids)
    members = [
        {
            "group_id": group_id,
            "member_id": i,
            "member_type": "User",
            "tenant_id": tenant_id,
            "display": f"Member {n}" if n % 3 == 0 else None,
        }
        for n, i in enumerate(ids)
    ]
    with app.extensions["scimserver"].db.write() as session:
        session.execute(insert(Membership), members)
    return ids


@pytest.fixture
def big(scim: ScimClient, app: Flask) -> dict[str, Any]:
    """A group of LARGE members, one of them a group; its id and members' ids."""
    inner = scim.create_group("inner")
    group = scim.create_group("big", [inner["id"]], externalId="ext-big")
    ids = seed_members(app, tenant_of(app, scim), group["id"], LARGE - 1)
    return {"id": group["id"], "members": sorted([*ids, inner["id"]])}


def is_streamed(response: TestResponse) -> bool:
    return "Content-Length" not in response.headers


def built_whole(monkeypatch: pytest.MonkeyPatch, send: Callable[[], TestResponse]) -> bytes:
    """What ``send`` answers when no group counts as large: the document built in memory."""
    with monkeypatch.context() as patched:
        patched.setattr(reading, "STREAM_MEMBERS_ABOVE", 10**9)
        response = send()
    assert response.status_code == 200 and not is_streamed(response)
    return response.get_data()


def connections_in_use(app: Flask) -> int:
    """Connections still checked out once the server's own threads (the activity recorder,
    the asynchronous requests' runner, which share the pool) have let go of theirs: a
    connection a request leaked never comes back (bounded: 3 s)."""
    pool = app.extensions["scimserver"].db.engine.pool
    deadline = time.monotonic() + 3.0
    while pool.checkedout() and time.monotonic() < deadline:
        time.sleep(0.02)
    return int(pool.checkedout())


def test_full_get_streams_the_same_document(
    scim: ScimClient, app: Flask, big: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def send() -> TestResponse:
        return scim.get(f"/Groups/{big['id']}")

    response = send()
    assert response.status_code == 200 and is_streamed(response)
    assert response.mimetype == "application/scim+json"
    assert response.get_data() == built_whole(monkeypatch, send)
    document = response.get_json()
    assert [m["value"] for m in document["members"]] == big["members"]
    assert response.headers["ETag"] == document["meta"]["version"]
    assert connections_in_use(app) == 0


@pytest.mark.parametrize(
    "query",
    [
        "attributes=members.value",
        "attributes=members",
        "attributes=displayName,members.display",  # members without display are left out
        "attributes=members.type,members.$ref",
        "excludedAttributes=members.$ref,externalId",
        "excludedAttributes=meta,members.display",
    ],
)
def test_projections_of_a_streamed_group(
    scim: ScimClient, big: dict[str, Any], monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    def send() -> TestResponse:
        return scim.get(f"/Groups/{big['id']}?{query}")

    response = send()
    assert is_streamed(response)
    assert response.get_data() == built_whole(monkeypatch, send)


def test_members_that_project_to_nothing_leave_no_members_key(
    scim: ScimClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = scim.create_group("no displays")
    seed_members(app, tenant_of(app, scim), group["id"], LARGE)
    with app.extensions["scimserver"].db.write() as session:
        session.query(Membership).where(Membership.group_id == group["id"]).update(
            {"display": None}
        )

    def send() -> TestResponse:
        return scim.get(f"/Groups/{group['id']}?attributes=members.display")

    response = send()
    assert is_streamed(response)
    assert response.get_data() == built_whole(monkeypatch, send)
    assert "members" not in response.get_json()


def test_excluding_members_builds_the_small_document(scim: ScimClient, big: dict[str, Any]) -> None:
    response = scim.get(f"/Groups/{big['id']}?excludedAttributes=members")
    assert response.status_code == 200 and not is_streamed(response)
    assert "members" not in response.get_json()


def test_lists_and_searches_containing_a_large_group(
    scim: ScimClient, big: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    scim.create_group("empty")
    displayed = quote('displayName eq "big"')
    member = quote(f'members.value eq "{big["members"][7]}"')
    external = quote('externalId eq "ext-big"')
    sends: list[Callable[[], TestResponse]] = [
        lambda: scim.get("/Groups"),  # big, inner and empty on one page
        lambda: scim.get(f"/Groups?filter={displayed}&count=10"),
        lambda: scim.get(f"/Groups?filter={member}"),
        lambda: scim.get("/Groups?attributes=members.value&sortBy=displayName"),
        lambda: scim.get("/Groups?cursor=&count=5"),
        lambda: scim.post("/Groups/.search", {"filter": 'displayName eq "big"'}),
        lambda: scim.post("/.search", {"filter": 'displayName eq "big"'}),
        lambda: scim.get(f"/?filter={external}"),
    ]
    for index, send in enumerate(sends):
        response = send()
        assert response.status_code == 200 and is_streamed(response), index
        assert response.get_data() == built_whole(monkeypatch, send)
        found = {r["id"]: r for r in response.get_json()["Resources"]}
        assert [m["value"] for m in found[big["id"]]["members"]] == big["members"]


def test_if_none_match_is_304_before_any_member_is_read(
    scim: ScimClient, app: Flask, big: dict[str, Any]
) -> None:
    version = scim.get(f"/Groups/{big['id']}").headers["ETag"]
    response = scim.get(f"/Groups/{big['id']}", headers={"If-None-Match": version})
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == version
    assert connections_in_use(app) == 0


def test_head_answers_without_a_body(scim: ScimClient, app: Flask, big: dict[str, Any]) -> None:
    response = scim.open("HEAD", f"/Groups/{big['id']}")
    assert response.status_code == 200
    assert response.get_data() == b""
    response.close()  # as every WSGI server does once a response is sent
    assert connections_in_use(app) == 0
    assert response.headers["ETag"] == scim.get(f"/Groups/{big['id']}").headers["ETag"]


def test_errors_are_decided_before_streaming(scim: ScimClient, big: dict[str, Any]) -> None:
    assert scim.get(f"/Groups/{uuid.uuid4()}").status_code == 404
    bad_filter = quote('displayName eq "big" and')
    assert scim.get(f"/Groups?filter={bad_filter}").status_code == 400
    reader = ScimClient(scim.client, "scim_nope_nope", scim.tenant)
    assert reader.get(f"/Groups/{big['id']}").status_code == 401


def pieces(response: TestResponse) -> Iterator[bytes]:
    return iter(response.response)


def test_a_member_added_while_streaming_does_not_break_the_document(
    scim: ScimClient, app: Flask, big: dict[str, Any]
) -> None:
    joiner = {"id": "ffffffff" + str(uuid.uuid4())[8:]}  # sorts last: in the last chunk
    seed_users(app, tenant_of(app, scim), [joiner["id"]])
    response = scim.get(f"/Groups/{big['id']}", buffered=False)
    stream = pieces(response)
    first = next(stream)  # the head: the group row and its version are read
    first += next(stream)  # and the first chunk of members
    add = {"op": "add", "path": "members", "value": [{"value": joiner["id"]}]}
    changed = scim.patch(f"/Groups/{big['id']}", {"schemas": [PATCH_OP], "Operations": [add]})
    assert changed.status_code == 204
    document = json.loads(first + b"".join(stream))
    response.close()
    assert [m["value"] for m in document["members"]] == big["members"]  # the snapshot read
    assert document["meta"]["version"] == response.headers["ETag"] != changed.headers["ETag"]
    after = scim.get(f"/Groups/{big['id']}").get_json()
    assert [m["value"] for m in after["members"]] == sorted([*big["members"], joiner["id"]])
    assert after["meta"]["version"] == changed.headers["ETag"]
    assert connections_in_use(app) == 0


def test_a_client_gone_mid_stream_releases_the_transaction(
    scim: ScimClient, app: Flask, big: dict[str, Any]
) -> None:
    response = scim.get(f"/Groups/{big['id']}", buffered=False)
    next(pieces(response))
    assert connections_in_use(app) == 1
    response.close()
    assert connections_in_use(app) == 0
    user = scim.create_user()  # and writers are not held up
    add = {"op": "add", "path": "members", "value": [{"value": user["id"]}]}
    body = {"schemas": [PATCH_OP], "Operations": [add]}
    assert scim.patch(f"/Groups/{big['id']}", body).status_code == 204


def test_a_group_at_the_threshold_is_built_whole(scim: ScimClient, app: Flask) -> None:
    group = scim.create_group("at the threshold")
    seed_members(app, tenant_of(app, scim), group["id"], reading.STREAM_MEMBERS_ABOVE)
    response = scim.get(f"/Groups/{group['id']}")
    assert response.status_code == 200 and not is_streamed(response)
    assert len(response.get_json()["members"]) == reading.STREAM_MEMBERS_ABOVE
