"""Users: create, read, replace, delete, list, with RFC 7643 §8 example resources."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from scimserver.store.models import AttributeValue, Resource
from tests.conftest import ScimClient, assert_scim_error, fixture_json, statements_run

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def stored(app: Flask, resource_id: str) -> Resource | None:
    with app.extensions["scimserver"].db.read() as session:
        return session.get(Resource, resource_id)


def test_create_minimal_user_returns_201_with_location_etag_and_meta(scim: ScimClient) -> None:
    response = scim.post("/Users", fixture_json("rfc7643/user_minimal.json"))
    assert response.status_code == 201
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["userName"] == "bjensen@example.com"
    assert body["id"] != "2819c223-7f76-453a-919d-413861904646"  # server assigns ids
    assert response.headers["Location"] == f"https://scim.test/scim/v2/Users/{body['id']}"
    assert response.headers["ETag"] == body["meta"]["version"] == 'W/"1"'
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["location"] == response.headers["Location"]
    assert body["meta"]["created"] == body["meta"]["lastModified"]
    assert body["meta"]["created"].endswith("Z")
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]


def test_full_user_round_trips_without_password(scim: ScimClient, app: Flask) -> None:
    source = fixture_json("rfc7643/user_full.json")
    created = scim.post("/Users", source).get_json()
    fetched = scim.get(f"/Users/{created['id']}").get_json()
    assert fetched == created
    assert "password" not in fetched
    for key in (
        "name",
        "emails",
        "addresses",
        "phoneNumbers",
        "ims",
        "photos",
        "externalId",
        "x509Certificates",
        "active",
        "locale",
        "timezone",
    ):
        assert fetched[key] == source[key], key
    row = stored(app, created["id"])
    assert row is not None and row.password_hash is not None
    assert source["password"] not in row.password_hash
    assert "password" not in row.data


def test_enterprise_extension_is_stored_and_returned(scim: ScimClient) -> None:
    source = fixture_json("rfc7643/user_enterprise.json")
    created = scim.post("/Users", source).get_json()
    assert ENTERPRISE in created["schemas"]
    assert created[ENTERPRISE]["employeeNumber"] == "701984"
    assert created[ENTERPRISE]["manager"]["value"] == "26118915-6090-4610-87e4-49d8ca9f808d"


def test_read_only_input_is_ignored_on_create(scim: ScimClient) -> None:
    body = scim.create_user(
        "ro@example.com", id="chosen", meta={"version": 'W/"9"'}, groups=[{"value": "x"}]
    )
    assert body["id"] != "chosen"
    assert body["meta"]["version"] == 'W/"1"'
    assert "groups" not in body


def test_attribute_names_are_case_insensitive_and_nulls_are_absent(scim: ScimClient) -> None:
    response = scim.post(
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "USERNAME": "Case@Example.com",
            "Name": {"GivenName": "Ann"},
            "title": None,
            "Active": "True",
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["userName"] == "Case@Example.com"
    assert body["name"] == {"givenName": "Ann"}
    assert body["active"] is True
    assert "title" not in body


def test_duplicate_user_name_is_409_uniqueness_in_any_case(scim: ScimClient) -> None:
    scim.create_user("Dup@Example.com")
    response = scim.post("/Users", {"userName": "dup@example.COM"})
    assert_scim_error(response, 409, "uniqueness")
    listing = scim.get("/Users").get_json()
    assert listing["totalResults"] == 1


def test_get_unknown_id_is_404(scim: ScimClient) -> None:
    assert_scim_error(scim.get("/Users/does-not-exist"), 404)


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"name": {"givenName": "no user name"}}, "invalidValue"),
        ({"userName": 42}, "invalidValue"),
        ({"userName": "x", "active": "maybe"}, "invalidValue"),
        ({"userName": "x", "emails": [{"value": 5}]}, "invalidValue"),
        ({"userName": "x", "name": "not an object"}, "invalidValue"),
        ({"userName": "x" * 300}, "invalidValue"),
        ({"userName": ""}, "invalidValue"),
        ({"userName": "   "}, "invalidValue"),
        ({"userName": "nul\u0000byte"}, "invalidValue"),
        ({"userName": "x", ENTERPRISE: {"manager": "bare"}}, "invalidValue"),
        (["not", "an", "object"], "invalidSyntax"),
    ],
)
def test_invalid_user_bodies_are_400_and_write_nothing(
    scim: ScimClient, body: Any, scim_type: str
) -> None:
    assert_scim_error(scim.post("/Users", body), 400, scim_type)
    assert scim.get("/Users").get_json()["totalResults"] == 0


def test_put_replaces_and_bumps_version(scim: ScimClient) -> None:
    user = scim.create_user("put@example.com", title="Engineer", nickName="P")
    response = scim.put(f"/Users/{user['id']}", {"userName": "put@example.com", "title": "Lead"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["title"] == "Lead"
    assert "nickName" not in body
    assert body["meta"]["version"] == 'W/"2"' == response.headers["ETag"]
    assert body["meta"]["created"] == user["meta"]["created"]
    assert scim.get(f"/Users/{user['id']}").get_json() == body


def test_put_ignores_read_only_attributes_and_keeps_active(scim: ScimClient) -> None:
    user = scim.create_user("keep@example.com", active=False)
    response = scim.put(
        f"/Users/{user['id']}",
        {
            "id": "other",
            "userName": "keep@example.com",
            "meta": {"created": "2000-01-01T00:00:00Z"},
        },
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == user["id"]
    assert body["active"] is False
    assert body["meta"]["created"] == user["meta"]["created"]


def test_put_to_unknown_id_is_404(scim: ScimClient) -> None:
    assert_scim_error(scim.put("/Users/nope", {"userName": "x"}), 404)


def test_put_with_taken_user_name_is_409(scim: ScimClient) -> None:
    scim.create_user("one@example.com")
    two = scim.create_user("two@example.com")
    response = scim.put(f"/Users/{two['id']}", {"userName": "ONE@example.com"})
    assert_scim_error(response, 409, "uniqueness")
    assert scim.get(f"/Users/{two['id']}").get_json()["userName"] == "two@example.com"


def test_delete_is_204_then_404_and_removes_index_rows(scim: ScimClient, app: Flask) -> None:
    user = scim.create_user("gone@example.com", emails=[{"value": "gone@example.com"}])
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert_scim_error(scim.get(f"/Users/{user['id']}"), 404)
    assert_scim_error(scim.delete(f"/Users/{user['id']}"), 404)
    with app.extensions["scimserver"].db.read() as session:
        rows = session.scalars(
            select(AttributeValue).where(AttributeValue.resource_id == user["id"])
        )
        assert list(rows) == []


def test_deactivated_user_stays_readable_and_listable(scim: ScimClient) -> None:
    user = scim.create_user("leaver@example.com")
    body = {"userName": "leaver@example.com", "active": False}
    assert scim.put(f"/Users/{user['id']}", body).get_json()["active"] is False
    assert scim.get(f"/Users/{user['id']}").get_json()["active"] is False
    listing = scim.get("/Users?filter=active eq false").get_json()
    assert [r["id"] for r in listing["Resources"]] == [user["id"]]


def test_list_paging_reports_real_total(scim: ScimClient) -> None:
    ids = [scim.create_user(f"page{i}@example.com")["id"] for i in range(7)]
    first = scim.get("/Users?startIndex=1&count=3").get_json()
    assert first["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert (first["totalResults"], first["itemsPerPage"], first["startIndex"]) == (7, 3, 1)
    last = scim.get("/Users?startIndex=7&count=3").get_json()
    assert (last["totalResults"], last["itemsPerPage"]) == (7, 1)
    seen = [
        r["id"]
        for p in (1, 4, 7)
        for r in scim.get(f"/Users?startIndex={p}&count=3").get_json()["Resources"]
    ]
    assert seen == ids
    totals = scim.get("/Users?count=0").get_json()
    assert (totals["totalResults"], totals["itemsPerPage"], totals["Resources"]) == (7, 0, [])


@pytest.mark.parametrize(
    ("query", "total", "returned"),
    [
        ("startIndex=1&count=10", 7, 7),  # short first page: the total is its length
        ("startIndex=6&count=10", 7, 2),  # short later page: rows before it plus its own
        ("startIndex=1&count=7", 7, 7),  # a full page cannot tell: COUNT
        ("startIndex=9&count=3", 7, 0),  # past the end: COUNT
        ('filter=userName eq "nobody"', 0, 0),
    ],
)
def test_total_results_is_exact_whether_or_not_a_count_runs(
    scim: ScimClient, query: str, total: int, returned: int
) -> None:
    for i in range(7):
        scim.create_user(f"total{i}@example.com")
    body = scim.get(f"/Users?{query}").get_json()
    assert (body["totalResults"], len(body.get("Resources", []))) == (total, returned)


def test_a_lookup_runs_no_count(scim: ScimClient, app: Flask) -> None:
    """An IdP's pre-create lookup finds 0 or 1 users: the page itself gives the total."""
    scim.create_user("once@example.com")
    for name, expected in (("once@example.com", 1), ("twice@example.com", 0)):
        path = f'/Users?filter=userName eq "{name}"'
        totals: list[int] = []
        statements = statements_run(
            app, lambda p=path, seen=totals: seen.append(scim.get(p).get_json()["totalResults"])
        )
        assert totals == [expected]
        assert not any("count(" in s.lower() for s in statements), statements


