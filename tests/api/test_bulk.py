"""POST /Bulk (RFC 7644 §3.7): what a client sees in the BulkResponse, and what is stored."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.conftest import ScimClient, assert_scim_error, make_client

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BASE = "https://scim.test/scim/v2"


def bulk(scim: ScimClient, *operations: Any, **envelope: Any) -> TestResponse:
    return scim.post(
        "/Bulk", {"schemas": [BULK_REQUEST], "Operations": list(operations), **envelope}
    )


def results(response: TestResponse) -> list[dict[str, Any]]:
    """The BulkResponse's operations, after checking the envelope every answer shares."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [BULK_RESPONSE]
    assert set(body) == {"schemas", "Operations"}
    operations: list[dict[str, Any]] = body["Operations"]
    for operation in operations:
        assert isinstance(operation["status"], str)
        assert operation["status"] != "500", operation
    return operations


def assert_failed(result: dict[str, Any], status: int, scim_type: str | None = None) -> None:
    """One operation's result is a failure carrying a SCIM error as its ``response``."""
    assert result["status"] == str(status), result
    error = result["response"]
    assert error["schemas"] == [ERROR]
    assert error["status"] == str(status)
    assert error["detail"]
    if scim_type is not None:
        assert error.get("scimType") == scim_type, error


def post_user(user_name: str, bulk_id: str | None = None, **attrs: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "method": "POST",
        "path": "/Users",
        "data": {"schemas": [USER], "userName": user_name, **attrs},
    }
    if bulk_id is not None:
        operation["bulkId"] = bulk_id
    return operation


def post_group(name: str, bulk_id: str, *member_bulk_ids: str, **attrs: Any) -> dict[str, Any]:
    members = [{"value": f"bulkId:{b}"} for b in member_bulk_ids]
    return {
        "method": "POST",
        "path": "/Groups",
        "bulkId": bulk_id,
        "data": {"schemas": [GROUP], "displayName": name, "members": members, **attrs},
    }


def id_of(result: dict[str, Any], endpoint: str) -> str:
    location: str = result["location"]
    assert location.startswith(f"{BASE}/{endpoint}/"), location
    return location.rsplit("/", 1)[-1]


def member_ids(scim: ScimClient, group_id: str) -> set[str]:
    group = scim.get(f"/Groups/{group_id}").get_json()
    return {m["value"] for m in group.get("members", [])}


def total(scim: ScimClient, endpoint: str) -> int:
    count: int = scim.get(f"/{endpoint}?count=0").get_json()["totalResults"]
    return count


# -- RFC 7644 §3.7 examples -----------------------------------------------------------


def test_rfc_3_7_create_put_patch_delete_in_one_request(scim: ScimClient) -> None:
    """§3.7/§3.7.3: POST, POST referencing it, PUT, PATCH, DELETE; each status as alone."""
    bob = scim.create_user("bob-before")
    dave = scim.create_user("dave-before", nickName="Davey")
    eve = scim.create_user("eve")
    response = bulk(
        scim,
        # The RFC's example sends this (misspelt) schema URN; the core one is meant.
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": "qwerty",
            "data": {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:User"],
                "userName": "Alice",
            },
        },
        post_group("Tour Guides", "ytrewq", "qwerty"),
        {
            "method": "PUT",
            "path": f"/Users/{bob['id']}",
            "version": bob["meta"]["version"],
            "data": {"schemas": [USER], "id": bob["id"], "userName": "Bob"},
        },
        {
            "method": "PATCH",
            "path": f"/Users/{dave['id']}",
            "version": dave["meta"]["version"],
            "data": {
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "remove", "path": "nickName"},
                    {"op": "replace", "path": "userName", "value": "Dave"},
                ],
            },
        },
        {"method": "DELETE", "path": f"/Users/{eve['id']}", "version": eve["meta"]["version"]},
        failOnErrors=1,
    )
    alice, group, put, patch, delete = results(response)
    alice_id, group_id = id_of(alice, "Users"), id_of(group, "Groups")
    assert alice == {
        "method": "POST",
        "bulkId": "qwerty",
        "location": f"{BASE}/Users/{alice_id}",
        "version": 'W/"1"',
        "status": "201",
    }
    assert group == {
        "method": "POST",
        "bulkId": "ytrewq",
        "location": f"{BASE}/Groups/{group_id}",
        "version": 'W/"1"',
        "status": "201",
    }
    assert put == {
        "method": "PUT",
        "location": f"{BASE}/Users/{bob['id']}",
        "version": 'W/"2"',
        "status": "200",
    }
    assert patch == {
        "method": "PATCH",
        "location": f"{BASE}/Users/{dave['id']}",
        "version": 'W/"2"',
        "status": "200",
    }
    assert delete == {"method": "DELETE", "location": f"{BASE}/Users/{eve['id']}", "status": "204"}

    stored_alice = scim.get(f"/Users/{alice_id}").get_json()
    assert stored_alice["userName"] == "Alice"
    # Joining "Tour Guides" (the next operation) changed Alice's groups, so her version.
    assert stored_alice["meta"]["version"] == 'W/"2"' != alice["version"]
    assert stored_alice["groups"][0]["value"] == group_id
    assert member_ids(scim, group_id) == {alice_id}
    assert scim.get(f"/Users/{bob['id']}").get_json()["userName"] == "Bob"
    stored_dave = scim.get(f"/Users/{dave['id']}").get_json()
    assert stored_dave["userName"] == "Dave"
    assert "nickName" not in stored_dave
    assert stored_dave["meta"]["version"] == patch["version"]
    assert_scim_error(scim.get(f"/Users/{eve['id']}"), 404)


