"""No lost writes when 16 clients hit one resource through 4 gunicorn workers at once.

Each round sends one request per client, released together; after each round the test
reads back what is stored. The ``token`` fixture fails a test whose server logged a 5xx,
"database is locked" or a traceback.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.concurrency.conftest import Live
from tests.concurrency.harness import (
    CLIENTS,
    ENTERPRISE,
    add_members,
    clients,
    group_body,
    patch_body,
    scim_type,
    statuses,
    together,
    user_body,
)

pytestmark = pytest.mark.slow

ROUNDS = 3

# One attribute per client: top level, inside one complex attribute, and in an extension,
# so that concurrent PATCHes must merge at every level of the document.
ATTRIBUTES = (
    "displayName",
    "nickName",
    "title",
    "userType",
    "externalId",
    "name.givenName",
    "name.familyName",
    "name.middleName",
    "name.honorificPrefix",
    "name.honorificSuffix",
    "name.formatted",
    f"{ENTERPRISE}:employeeNumber",
    f"{ENTERPRISE}:costCenter",
    f"{ENTERPRISE}:organization",
    f"{ENTERPRISE}:division",
    f"{ENTERPRISE}:department",
)
assert len(ATTRIBUTES) == CLIENTS


def stored(document: dict[str, Any], path: str) -> Any:
    """The value at ``path`` (``a.b`` or ``urn:…:a``) of a returned document."""
    if path.startswith(ENTERPRISE):
        return document.get(ENTERPRISE, {}).get(path[len(ENTERPRISE) + 1 :])
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def fetch(http: httpx.Client, path: str) -> dict[str, Any]:
    response = http.get(path)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def create(http: httpx.Client, path: str, body: dict[str, Any]) -> str:
    response = http.post(path, json=body)
    assert response.status_code == 201, response.text
    resource_id: str = response.json()["id"]
    return resource_id


def found_ids(http: httpx.Client, path: str, filter_: str) -> set[str]:
    response = http.get(path, params={"filter": filter_, "count": 1000})
    assert response.status_code == 200, response.text
    return {r["id"] for r in response.json()["Resources"]}


def case_variant(text: str, bits: int) -> str:
    """``text`` with the case of its letters flipped where ``bits`` has a one."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    chars = list(text)
    for n, position in enumerate(letters):
        if bits >> n & 1:
            chars[position] = chars[position].upper()
    return "".join(chars)


def test_patches_of_different_attributes_all_take_effect(live: Live, token: str) -> None:
    with clients(live.server, token) as pool:
        user_id = create(pool[0], "/Users", user_body("merge@example.com", schemas=[]))
        path = f"/Users/{user_id}"
        for round_ in range(ROUNDS):

            def set_own(http: httpx.Client, i: int, round_: int = round_) -> httpx.Response:
                value = f"r{round_}-c{i}"
                operation = {"op": "replace", "path": ATTRIBUTES[i], "value": value}
                return http.patch(path, json=patch_body(operation))

            assert statuses(together(pool, set_own)) == [200] * CLIENTS
            document = fetch(pool[0], path)
            values = {a: stored(document, a) for a in ATTRIBUTES}
            assert values == {a: f"r{round_}-c{i}" for i, a in enumerate(ATTRIBUTES)}
            assert document["meta"]["version"] == f'W/"{1 + CLIENTS * (round_ + 1)}"'
        # The value index saw the last write of every client too.
        for i, attribute in enumerate(ATTRIBUTES):
            filter_ = f'{attribute} eq "r{ROUNDS - 1}-c{i}"'
            assert found_ids(pool[0], "/Users", filter_) == {user_id}, filter_


