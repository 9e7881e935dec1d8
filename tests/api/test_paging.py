"""Sorting, index paging and RFC 9865 cursor paging."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from flask import Flask

from tests.conftest import ScimClient, assert_scim_error, make_client, statements_run


def walk(scim: ScimClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Follow nextCursor from an empty cursor to the last page (bounded)."""
    pages, cursor = [], ""
    for _ in range(50):
        body = scim.get("/Users", query_string={**params, "cursor": cursor}).get_json()
        pages.append(body)
        cursor = body.get("nextCursor")
        if not cursor:
            return pages
    raise AssertionError("cursor paging did not end")


@pytest.fixture
def users(scim: ScimClient) -> list[dict[str, Any]]:
    return [
        scim.create_user(f"u{i:02d}@example.com", title=None if i % 4 == 0 else f"T{i % 5}")
        for i in range(25)
    ]


def test_cursor_pages_cover_everything_once_in_order(
    scim: ScimClient, users: list[dict[str, Any]]
) -> None:
    pages = walk(scim, {"count": 10})
    assert [len(p["Resources"]) for p in pages] == [10, 10, 5]
    assert all(p["totalResults"] == 25 and "startIndex" not in p for p in pages)
    assert [r["id"] for p in pages for r in p["Resources"]] == [u["id"] for u in users]
    assert "previousCursor" not in pages[0]
    assert "previousCursor" in pages[1] and "previousCursor" in pages[2]
    assert "nextCursor" not in pages[2]


def test_previous_cursor_walks_back(scim: ScimClient, users: list[dict[str, Any]]) -> None:
    pages = walk(scim, {"count": 10})
    back = scim.get(
        "/Users", query_string={"count": 10, "cursor": pages[2]["previousCursor"]}
    ).get_json()
    assert [r["id"] for r in back["Resources"]] == [r["id"] for r in pages[1]["Resources"]]
    assert back["nextCursor"] and back["previousCursor"]
    first = scim.get(
        "/Users", query_string={"count": 10, "cursor": back["previousCursor"]}
    ).get_json()
    assert [r["id"] for r in first["Resources"]] == [u["id"] for u in users[:10]]
    assert "previousCursor" not in first


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_cursor_paging_with_sort_and_missing_values(
    scim: ScimClient, users: list[dict[str, Any]], order: str
) -> None:
    params = {"count": 4, "sortBy": "title", "sortOrder": order}
    cursor_ids = [r["id"] for p in walk(scim, params) for r in p["Resources"]]
    index = scim.get("/Users", query_string={"sortBy": "title", "sortOrder": order}).get_json()
    assert cursor_ids == [r["id"] for r in index["Resources"]]
    titles = [r.get("title") for r in index["Resources"]]
    present = [t for t in titles if t is not None]
    assert present == sorted(present, reverse=order == "descending")
    missing = titles.count(None)
    assert missing == 7
    if order == "ascending":
        assert titles[-missing:] == [None] * missing
    else:
        assert titles[:missing] == [None] * missing


def test_new_rows_between_pages_cause_no_duplicates(
    scim: ScimClient, users: list[dict[str, Any]]
) -> None:
    first = scim.get("/Users", query_string={"count": 10, "cursor": ""}).get_json()
    scim.create_user("late@example.com")
    cursor, seen = first["nextCursor"], [r["id"] for r in first["Resources"]]
    while cursor:
        body = scim.get("/Users", query_string={"count": 10, "cursor": cursor}).get_json()
        seen += [r["id"] for r in body["Resources"]]
        cursor = body.get("nextCursor")
    assert len(seen) == len(set(seen)) == 26


