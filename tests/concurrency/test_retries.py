"""Retries are safe: an IdP that resends a request after a timeout changes nothing twice."""

from __future__ import annotations

import pytest

from tests.concurrency.conftest import Live
from tests.concurrency.harness import add_members, client, group_body, scim_type, user_body

pytestmark = pytest.mark.slow


def test_a_retried_post_is_409_uniqueness(live: Live, token: str) -> None:
    with client(live.server, token) as http:
        body = user_body("retry-post@example.com")
        first = http.post("/Users", json=body)
        assert first.status_code == 201, first.text
        again = http.post("/Users", json=body)
        assert (again.status_code, scim_type(again)) == (409, "uniqueness")
        found = http.get("/Users", params={"filter": 'userName eq "retry-post@example.com"'})
        assert [u["id"] for u in found.json()["Resources"]] == [first.json()["id"]]


def test_a_retried_delete_is_404(live: Live, token: str) -> None:
    with client(live.server, token) as http:
        user = http.post("/Users", json=user_body("retry-delete@example.com")).json()
        assert http.delete(f"/Users/{user['id']}").status_code == 204
        again = http.delete(f"/Users/{user['id']}")
        assert again.status_code == 404
        assert again.json()["status"] == "404"


def test_a_retried_member_add_changes_nothing(live: Live, token: str) -> None:
    with client(live.server, token) as http:
        user = http.post("/Users", json=user_body("retry-member@example.com")).json()
        group = http.post("/Groups", json=group_body("retry", [user["id"]])).json()
        path = f"/Groups/{group['id']}"
        for attributes in (None, "members"):  # 204 by default, 200 when asked for a body
            params = {"attributes": attributes} if attributes else {}
            again = http.patch(path, json=add_members(user["id"]), params=params)
            assert again.status_code == (200 if attributes else 204), again.text
            assert again.headers["ETag"] == group["meta"]["version"]
        after = http.get(path).json()
        assert after["members"] == group["members"]
        assert after["meta"] == group["meta"]