def test_rfc_3_7_1_circular_group_references_are_resolved(scim: ScimClient) -> None:
    """§3.7.1: Group A and Group B, each a member of the other, are both created."""
    response = bulk(
        scim,
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "qwerty",
            "data": {
                "schemas": [GROUP],
                "displayName": "Group A",
                "members": [{"type": "Group", "value": "bulkId:ytrewq"}],
            },
        },
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "ytrewq",
            "data": {
                "schemas": [GROUP],
                "displayName": "Group B",
                "members": [{"type": "Group", "value": "bulkId:qwerty"}],
            },
        },
    )
    a, b = results(response)
    assert (a["bulkId"], a["status"], b["bulkId"], b["status"]) == (
        "qwerty",
        "201",
        "ytrewq",
        "201",
    )
    a_id, b_id = id_of(a, "Groups"), id_of(b, "Groups")

    listed = scim.get('/Groups?filter=displayName sw "Group"&sortBy=displayName').get_json()
    assert listed["totalResults"] == 2
    group_a, group_b = listed["Resources"]
    assert (group_a["id"], group_b["id"]) == (a_id, b_id)
    assert group_a["members"] == [{"value": b_id, "type": "Group", "$ref": f"{BASE}/Groups/{b_id}"}]
    assert group_b["members"] == [{"value": a_id, "type": "Group", "$ref": f"{BASE}/Groups/{a_id}"}]
    # The version each result reports is the one a later If-Match must use.
    assert a["version"] == group_a["meta"]["version"]
    assert b["version"] == group_b["meta"]["version"]


def test_circular_groups_with_a_user_member(scim: ScimClient) -> None:
    """A three-way request: a user, and two groups members of each other, one with the user."""
    group_b = post_group("Group B", "b")
    group_b["data"]["members"] = [{"value": "bulkId:a", "display": "The A team"}]
    response = bulk(
        scim,
        post_group("Group A", "a", "b", "u"),
        group_b,
        post_user("cycle-user", "u"),
    )
    a, b, u = results(response)
    assert [r["status"] for r in (a, b, u)] == ["201", "201", "201"]
    a_id, b_id, u_id = id_of(a, "Groups"), id_of(b, "Groups"), id_of(u, "Users")
    assert member_ids(scim, a_id) == {b_id, u_id}
    # B's member closing the cycle is added after A exists, as the client sent it.
    assert scim.get(f"/Groups/{b_id}").get_json()["members"] == [
        {"value": a_id, "type": "Group", "$ref": f"{BASE}/Groups/{a_id}", "display": "The A team"}
    ]
    groups = scim.get(f"/Users/{u_id}").get_json()["groups"]
    assert [g["value"] for g in groups] == [a_id]