def test_list_page_size_is_capped(app: Flask) -> None:
    from tests.conftest import make_client

    client = make_client(app)
    for i in range(3):
        client.create_user(f"cap{i}@example.com")
    settings = app.extensions["scimserver"].settings
    assert settings.max_page_size >= 3
    body = client.get("/Users?count=100000").get_json()
    assert body["itemsPerPage"] == 3


@pytest.mark.parametrize(
    "query",
    [
        'userName eq "Filter@Example.com"',
        'username EQ "filter@example.com"',
        'emails.value eq "work@filter.example"',
        'externalId eq "ext-1"',
        'displayName eq "Filter Person"',
    ],
)
def test_filter_equality_on_identity_attributes(scim: ScimClient, query: str) -> None:
    user = scim.create_user(
        "Filter@Example.com",
        externalId="ext-1",
        displayName="Filter Person",
        emails=[{"value": "work@filter.example", "type": "work"}],
    )
    scim.create_user("other@example.com", externalId="ext-2")
    body = scim.get("/Users", query_string={"filter": query}).get_json()
    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == user["id"]


def test_filter_on_id(scim: ScimClient) -> None:
    user = scim.create_user()
    body = scim.get("/Users", query_string={"filter": f'id eq "{user["id"]}"'}).get_json()
    assert [r["id"] for r in body["Resources"]] == [user["id"]]