def test_cursor_walk_counts_once_and_carries_the_total(
    scim: ScimClient, app: Flask, users: list[dict[str, Any]]
) -> None:
    """totalResults is counted on the first page; deeper pages cost no COUNT."""
    bodies: list[dict[str, Any]] = []

    def page(cursor: str) -> list[str]:
        query = {"count": 10, "cursor": cursor}
        return statements_run(
            app, lambda: bodies.append(scim.get("/Users", query_string=query).get_json())
        )

    counts = [any("count(" in s.lower() for s in page(""))]
    scim.create_user("joined-mid-walk@example.com")
    while bodies[-1].get("nextCursor"):
        counts.append(any("count(" in s.lower() for s in page(bodies[-1]["nextCursor"])))
    assert counts == [True, False, False]
    assert [b["totalResults"] for b in bodies] == [25, 25, 25]  # as when the walk began
    assert sum(len(b["Resources"]) for b in bodies) == 26  # the new row is still reached
    short = scim.get("/Users", query_string={"count": 100, "cursor": ""}).get_json()
    assert short["totalResults"] == 26 and "nextCursor" not in short


@pytest.mark.parametrize("cursor", ["garbage", "a.b", "x" * 5000, "eyJrIjpbXX0.AAAA"])
def test_bad_cursor_is_400_invalid_cursor(scim: ScimClient, cursor: str) -> None:
    assert_scim_error(scim.get("/Users", query_string={"cursor": cursor}), 400, "invalidCursor")