def test_rfc_3_7_2_bulk_id_references_a_user_created_in_the_same_request(
    scim: ScimClient,
) -> None:
    response = bulk(
        scim,
        post_user("Alice", "qwerty"),
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "ytrewq",
            "data": {
                "schemas": [GROUP],
                "displayName": "Tour Guides",
                "members": [{"type": "User", "value": "bulkId:qwerty"}],
            },
        },
    )
    alice, group = results(response)
    assert [(r["method"], r["bulkId"], r["status"]) for r in (alice, group)] == [
        ("POST", "qwerty", "201"),
        ("POST", "ytrewq", "201"),
    ]
    alice_id, group_id = id_of(alice, "Users"), id_of(group, "Groups")
    fetched = scim.get(f"/Groups/{group_id}").get_json()
    assert fetched["displayName"] == "Tour Guides"
    assert fetched["members"] == [
        {"value": alice_id, "type": "User", "$ref": f"{BASE}/Users/{alice_id}"}
    ]


def test_rfc_3_7_2_bulk_id_inside_an_extension(scim: ScimClient) -> None:
    """§3.7.2: references in extensions (the enterprise manager) are resolved the same way."""
    response = bulk(
        scim,
        post_user("Alice", "qwerty"),
        post_user(
            "Bob",
            "ytrewq",
            schemas=[USER, ENTERPRISE],
            **{ENTERPRISE: {"employeeNumber": "11250", "manager": {"value": "bulkId:qwerty"}}},
        ),
    )
    alice, bob = results(response)
    assert (alice["status"], bob["status"]) == ("201", "201")
    stored = scim.get(f"/Users/{id_of(bob, 'Users')}").get_json()
    assert stored[ENTERPRISE]["manager"]["value"] == id_of(alice, "Users")
    assert stored[ENTERPRISE]["employeeNumber"] == "11250"


def test_rfc_3_7_3_fail_on_errors_1_stops_after_the_first_error(scim: ScimClient) -> None:
    bob = scim.create_user("bob")
    response = bulk(
        scim,
        {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {"schemas": [USER]}},
        {
            "method": "PUT",
            "path": f"/Users/{bob['id']}",
            "data": {"schemas": [USER], "userName": "Bob2"},
        },
        {"method": "DELETE", "path": f"/Users/{bob['id']}"},
        failOnErrors=1,
    )
    (only,) = results(response)
    assert only["method"] == "POST"
    assert only["bulkId"] == "qwerty"
    assert "location" not in only  # a failed POST has nothing to point at
    assert_failed(only, 400, "invalidValue")
    stored = scim.get(f"/Users/{bob['id']}").get_json()
    assert stored["userName"] == "bob"
    assert stored["meta"]["version"] == bob["meta"]["version"]


def test_rfc_3_7_3_without_fail_on_errors_every_error_is_reported(scim: ScimClient) -> None:
    """§3.7.3's all-failed example: 400 POST, 412 PUT and PATCH, 404 DELETE."""
    bob = scim.create_user("bob")
    dave = scim.create_user("dave")
    stale = 'W/"99"'
    missing = "e9025315-6bea-44e1-899c-1e07454e468b"
    response = bulk(
        scim,
        {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {"userName": 7}},
        {
            "method": "PUT",
            "path": f"/Users/{bob['id']}",
            "version": stale,
            "data": {"schemas": [USER], "userName": "Bob"},
        },
        {
            "method": "PATCH",
            "path": f"/Users/{dave['id']}",
            "version": stale,
            "data": {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "userName", "value": "Dave"}],
            },
        },
        {"method": "DELETE", "path": f"/Users/{missing}"},
    )
    post, put, patch, delete = results(response)
    assert_failed(post, 400, "invalidValue")
    assert "location" not in post
    assert_failed(put, 412)
    assert put["location"] == f"{BASE}/Users/{bob['id']}"
    assert_failed(patch, 412)
    assert patch["location"] == f"{BASE}/Users/{dave['id']}"
    assert_failed(delete, 404)
    assert delete["location"] == f"{BASE}/Users/{missing}"
    assert scim.get(f"/Users/{bob['id']}").get_json()["userName"] == "bob"
    assert scim.get(f"/Users/{dave['id']}").get_json()["userName"] == "dave"
    assert total(scim, "Users") == 2


def test_fail_on_errors_counts_errors_and_lets_successes_between_them_run(
    scim: ScimClient,
) -> None:
    response = bulk(
        scim,
        {"method": "DELETE", "path": "/Users/nope-1"},
        post_user("between"),
        {"method": "DELETE", "path": "/Users/nope-2"},
        post_user("after"),
        failOnErrors=2,
    )
    first, between, second = results(response)
    assert (first["status"], between["status"], second["status"]) == ("404", "201", "404")
    names = {u["userName"] for u in scim.get("/Users").get_json()["Resources"]}
    assert names == {"between"}


