"""A schema file dropped into a schema directory works with no code change."""

from __future__ import annotations

from flask import Flask

from tests.conftest import assert_scim_error, make_client

ACME = "urn:example:params:scim:schemas:extension:acme:2.0:User"


def test_custom_extension_is_accepted_stored_returned_filtered_and_listed(
    custom_app: Flask,
) -> None:
    scim = make_client(custom_app)
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ACME],
        "userName": "acme@example.com",
        ACME: {
            "badgeNumber": "B-7",
            "clearanceLevel": 3,
            "hireDate": "2024-02-01T09:00:00Z",
            "remote": True,
            "projects": [{"name": "Apollo", "role": "lead"}],
        },
    }
    created = scim.post("/Users", body)
    assert created.status_code == 201
    user = created.get_json()
    assert ACME in user["schemas"]
    assert user[ACME] == body[ACME]
    assert scim.get(f"/Users/{user['id']}").get_json()[ACME] == body[ACME]
    for query in (
        f'{ACME}:badgeNumber eq "b-7"',
        f"{ACME}:clearanceLevel gt 2",
        f'{ACME}:projects[name eq "Apollo"]',
    ):
        found = scim.get("/Users", query_string={"filter": query}).get_json()
        assert [r["id"] for r in found["Resources"]] == [user["id"]], query
    schemas = {s["id"] for s in scim.get("/Schemas").get_json()["Resources"]}
    assert ACME in schemas
    user_type = scim.get("/ResourceTypes/User").get_json()
    assert {"schema": ACME, "required": False} in user_type["schemaExtensions"]


def test_custom_extension_attributes_are_type_checked(custom_app: Flask) -> None:
    scim = make_client(custom_app)
    response = scim.post(
        "/Users", {"userName": "bad@example.com", ACME: {"clearanceLevel": "high"}}
    )
    assert_scim_error(response, 400, "invalidValue")


def test_datetimes_are_checked_by_the_same_parser_filters_use(custom_app: Flask) -> None:
    """A dateTime the server stores is one its filters can compare, and the reverse."""
    scim = make_client(custom_app)
    for value in ("2024-02", "2024-02-01T9:00", "1 Feb 2024"):
        response = scim.post(
            "/Users", {"userName": f"{value}@example.com", ACME: {"hireDate": value}}
        )
        assert_scim_error(response, 400, "invalidValue")
    dated = scim.post("/Users", {"userName": "date@example.com", ACME: {"hireDate": "2024-01-31"}})
    assert dated.status_code == 201  # a bare date is midnight UTC, and filters see it so
    query = f'{ACME}:hireDate lt "2024-01-31T00:00:01Z"'
    found = scim.get("/Users", query_string={"filter": query}).get_json()
    assert [r["id"] for r in found["Resources"]] == [dated.get_json()["id"]]
    created = scim.post(
        "/Users", {"userName": "naive@example.com", ACME: {"hireDate": "2024-02-01T09:00:00"}}
    )
    assert created.status_code == 201
    query = f'{ACME}:hireDate eq "2024-02-01T10:00:00+01:00"'
    found = scim.get("/Users", query_string={"filter": query}).get_json()
    assert [r["id"] for r in found["Resources"]] == [created.get_json()["id"]]


def test_an_integer_beyond_64_bits_is_stored_and_read_back(custom_app: Flask) -> None:
    scim = make_client(custom_app)
    huge = 2**70
    created = scim.post(
        "/Users",
        data=f'{{"userName": "huge@example.com", "{ACME}": {{"clearanceLevel": {huge}}}}}',
        headers={"Content-Type": "application/scim+json"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    read = scim.get(f"/Users/{created.get_json()['id']}")
    assert read.status_code == 200
    assert read.get_json()[ACME]["clearanceLevel"] == huge