def test_concurrent_adds_to_one_multi_valued_attribute_all_land(live: Live, token: str) -> None:
    with clients(live.server, token) as pool:
        user_id = create(pool[0], "/Users", user_body("emails@example.com"))
        path = f"/Users/{user_id}"
        expected: set[str] = set()
        for round_ in range(ROUNDS):
            emails = [f"r{round_}-c{i}@example.com" for i in range(CLIENTS)]

            def add_email(http: httpx.Client, i: int, emails: list[str] = emails) -> httpx.Response:
                value = [{"value": emails[i], "type": "work"}]
                return http.patch(
                    path, json=patch_body({"op": "add", "path": "emails", "value": value})
                )

            assert statuses(together(pool, add_email)) == [200] * CLIENTS
            expected |= set(emails)
            assert {e["value"] for e in fetch(pool[0], path).get("emails", [])} == expected
        for email in sorted(expected)[:: CLIENTS // 2]:
            assert found_ids(pool[0], "/Users", f'emails.value eq "{email}"') == {user_id}


def test_case_variants_of_one_user_name_create_exactly_one(live: Live, token: str) -> None:
    with clients(live.server, token) as pool:
        for round_ in range(ROUNDS):
            name = f"race-{round_}-{uuid.uuid4().hex[:6]}@example.com"
            variants = [case_variant(name, bits) for bits in range(CLIENTS)]
            assert len(set(variants)) == CLIENTS

            def post(http: httpx.Client, i: int, variants: list[str] = variants) -> httpx.Response:
                return http.post("/Users", json=user_body(variants[i]))

            responses = together(pool, post)
            assert sorted(statuses(responses)) == [201] + [409] * (CLIENTS - 1)
            losers = [r for r in responses if r.status_code == 409]
            assert {scim_type(r) for r in losers} == {"uniqueness"}
            winner = next(r.json() for r in responses if r.status_code == 201)
            upper = name.upper()
            assert found_ids(pool[0], "/Users", f'userName eq "{upper}"') == {winner["id"]}


def test_concurrent_member_adds_to_one_group_all_land(live: Live, token: str) -> None:
    with clients(live.server, token) as pool:
        group_id = create(pool[0], "/Groups", group_body("crowd"))
        path = f"/Groups/{group_id}"
        expected: set[str] = set()
        for round_ in range(ROUNDS):

            def new_user(http: httpx.Client, i: int, round_: int = round_) -> httpx.Response:
                return http.post("/Users", json=user_body(f"m-{round_}-{i}@example.com"))

            users = [r.json()["id"] for r in together(pool, new_user)]

            def join(http: httpx.Client, i: int, users: list[str] = users) -> httpx.Response:
                return http.patch(path, json=add_members(users[i]))

            assert statuses(together(pool, join)) == [204] * CLIENTS
            expected |= set(users)
            members = fetch(pool[0], path).get("members", [])
            assert sorted(m["value"] for m in members) == sorted(expected)
        assert found_ids(pool[0], "/Groups", f'members.value eq "{min(expected)}"') == {group_id}
        member = fetch(pool[0], f"/Users/{min(expected)}")
        assert [g["value"] for g in member["groups"]] == [group_id]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_writes_with_the_same_if_match_let_exactly_one_through(
    live: Live, token: str, method: str
) -> None:
    with clients(live.server, token) as pool:
        name = f"ifmatch-{method.lower()}@example.com"
        user_id = create(pool[0], "/Users", user_body(name))
        path = f"/Users/{user_id}"
        for round_ in range(ROUNDS):
            version = fetch(pool[0], path)["meta"]["version"]

            def write(
                http: httpx.Client, i: int, version: str = version, round_: int = round_
            ) -> httpx.Response:
                title = f"r{round_}-c{i}"  # new in every round: a no-op PATCH would succeed
                body = (
                    patch_body({"op": "replace", "path": "title", "value": title})
                    if method == "PATCH"
                    else user_body(name, title=title)
                )
                return http.request(method, path, json=body, headers={"If-Match": version})

            responses = together(pool, write)
            assert sorted(statuses(responses)) == [200] + [412] * (CLIENTS - 1)
            winner = next(r for r in responses if r.status_code == 200)
            document = fetch(pool[0], path)
            assert document["title"] == winner.json()["title"]
            assert document["meta"]["version"] == winner.headers["ETag"]
            assert int(version[3:-1]) + 1 == int(winner.headers["ETag"][3:-1])


def test_deletes_with_the_same_if_match_delete_once(live: Live, token: str) -> None:
    with clients(live.server, token) as pool:
        for round_ in range(ROUNDS):
            user_id = create(pool[0], "/Users", user_body(f"del-{round_}@example.com"))
            path = f"/Users/{user_id}"

            def delete(http: httpx.Client, _i: int, path: str = path) -> httpx.Response:
                return http.delete(path, headers={"If-Match": 'W/"1"'})

            codes = statuses(together(pool, delete))
            # The losers find the resource gone (404) or, if they read it first, changed.
            assert codes.count(204) == 1, codes
            assert set(codes) <= {204, 404, 412}, codes
            assert pool[0].get(path).status_code == 404


def test_member_adds_racing_the_members_deletion(live: Live, token: str) -> None:
    """Adding a user to a group while the user is deleted: 204 then cascade, or 400."""
    with clients(live.server, token) as pool:
        groups = [create(pool[0], "/Groups", group_body(f"g{i}")) for i in range(CLIENTS // 2)]
        for round_ in range(ROUNDS):
            user_id = create(pool[0], "/Users", user_body(f"doomed-{round_}@example.com"))

            def act(http: httpx.Client, i: int, user_id: str = user_id) -> httpx.Response:
                if i % 2:
                    return http.delete(f"/Users/{user_id}")
                return http.patch(f"/Groups/{groups[i // 2]}", json=add_members(user_id))

            responses = together(pool, act)
            deletes = [r.status_code for r in responses[1::2]]
            assert deletes.count(204) == 1 and set(deletes) <= {204, 404}, deletes
            for response in responses[::2]:
                assert response.status_code in {204, 400}, response.text
                if response.status_code == 400:
                    assert scim_type(response) == "invalidValue"
            for group_id in groups:
                assert "members" not in fetch(pool[0], f"/Groups/{group_id}")
            assert not found_ids(pool[0], "/Groups", f'members.value eq "{user_id}"')