def test_fail_on_errors_zero_means_no_limit(scim: ScimClient) -> None:
    """Some SDKs serialise an unset integer as 0; it is read as "not given"."""
    response = bulk(
        scim, {"method": "DELETE", "path": "/Users/nope"}, post_user("after"), failOnErrors=0
    )
    assert [r["status"] for r in results(response)] == ["404", "201"]


@pytest.mark.parametrize("value", [-1, "1", True, 1.5, [1]])
def test_invalid_fail_on_errors_is_400(scim: ScimClient, value: Any) -> None:
    assert_scim_error(bulk(scim, post_user("x"), failOnErrors=value), 400, "invalidValue")
    assert total(scim, "Users") == 0


def test_rfc_3_7_4_too_many_operations_is_413(scim: ScimClient) -> None:
    operations = [post_user(f"u{i}", f"b{i}") for i in range(1001)]
    response = bulk(scim, *operations)
    assert_scim_error(response, 413, "tooLarge")
    assert "1000" in response.get_json()["detail"]  # the limit exceeded is named
    assert total(scim, "Users") == 0


def test_rfc_3_7_4_payload_over_max_payload_size_is_413_before_parsing(
    scim: ScimClient,
) -> None:
    raw = b"{" + b" " * 1_048_576 + b"not even json"
    response = scim.open(
        "POST", "/Bulk", data=raw, headers={"Content-Type": "application/scim+json"}
    )
    assert_scim_error(response, 413, "tooLarge")
    assert "1048576" in response.get_json()["detail"]


def chunked(scim: ScimClient, raw: bytes) -> TestResponse:
    """POST /Bulk as a chunked body: no Content-Length, the server terminates the stream."""
    return scim.client.open(
        "/scim/v2/Bulk",
        method="POST",
        input_stream=io.BytesIO(raw),
        headers={
            "Authorization": f"Bearer {scim.token}",
            "Content-Type": "application/scim+json",
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_payload_limit_without_content_length_is_413(scim: ScimClient) -> None:
    """A chunked body is cut off at maxPayloadSize while reading: 413, not a JSON error."""
    small = json.dumps({"Operations": [post_user("chunked")]}).encode()
    assert [r["status"] for r in results(chunked(scim, small))] == ["201"]
    big = b'{"Operations": [' + b" " * 1_048_576 + b"]}"
    assert_scim_error(chunked(scim, big), 413, "tooLarge")


def test_bulk_limits_come_from_the_bulk_settings(
    scim: ScimClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """maxOperations and maxPayloadSize are the advertised settings, not max_body_bytes."""
    server = app.extensions["scimserver"]
    limits = replace(server.settings, bulk_max_operations=2, bulk_max_payload_bytes=4096)
    monkeypatch.setitem(app.extensions, "scimserver", replace(server, settings=limits))
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100)  # the app-wide limit
    config = scim.get("/ServiceProviderConfig").get_json()["bulk"]
    assert config == {"supported": True, "maxOperations": 2, "maxPayloadSize": 4096}

    assert [r["status"] for r in results(bulk(scim, post_user("a"), post_user("b")))] == [
        "201",
        "201",
    ]
    assert_scim_error(bulk(scim, *(post_user(f"c{i}") for i in range(3))), 413, "tooLarge")
    padded = post_user("d", title="x" * 5000)
    assert_scim_error(bulk(scim, padded), 413, "tooLarge")
    assert total(scim, "Users") == 2


# -- the acceptance criterion: 1,000 operations ----------------------------------------


def test_thousand_operations_create_999_users_and_a_group_of_all_of_them(
    scim: ScimClient,
) -> None:
    users = [post_user(f"bulk-user-{i:04d}", f"u{i}") for i in range(999)]
    group = post_group("Everyone", "everyone", *(f"u{i}" for i in range(999)))
    started = time.monotonic()
    # The group comes first: it runs after the users it references all the same.
    response = bulk(scim, group, *users)
    elapsed = time.monotonic() - started
    outcomes = results(response)
    assert len(outcomes) == 1000
    assert outcomes[0]["bulkId"] == "everyone"
    assert [r["bulkId"] for r in outcomes[1:]] == [f"u{i}" for i in range(999)]
    assert {r["status"] for r in outcomes} == {"201"}
    user_ids = {id_of(r, "Users") for r in outcomes[1:]}
    assert len(user_ids) == 999
    assert member_ids(scim, id_of(outcomes[0], "Groups")) == user_ids
    assert total(scim, "Users") == 999
    assert elapsed < 60, elapsed


# -- bulkId references ----------------------------------------------------------------


def test_forward_reference_runs_the_referenced_post_first(scim: ScimClient) -> None:
    response = bulk(scim, post_group("Early", "g", "u"), post_user("late", "u"))
    group, user = results(response)
    assert (group["bulkId"], user["bulkId"]) == ("g", "u")  # request order in the answer
    assert member_ids(scim, id_of(group, "Groups")) == {id_of(user, "Users")}


def test_bulk_id_in_a_path_and_in_a_patch_filter(scim: ScimClient) -> None:
    response = bulk(
        scim,
        post_user("one", "u1"),
        post_user("two", "u2"),
        post_group("Patched", "g"),
        {
            "method": "PATCH",
            "path": "/Groups/bulkId:g",
            "data": {
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}]},
                    {"op": "add", "value": {"members": [{"value": "bulkId:u2"}]}},
                ],
            },
        },
        {
            "method": "PATCH",
            "path": "/Groups/bulkId:g",
            "data": {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "remove", "path": 'members[value eq "bulkId:u1"]'}],
            },
        },
    )
    one, two, group, add, remove = results(response)
    group_id = id_of(group, "Groups")
    assert (add["status"], remove["status"]) == ("204", "204")
    assert add["location"] == remove["location"] == f"{BASE}/Groups/{group_id}"
    assert member_ids(scim, group_id) == {id_of(two, "Users")}
    assert remove["version"] == scim.get(f"/Groups/{group_id}").get_json()["meta"]["version"]
    assert one["status"] == "201"