def test_tampered_or_foreign_cursor_is_rejected(
    scim: ScimClient, users: list[dict[str, Any]]
) -> None:
    token = scim.get("/Users", query_string={"count": 5, "cursor": ""}).get_json()["nextCursor"]
    body, signature = token.split(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    assert_scim_error(
        scim.get("/Users", query_string={"count": 5, "cursor": tampered}), 400, "invalidCursor"
    )
    other_query = {"count": 5, "cursor": token, "filter": "userName pr"}
    assert_scim_error(scim.get("/Users", query_string=other_query), 400, "invalidCursor")


def test_expired_cursor_is_400_expired_cursor(app: Flask) -> None:
    scim = make_client(app)
    for _ in range(3):
        scim.create_user()
    token = scim.get("/Users", query_string={"count": 1, "cursor": ""}).get_json()["nextCursor"]
    codec = app.extensions["scimserver"].cursors
    query = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["q"]
    position = codec.decode(token, query)
    stale = codec.encode(position, query, now=time.time() - 2 * codec.timeout)
    assert_scim_error(
        scim.get("/Users", query_string={"count": 1, "cursor": stale}), 400, "expiredCursor"
    )


def test_cursor_count_must_be_positive(scim: ScimClient) -> None:
    assert_scim_error(
        scim.get("/Users", query_string={"count": 0, "cursor": ""}), 400, "invalidCount"
    )


def test_cursor_at_the_root_is_400(scim: ScimClient) -> None:
    assert_scim_error(scim.get("/", query_string={"cursor": ""}), 400, "invalidValue")


def test_cursor_in_search_body(scim: ScimClient, users: list[dict[str, Any]]) -> None:
    body = scim.post("/Users/.search", {"cursor": "", "count": 20}).get_json()
    assert len(body["Resources"]) == 20 and body["nextCursor"]
    rest = scim.post("/Users/.search", {"cursor": body["nextCursor"], "count": 20}).get_json()
    assert len(rest["Resources"]) == 5 and "nextCursor" not in rest


def test_service_provider_config_advertises_both_paging_methods(scim: ScimClient) -> None:
    pagination = scim.get("/ServiceProviderConfig").get_json()["pagination"]
    assert pagination == {
        "cursor": True,
        "index": True,
        "defaultPaginationMethod": "index",
        "defaultPageSize": 100,
        "maxPageSize": 1000,
        "cursorTimeout": 3600,
    }


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sortOrder": "descending"},
        {"sortBy": "title"},
        {"sortBy": "title", "sortOrder": "descending"},
        {"filter": 'title pr and userName sw "u"', "sortBy": "userName"},
    ],
)
def test_index_pages_cover_the_list_once_in_its_order(
    scim: ScimClient, users: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    """Pages of 4 by startIndex, laid end to end, are the list read in one page."""
    whole = scim.get("/Users", query_string={**params, "count": 100}).get_json()
    expected = [r["id"] for r in whole["Resources"]]
    paged: list[str] = []
    for start in range(1, len(expected) + 5, 4):
        body = scim.get("/Users", query_string={**params, "startIndex": start, "count": 4})
        page = body.get_json()
        assert page["totalResults"] == len(expected) and page["startIndex"] == start
        assert page["itemsPerPage"] == len(page.get("Resources", []))
        paged += [r["id"] for r in page.get("Resources", [])]
    assert paged == expected
    assert len(expected) == (18 if "filter" in params else 25)
    if not params:
        assert expected == [u["id"] for u in users]


def test_sort_by_is_case_insensitive_with_missing_last_and_ties_by_id(scim: ScimClient) -> None:
    made = [
        scim.create_user(f"s{i}@example.com", name={"familyName": n} if n else {})
        for i, n in enumerate(["beta", "Alpha", None, "alpha", "Gamma"])
    ]
    body = scim.get("/Users", query_string={"sortBy": "name.familyName"}).get_json()
    families = [r.get("name", {}).get("familyName") for r in body["Resources"]]
    assert [f.casefold() if f else f for f in families] == ["alpha", "alpha", "beta", "gamma", None]
    alphas = sorted(
        u["id"] for u in made if u.get("name", {}).get("familyName", "").lower() == "alpha"
    )
    assert [r["id"] for r in body["Resources"][:2]] == alphas
    urn = scim.get(
        "/Users",
        query_string={
            "sortBy": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
            "sortOrder": "descending",
        },
    ).get_json()
    assert "familyName" not in urn["Resources"][0].get("name", {})


def test_sort_by_unknown_attribute_is_400(scim: ScimClient) -> None:
    assert_scim_error(scim.get("/Users", query_string={"sortBy": "nosuch"}), 400, "invalidValue")


@pytest.mark.parametrize(
    ("start_index", "count", "returned"),
    [("0", "2", 2), ("-5", "2", 2), ("99999999999999999999", "2", 0), ("1", "-3", 0)],
)
def test_out_of_range_index_paging_is_clamped_not_an_error(
    scim: ScimClient, start_index: str, count: str, returned: int
) -> None:
    """RFC 7644 §3.4.2.4: startIndex < 1 means 1, a negative count means 0."""
    for i in range(3):
        scim.create_user(f"p{i}@example.com")
    response = scim.get("/Users", query_string={"startIndex": start_index, "count": count})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["totalResults"] == 3
    assert len(body.get("Resources", [])) == returned


@pytest.mark.parametrize(
    "params",
    [
        {"startIndex": 2},
        {"count": 0},
        {"cursor": ""},
        {"startIndex": 1, "count": 5},
        {"count": 1},
        {"startIndex": 99999999999999999999, "count": 1},
        {"attributes": "userName"},
    ],
)
def test_a_user_name_lookup_pages_and_counts_like_any_filter(
    scim: ScimClient, users: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    """``userName eq`` takes a prebuilt statement; its total, pages and cursor agree."""
    query = {"filter": 'userName eq "U07@EXAMPLE.COM"', **params}
    body = scim.get("/Users", query_string=query).get_json()
    assert body["totalResults"] == 1
    shown = [r["id"] for r in body.get("Resources", [])]
    skipped = params.get("startIndex", 1) > 1 or params.get("count") == 0
    assert shown == ([] if skipped else [users[7]["id"]])
    if "attributes" in params:
        assert sorted(body["Resources"][0]) == ["id", "schemas", "userName"]
    missing = scim.get("/Users", query_string={**query, "filter": 'userName eq "nobody"'})
    assert missing.status_code == 200
    assert missing.get_json()["totalResults"] == 0
    assert missing.get_json().get("Resources", []) == []