def test_filter_with_no_match_is_200_empty(scim: ScimClient) -> None:
    body = scim.get("/Users", query_string={"filter": 'userName eq "nobody-7f3a"'}).get_json()
    assert body["totalResults"] == 0
    assert body["Resources"] == []


@pytest.mark.parametrize("query", ["userName eq", 'nosuch eq "x"', 'userName zz "x"', "(((("])
def test_bad_filters_are_400_invalid_filter(scim: ScimClient, query: str) -> None:
    assert_scim_error(scim.get("/Users", query_string={"filter": query}), 400, "invalidFilter")


@pytest.mark.parametrize(
    ("attributes", "present", "absent"),
    [
        ({"attributes": "userName"}, {"id", "schemas", "userName"}, {"name", "emails", "meta"}),
        ({"attributes": "name.givenName"}, {"id", "name"}, {"userName", "emails"}),
        ({"excludedAttributes": "emails,name"}, {"id", "userName", "meta"}, {"emails", "name"}),
        ({"excludedAttributes": "id"}, {"id"}, set()),
    ],
)
def test_attribute_projection_on_get_and_list(
    scim: ScimClient, attributes: dict[str, str], present: set[str], absent: set[str]
) -> None:
    user = scim.create_user(
        "proj@example.com",
        name={"givenName": "P", "familyName": "Q"},
        emails=[{"value": "proj@example.com"}],
    )
    single = scim.get(f"/Users/{user['id']}", query_string=attributes).get_json()
    listed = scim.get("/Users", query_string=attributes).get_json()["Resources"][0]
    for body in (single, listed):
        assert present <= body.keys(), body
        assert not (absent & body.keys()), body
    if attributes.get("attributes") == "name.givenName":
        assert single["name"] == {"givenName": "P"}