def test_text_mentioning_bulk_id_is_left_alone(scim: ScimClient) -> None:
    """Only whole values (and paths) are references; free text may say "bulkId:"."""
    response = bulk(scim, post_user("texty", "t", title="see bulkId:nothing here"))
    (created,) = results(response)
    assert created["status"] == "201"
    stored = scim.get(f"/Users/{id_of(created, 'Users')}").get_json()
    assert stored["title"] == "see bulkId:nothing here"


def test_undeclared_bulk_id_is_400_invalid_value(scim: ScimClient) -> None:
    response = bulk(
        scim,
        post_group("Orphan", "g", "never-declared"),
        {"method": "DELETE", "path": "/Users/bulkId:nobody"},
    )
    group, delete = results(response)
    assert_failed(group, 400, "invalidValue")
    assert_failed(delete, 400, "invalidValue")
    assert total(scim, "Groups") == 0


def test_reference_to_a_failed_post_is_409(scim: ScimClient) -> None:
    response = bulk(
        scim,
        {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"userName": 7}},
        post_group("Depends", "g", "bad"),
        {"method": "DELETE", "path": "/Users/bulkId:bad"},
    )
    user, group, delete = results(response)
    assert_failed(user, 400)
    assert_failed(group, 409)
    assert_failed(delete, 409)
    assert total(scim, "Groups") == 0


def test_reference_to_a_bulk_id_of_a_non_post_is_400(scim: ScimClient) -> None:
    """Only a POST creates something a bulkId can stand for."""
    user = scim.create_user("put-target")
    response = bulk(
        scim,
        {
            "method": "PUT",
            "path": f"/Users/{user['id']}",
            "bulkId": "p",
            "data": {"userName": "put-target"},
        },
        post_group("Refers", "g", "p"),
    )
    put, group = results(response)
    assert put["status"] == "200"
    assert_failed(group, 400, "invalidValue")


def test_duplicate_bulk_ids_reject_the_whole_request(scim: ScimClient) -> None:
    response = bulk(scim, post_user("a", "same"), post_user("b", "same"))
    assert_scim_error(response, 400, "invalidValue")
    assert total(scim, "Users") == 0


@pytest.mark.parametrize("fail_on_errors", [None, 1])
def test_circular_reference_through_a_failing_post_leaves_nothing(
    scim: ScimClient, fail_on_errors: int | None
) -> None:
    """Group B is created without A, A fails: B is removed again and answers 409."""
    response = bulk(
        scim,
        post_group("Group A", "a", "b", externalId=7),
        post_group("Group B", "b", "a"),
        **({} if fail_on_errors is None else {"failOnErrors": fail_on_errors}),
    )
    a, b = results(response)
    assert_failed(a, 400, "invalidValue")
    assert_failed(b, 409)
    assert "location" not in b
    assert total(scim, "Groups") == 0


