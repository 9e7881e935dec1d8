"""Conditional requests (RFC 7644 §3.14) through the real server: weak ETags from the
persisted version, If-Match on PUT, PATCH and DELETE, If-None-Match on GET."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.concurrency.conftest import Live
from tests.concurrency.harness import add_members, client, group_body, patch_body, user_body

pytestmark = pytest.mark.slow

SET_TITLE = patch_body({"op": "replace", "path": "title", "value": "Changed"})


def created(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(path, json=body)
    assert response.status_code == 201, response.text
    assert response.headers["ETag"] == response.json()["meta"]["version"]
    document: dict[str, Any] = response.json()
    return document


def read(http: httpx.Client, path: str) -> dict[str, Any]:
    response = http.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == response.json()["meta"]["version"]
    document: dict[str, Any] = response.json()
    return document


def assert_precondition_failed(response: httpx.Response) -> None:
    assert response.status_code == 412, response.text
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "412"


def test_every_write_answers_the_next_weak_etag(live: Live, token: str) -> None:
    with client(live.server, token) as http:
        user = created(http, "/Users", user_body("etag-steps@example.com"))
        path = f"/Users/{user['id']}"
        assert user["meta"]["version"] == 'W/"1"'
        patched = http.patch(path, json=SET_TITLE)
        assert (patched.status_code, patched.headers["ETag"]) == (200, 'W/"2"')
        replaced = http.put(path, json=user_body("etag-steps@example.com", title="Put"))
        assert (replaced.status_code, replaced.headers["ETag"]) == (200, 'W/"3"')
        assert read(http, path)["meta"]["version"] == 'W/"3"'

        group = created(http, "/Groups", group_body("etag-steps"))
        added = http.patch(f"/Groups/{group['id']}", json=add_members(user["id"]))
        assert (added.status_code, added.headers["ETag"]) == (204, 'W/"2"')
        assert read(http, f"/Groups/{group['id']}")["meta"]["version"] == 'W/"2"'


def test_if_none_match_on_get(live: Live, token: str) -> None:
    with client(live.server, token) as http:
        user = created(http, "/Users", user_body("inm@example.com"))
        path, current = f"/Users/{user['id']}", user["meta"]["version"]
        for header in (current, f'W/"99", {current}', "*"):
            response = http.get(path, headers={"If-None-Match": header})
            assert response.status_code == 304, header
            assert response.headers["ETag"] == current
            assert response.content == b""
        assert http.patch(path, json=SET_TITLE).status_code == 200
        fresh = http.get(path, headers={"If-None-Match": current})
        assert fresh.status_code == 200
        assert fresh.json()["title"] == "Changed"
        assert fresh.headers["ETag"] != current


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_stale_if_match_is_412_and_writes_nothing(live: Live, token: str, method: str) -> None:
    name = f"stale-{method}@example.com"
    bodies = {"PUT": user_body(name, title="Lost"), "PATCH": SET_TITLE, "DELETE": None}
    with client(live.server, token) as http:
        user = created(http, "/Users", user_body(name))
        path = f"/Users/{user['id']}"
        assert http.put(path, json=user_body(name, title="Kept")).status_code == 200
        stale = {"If-Match": user["meta"]["version"]}
        assert_precondition_failed(http.request(method, path, headers=stale, json=bodies[method]))
        after = read(http, path)
        assert (after["title"], after["meta"]["version"]) == ("Kept", 'W/"2"')


IF_MATCH_FORMS: dict[str, Callable[[str], str]] = {
    "current": lambda current: current,
    "star": lambda _current: "*",
    "list": lambda current: f'W/"77", {current}',
}


@pytest.mark.parametrize("form", sorted(IF_MATCH_FORMS))
def test_matching_if_match_writes(live: Live, token: str, form: str) -> None:
    condition = IF_MATCH_FORMS[form]
    name = f"match-{form}@example.com"
    with client(live.server, token) as http:
        user = created(http, "/Users", user_body(name))
        path = f"/Users/{user['id']}"
        patched = http.patch(
            path, json=SET_TITLE, headers={"If-Match": condition(user["meta"]["version"])}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["title"] == "Changed"
        put = http.put(
            path, json=user_body(name), headers={"If-Match": condition(patched.headers["ETag"])}
        )
        assert put.status_code == 200, put.text
        assert "title" not in put.json()
        deleted = http.delete(path, headers={"If-Match": condition(put.headers["ETag"])})
        assert deleted.status_code == 204
        assert http.get(path).status_code == 404


def test_if_match_on_a_missing_resource_is_404(live: Live, token: str) -> None:
    """RFC 7232 §5: preconditions apply only where the request would otherwise succeed."""
    with client(live.server, token) as http:
        missing = "/Users/00000000-0000-0000-0000-000000000000"
        for method in ("PATCH", "DELETE"):
            response = http.request(
                method,
                missing,
                headers={"If-Match": "*"},
                json=SET_TITLE if method == "PATCH" else None,
            )
            assert response.status_code == 404, (method, response.text)


def test_if_match_on_group_membership_patch(live: Live, token: str) -> None:
    with client(live.server, token) as http:
        user = created(http, "/Users", user_body("member-etag@example.com"))
        group = created(http, "/Groups", group_body("etag-members"))
        path = f"/Groups/{group['id']}"
        stale = http.patch(path, json=add_members(user["id"]), headers={"If-Match": 'W/"9"'})
        assert_precondition_failed(stale)
        assert "members" not in read(http, path)
        fresh = http.patch(path, json=add_members(user["id"]), headers={"If-Match": 'W/"1"'})
        assert fresh.status_code == 204, fresh.text
        assert [m["value"] for m in read(http, path)["members"]] == [user["id"]]