def test_if_none_match_gives_304(scim: ScimClient) -> None:
    user = scim.create_user()
    response = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]})
    assert response.status_code == 304
    assert response.headers["ETag"] == user["meta"]["version"]


def test_if_match_mismatch_on_put_is_412(scim: ScimClient) -> None:
    user = scim.create_user("im@example.com")
    response = scim.put(
        f"/Users/{user['id']}", {"userName": "im@example.com"}, headers={"If-Match": 'W/"99"'}
    )
    assert_scim_error(response, 412)
    ok = scim.put(
        f"/Users/{user['id']}",
        {"userName": "im@example.com"},
        headers={"If-Match": user["meta"]["version"]},
    )
    assert ok.status_code == 200


def test_application_json_is_accepted_and_answered_when_asked(scim: ScimClient) -> None:
    response = scim.post(
        "/Users",
        {"userName": "json@example.com"},
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert response.status_code == 201
    assert response.mimetype == "application/json"


def test_non_ascii_names_round_trip(scim: ScimClient) -> None:
    user = scim.create_user(
        "zoë@example.com",
        name={"givenName": "Zoë", "familyName": "Ñúñez"},
        displayName="Zoë Ñúñez 山田",
    )
    assert scim.get(f"/Users/{user['id']}").get_json()["displayName"] == "Zoë Ñúñez 山田"
    found = scim.get("/Users", query_string={"filter": 'userName eq "ZOË@example.com"'}).get_json()
    assert found["totalResults"] == 1


def test_unknown_attributes_are_dropped_and_logged_with_the_client(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import ScimClient as Client

    _, secret = app.extensions["scimserver"].tokens.create("hr-sync", "unknown-attrs-tenant")
    client = Client(app.test_client(), secret, "unknown-attrs-tenant")
    caplog.set_level(logging.WARNING, logger="scimserver")
    user = client.create_user("mapped@example.com", favouriteColour="teal", TITLE="Known")
    assert "favouriteColour" not in user
    assert user["title"] == "Known"  # names match case-insensitively: not unknown
    [record] = [r for r in caplog.records if "ignored attributes" in r.getMessage()]
    assert "hr-sync" in record.getMessage()
    assert record.ignored == ("favouriteColour",)  # type: ignore[attr-defined]
    caplog.clear()
    client.put(f"/Users/{user['id']}", {"userName": "mapped@example.com", "title": "Known"})
    assert not [r for r in caplog.records if "ignored attributes" in r.getMessage()]


@pytest.mark.parametrize(
    ("query", "total", "ids"),
    [
        ("", 1, ["me"]),
        ("&startIndex=2", 1, []),
        ("&count=0", 1, []),
        ("&count=1", 1, ["me"]),
        ("&sortOrder=descending", 1, ["me"]),
        ("&attributes=userName", 1, ["me"]),
    ],
)
def test_a_user_name_lookup_pages_like_any_filter(
    app: Flask, scim: ScimClient, query: str, total: int, ids: list[str]
) -> None:
    """``userName eq`` takes a prebuilt one-row statement: same paging and totals, own tenant."""
    from tests.conftest import make_client

    me = scim.create_user("Lookup.Me@Example.com")
    make_client(app).create_user("lookup.me@example.com")  # another tenant's namesake
    body = scim.get(f'/Users?filter=userName eq "LOOKUP.me@example.com"{query}').get_json()
    assert body["totalResults"] == total
    assert [r["id"] for r in body.get("Resources", [])] == [me["id"] for _ in ids]


def test_a_users_values_go_in_one_insert_whose_text_never_changes(
    scim: ScimClient, app: Flask
) -> None:
    """One statement text for any number of rows: psycopg parses a query once, and a
    multi-row VALUES list long enough to miss its cache was parsed on every create.
    (On PostgreSQL the same statement inserts the user: see the next test.)"""
    emails = [{"value": f"u{i}@example.com", "type": "work"} for i in range(30)]
    runs = [
        statements_run(app, scim.create_user),
        statements_run(app, lambda: scim.create_user(emails=emails)),
    ]
    inserts = [[s for s in run if "INSERT INTO attribute_values" in s] for run in runs]
    assert [len(found) for found in inserts] == [1, 1]
    assert inserts[0] == inserts[1]
    found = scim.get('/Users?filter=emails.value eq "u29@example.com"').get_json()
    assert found["totalResults"] == 1


def _write_of(statement: str) -> str | None:
    """What a statement writes to a resource's tables, as its opening words (else None)."""
    words = " ".join(statement.split())
    found = re.match(r"(WITH \w+ AS \()?(INSERT INTO|UPDATE|DELETE FROM) (\w+)", words)
    tables = {"resources", "attribute_values", "feed_heads", "changes"}
    return found.group(0) if found and found.group(3) in tables else None


def test_a_create_and_an_update_write_without_a_locked_read(
    scim: ScimClient, app: Flask, backend: str
) -> None:
    """PostgreSQL: a user, its values, the feed's head and the change row are written by
    one statement, as are an update's row, its stale and fresh values and its change.
    SQLite: those rows are written by one statement each in a transaction that reads
    nothing (the update was planned against the row read before it, outside the lock)."""
    made: list[dict[str, Any]] = []
    create = statements_run(app, lambda: made.append(scim.create_user(title="a")))
    patch = statements_run(
        app,
        lambda: scim.patch(
            f"/Users/{made[0]['id']}",
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "b"}],
            },
        ),
    )
    writes = [[w for w in map(_write_of, run) if w] for run in (create, patch)]
    if backend == "postgresql":
        assert writes == [
            ["WITH written AS (INSERT INTO resources"],
            ["WITH written AS (UPDATE resources"],
        ], writes
    else:
        values, logged = (
            "INSERT INTO attribute_values",
            ["INSERT INTO feed_heads", "INSERT INTO changes"],
        )
        assert writes == [
            ["INSERT INTO resources", values, *logged],
            ["UPDATE resources", "DELETE FROM attribute_values", values, *logged],
        ], writes
        for run in (create, patch):
            locked = run[run.index("BEGIN IMMEDIATE") + 1 :]
            assert not [s for s in locked if s.lstrip().upper().startswith("SELECT")], locked
    user = scim.get(f"/Users/{made[0]['id']}").get_json()
    assert user["title"] == "b" and user["meta"]["version"] == 'W/"2"'
    assert scim.get('/Users?filter=title eq "b"').get_json()["totalResults"] == 1
    assert scim.get('/Users?filter=title eq "a"').get_json()["totalResults"] == 0


def test_a_lookup_and_an_update_run_on_the_requests_one_connection(
    scim: ScimClient, app: Flask
) -> None:
    """The token check, the read and the write (a user's PATCH) share the request's one
    connection, returned when the request ends."""
    user = scim.create_user()
    engine = app.extensions["scimserver"].db.engine
    ours = threading.get_ident()
    checkouts: list[str] = []

    def checkout(*_: Any) -> None:
        if threading.get_ident() == ours:
            checkouts.append("checkout")

    event.listen(engine.pool, "checkout", checkout)
    try:
        found = scim.get(f'/Users?filter=userName eq "{user["userName"]}"')
        lookup, checkouts[:] = list(checkouts), []
        patched = scim.patch(
            f"/Users/{user['id']}",
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "b"}],
            },
        )
    finally:
        event.remove(engine.pool, "checkout", checkout)
    assert found.status_code == 200
    assert [r["id"] for r in found.get_json()["Resources"]] == [user["id"]]
    assert patched.status_code == 200 and patched.get_json()["title"] == "b"
    assert (lookup, checkouts) == (["checkout"], ["checkout"])
    assert engine.pool.checkedout() == 0
    assert scim.get(f"/Users/{user['id']}").get_json()["meta"]["version"] == 'W/"2"'