def test_circular_reference_outside_members_is_409(scim: ScimClient) -> None:
    """Two users managing each other: the cycle cannot be broken, both answer 409."""

    def managed_by(user_name: str, bulk_id: str, manager: str) -> dict[str, Any]:
        extension = {ENTERPRISE: {"manager": {"value": f"bulkId:{manager}"}}}
        return post_user(user_name, bulk_id, schemas=[USER, ENTERPRISE], **extension)

    response = bulk(scim, managed_by("x", "x", "y"), managed_by("y", "y", "x"))
    x, y = results(response)
    assert_failed(x, 409)
    assert_failed(y, 409)
    assert total(scim, "Users") == 0


def test_group_that_is_its_own_member_is_created_as_a_single_patch_allows(
    scim: ScimClient,
) -> None:
    response = bulk(scim, post_group("Narcissus", "n", "n"))
    (only,) = results(response)
    assert only["status"] == "201"
    group_id = id_of(only, "Groups")
    assert member_ids(scim, group_id) == {group_id}
    assert only["version"] == scim.get(f"/Groups/{group_id}").get_json()["meta"]["version"]


# -- the envelope ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        [],
        "Operations",
        None,
        7,
        {},
        {"schemas": [BULK_REQUEST]},
        {"schemas": [BULK_REQUEST], "Operations": None},
        {"schemas": [BULK_REQUEST], "Operations": {"method": "POST"}},
        {"schemas": [PATCH_OP], "Operations": []},
        {"schemas": BULK_REQUEST, "Operations": []},
        {"schemas": [], "Operations": []},
    ],
)
def test_malformed_envelope_is_400(scim: ScimClient, body: Any) -> None:
    response = scim.open(
        "POST", "/Bulk", data=json.dumps(body), headers={"Content-Type": "application/scim+json"}
    )
    assert_scim_error(response, 400)


@pytest.mark.parametrize("raw", [b"", b"{", b'{"Operations": [}', b'{"Operations": NaN}'])
def test_invalid_json_is_400_invalid_syntax(scim: ScimClient, raw: bytes) -> None:
    response = scim.open(
        "POST", "/Bulk", data=raw, headers={"Content-Type": "application/scim+json"}
    )
    assert_scim_error(response, 400, "invalidSyntax")


def test_envelope_is_read_liberally(scim: ScimClient) -> None:
    """Attribute names are case-insensitive; a missing ``schemas`` is tolerated."""
    response = scim.post("/Bulk", {"operations": [post_user("liberal", "l")], "FAILONERRORS": 1})
    assert [r["status"] for r in results(response)] == ["201"]


def test_empty_version_is_no_precondition(scim: ScimClient) -> None:
    """An SDK's unset string field: "version": "" sets no If-Match."""
    user = scim.create_user("unversioned")
    response = bulk(scim, {"method": "DELETE", "path": f"/Users/{user['id']}", "version": ""})
    assert [r["status"] for r in results(response)] == ["204"]


def test_empty_operations_is_an_empty_response(scim: ScimClient) -> None:
    assert results(bulk(scim)) == []


def test_read_token_is_403(app: Flask) -> None:
    reader = make_client(app, scope="read")
    response = bulk(reader, post_user("nope"))
    assert_scim_error(response, 403)
    writer = make_client(app, tenant=reader.tenant)
    assert total(writer, "Users") == 0


def test_no_token_is_401(app: Flask) -> None:
    response = app.test_client().post("/scim/v2/Bulk", json={"Operations": []})
    assert_scim_error(response, 401)


# -- one operation at a time ----------------------------------------------------------


def test_each_operation_is_atomic_on_its_own(scim: ScimClient) -> None:
    """A failing operation writes nothing of itself; those before it stay written."""
    target = scim.create_user("target", title="Before")
    response = bulk(
        scim,
        post_user("first", "first"),
        {
            "method": "PATCH",
            "path": f"/Users/{target['id']}",
            "data": {
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "replace", "path": "title", "value": "After"},
                    {"op": "replace", "path": "nosuch", "value": "x"},
                ],
            },
        },
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "half",
            "data": {"displayName": "Half", "members": [{"value": "bulkId:first"}, {"value": "x"}]},
        },
        post_user("last", "last"),
    )
    first, patch, group, last = results(response)
    assert first["status"] == "201"
    assert_failed(patch, 400, "invalidPath")
    assert_failed(group, 400, "invalidValue")
    assert last["status"] == "201"
    stored = scim.get(f"/Users/{target['id']}").get_json()
    assert stored["title"] == "Before"
    assert stored["meta"]["version"] == target["meta"]["version"]
    assert total(scim, "Groups") == 0
    assert {u["userName"] for u in scim.get("/Users").get_json()["Resources"]} == {
        "target",
        "first",
        "last",
    }


