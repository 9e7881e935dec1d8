"""POST /.search per resource type and at the root, and GET at the root."""

from __future__ import annotations

from tests.conftest import ScimClient, assert_scim_error

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def test_search_on_users_takes_parameters_from_the_body(scim: ScimClient) -> None:
    wanted = scim.create_user("search-me@example.com", displayName="Search Me")
    scim.create_user("not-me@example.com")
    body = {
        "schemas": [SEARCH],
        "filter": 'userName sw "search"',
        "attributes": ["displayName"],
        "startIndex": 1,
        "count": 10,
    }
    response = scim.post("/Users/.search", body)
    assert response.status_code == 200
    result = response.get_json()
    assert result["totalResults"] == 1
    assert result["Resources"] == [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": wanted["id"],
            "displayName": "Search Me",
        }
    ]


def test_root_search_returns_mixed_types_with_their_schemas(scim: ScimClient) -> None:
    user = scim.create_user("mixed@example.com", displayName="Mixed")
    group = scim.create_group("Mixed")
    body = {"schemas": [SEARCH], "filter": 'displayName eq "Mixed"'}
    result = scim.post("/.search", body).get_json()
    assert result["totalResults"] == 2
    by_id = {r["id"]: r for r in result["Resources"]}
    assert by_id[user["id"]]["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]
    assert by_id[group["id"]]["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Group"]


def test_root_search_skips_types_lacking_the_attribute_and_pages_across_types(
    scim: ScimClient,
) -> None:
    users = [scim.create_user()["id"] for _ in range(3)]
    groups = [scim.create_group()["id"] for _ in range(2)]
    only_users = scim.post("/.search", {"filter": "userName pr"}).get_json()
    assert {r["id"] for r in only_users["Resources"]} == set(users)
    pages = [
        scim.get("/", query_string={"startIndex": s, "count": 2}).get_json() for s in (1, 3, 5)
    ]
    assert [p["totalResults"] for p in pages] == [5, 5, 5]
    order = [t["id"] for t in scim.get("/ResourceTypes").get_json()["Resources"]]
    by_type = {"User": users, "Group": groups}
    expected = [i for type_id in order for i in by_type[type_id]]
    assert [r["id"] for p in pages for r in p["Resources"]] == expected


def test_root_search_with_unknown_attribute_is_400(scim: ScimClient) -> None:
    assert_scim_error(scim.post("/.search", {"filter": 'nosuch eq "x"'}), 400, "invalidFilter")


def test_search_body_must_be_an_object(scim: ScimClient) -> None:
    assert_scim_error(scim.post("/Users/.search", ["x"]), 400, "invalidSyntax")