def test_version_is_if_match(scim: ScimClient) -> None:
    """A matching ``version`` lets the write through; a stale one is 412 and writes nothing."""
    user = scim.create_user("versioned")
    group = scim.create_group("Versioned")
    current, stale = user["meta"]["version"], 'W/"7"'
    replace_body = {"schemas": [USER], "userName": "versioned", "title": "T"}
    patch_body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "title", "value": "P"}],
    }
    response = bulk(
        scim,
        {"method": "PUT", "path": f"/Users/{user['id']}", "version": stale, "data": replace_body},
        {"method": "PATCH", "path": f"/Users/{user['id']}", "version": stale, "data": patch_body},
        {"method": "DELETE", "path": f"/Groups/{group['id']}", "version": stale},
        {"method": "PUT", "path": f"/Users/{user['id']}", "version": current, "data": replace_body},
    )
    put, patch, delete, good = results(response)
    for failed in (put, patch, delete):
        assert_failed(failed, 412)
        assert "version" not in failed
    assert good["status"] == "200"
    assert good["version"] == 'W/"2"'
    assert scim.get(f"/Users/{user['id']}").get_json()["title"] == "T"
    assert scim.get(f"/Groups/{group['id']}").status_code == 200


def test_bulk_is_tenant_isolated(app: Flask) -> None:
    owner, other = make_client(app), make_client(app)
    user = owner.create_user("owned", title="Mine")
    group = owner.create_group("Owned", [user["id"]])
    response = bulk(
        other,
        {"method": "PUT", "path": f"/Users/{user['id']}", "data": {"userName": "stolen"}},
        {
            "method": "PATCH",
            "path": f"/Groups/{group['id']}",
            "data": {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "members"}]},
        },
        {"method": "DELETE", "path": f"/Users/{user['id']}"},
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "g",
            "data": {"displayName": "Thief", "members": [{"value": user["id"]}]},
        },
    )
    put, patch, delete, post = results(response)
    for failed in (put, patch, delete):
        assert_failed(failed, 404)
    assert_failed(post, 400, "invalidValue")
    stored = owner.get(f"/Users/{user['id']}").get_json()
    assert (stored["userName"], stored["title"]) == ("owned", "Mine")
    assert member_ids(owner, group["id"]) == {user["id"]}
    assert total(other, "Users") == 0 and total(other, "Groups") == 0


# -- malformed operations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "status"),
    [
        ({"method": "GET", "path": "/Users"}, 400),
        ({"method": "HEAD", "path": "/Users/x"}, 400),
        ({"method": None, "path": "/Users"}, 400),
        ({"method": 5, "path": "/Users", "data": {}}, 400),
        ({"path": "/Users", "data": {"userName": "m"}}, 400),
        ({"method": "POST", "path": "/Nope", "bulkId": "n", "data": {"userName": "n"}}, 404),
        ({"method": "POST", "path": "/Bulk", "bulkId": "n", "data": {"userName": "n"}}, 404),
        ({"method": "POST", "path": "/Schemas", "bulkId": "n", "data": {}}, 404),
        ({"method": "POST", "path": "/Users/x/y", "bulkId": "n", "data": {}}, 404),
        ({"method": "DELETE", "path": "/Users/x/y"}, 404),
        ({"method": "POST", "path": "/", "bulkId": "n", "data": {}}, 400),
        ({"method": "POST", "path": "", "bulkId": "n", "data": {}}, 400),
        ({"method": "POST", "path": None, "bulkId": "n", "data": {}}, 400),
        ({"method": "POST", "path": 5, "bulkId": "n", "data": {}}, 400),
        ({"method": "POST", "bulkId": "n", "data": {"userName": "n"}}, 400),
        ({"method": "POST", "path": "/Users/some-id", "bulkId": "n", "data": {}}, 405),
        ({"method": "PUT", "path": "/Users", "data": {"userName": "n"}}, 405),
        ({"method": "DELETE", "path": "/Groups"}, 405),
        ({"method": "PATCH", "path": "/Users"}, 400),
        ({"method": "POST", "path": "/Users", "bulkId": "n", "data": []}, 400),
        ({"method": "POST", "path": "/Users", "bulkId": "n", "data": "userName"}, 400),
        ({"method": "POST", "path": "/Users", "bulkId": "n", "data": None}, 400),
        ({"method": "PUT", "path": "/Users/x", "data": 7}, 400),
        ({"method": "PATCH", "path": "/Users/x", "data": {"Operations": "x"}}, 400),
        ({"method": "POST", "path": "/Users", "bulkId": 5, "data": {"userName": "n"}}, 400),
        ({"method": "POST", "path": "/Users", "bulkId": "", "data": {"userName": "n"}}, 400),
        ({"method": "DELETE", "path": "/Users/x", "version": 3}, 400),
        ({"method": "DELETE", "path": "/Users/bulkId:"}, 400),
        ({"method": "POST", "path": "/Users", "data": {"userName": "bulkId:"}}, 400),
    ],
)
def test_malformed_operation_is_a_per_operation_error(
    scim: ScimClient, operation: dict[str, Any], status: int
) -> None:
    response = bulk(scim, operation, post_user("still-runs"))
    failed, ok = results(response)
    assert_failed(failed, status)
    assert ok["status"] == "201"
    assert total(scim, "Users") == 1


@pytest.mark.parametrize("item", [None, "POST /Users", 7, [], [{"method": "POST"}]])
def test_operation_that_is_not_an_object_is_400(scim: ScimClient, item: Any) -> None:
    (failed,) = results(bulk(scim, item))
    assert_failed(failed, 400, "invalidSyntax")
    assert "method" in failed


def test_lowercase_method_is_accepted(scim: ScimClient) -> None:
    """HTTP methods are case-sensitive, but no client means anything else by "post"."""
    user = scim.create_user("lower")
    response = bulk(
        scim,
        post_user("created", "c") | {"method": "post"},
        {"method": "Delete", "path": f"/Users/{user['id']}"},
    )
    created, deleted = results(response)
    assert (created["method"], created["status"]) == ("POST", "201")
    assert (deleted["method"], deleted["status"]) == ("DELETE", "204")


def test_operation_keys_are_case_insensitive(scim: ScimClient) -> None:
    response = bulk(
        scim, {"METHOD": "POST", "Path": "/users", "BulkId": "k", "Data": {"userName": "k"}}
    )
    (created,) = results(response)
    assert (created["bulkId"], created["status"]) == ("k", "201")
    assert created["location"].startswith(f"{BASE}/Users/")


def test_deeply_nested_data_is_400_not_500(scim: ScimClient) -> None:
    nested: Any = "bulkId:x"
    for _ in range(200):
        nested = {"a": nested}
    response = bulk(scim, post_user("deep", "d", title=nested), post_user("fine", "f"))
    deep, fine = results(response)
    assert_failed(deep, 400)
    assert fine["status"] == "201"


def test_a_bug_in_one_operation_is_its_own_500(
    scim: ScimClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected error is reported for that operation only, with nothing internal."""
    from scimserver.service import resources

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(resources.ResourceService, "delete", boom)
    response = scim.post(
        "/Bulk",
        {
            "schemas": [BULK_REQUEST],
            "Operations": [{"method": "DELETE", "path": "/Users/x"}, post_user("fine")],
        },
    )
    assert response.status_code == 200
    broken, fine = response.get_json()["Operations"]
    assert broken["status"] == "500"
    assert "secret" not in json.dumps(broken)
    assert "request id" in broken["response"]["detail"]
    assert "secret internal detail" in caplog.text
    assert fine["status"] == "201"


def test_full_paths_and_urls_are_accepted_as_well_as_relative_ones(scim: ScimClient) -> None:
    """RFC 7644 §3.7 paths are relative, but some clients send the path under the base URL."""
    response = bulk(
        scim,
        {**post_user("full-path", "f"), "path": "/scim/v2/Users"},
        {**post_user("full-url", "u"), "path": "https://scim.test/scim/v2/Users"},
        {"method": "DELETE", "path": "/scim/v2/Users/bulkId:f"},
    )
    assert [r["status"] for r in results(response)] == ["201", "201", "204"]
    names = [r["userName"] for r in scim.get("/Users").get_json()["Resources"]]
    assert names == ["full-url"]
