"""``count`` and ``startIndex``: integers only. In a ``.search`` body a boolean, a string,
a number with a fraction or exponent, or one too large for a float is a 400 invalidValue,
never a 500; in a query string, ASCII digits only."""

from __future__ import annotations

import pytest
from werkzeug.test import TestResponse

from tests.conftest import ScimClient, assert_scim_error

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
NOT_INTEGERS = [
    "true",
    "false",
    '"5"',
    "1.5",
    "5.0",
    "1e2",
    "1e400",
    "-1e400",
    "[1]",
    '{"n": 1}',
    '""',
]
PATHS = ["/Users/.search", "/Groups/.search", "/.search"]


def search(scim: ScimClient, path: str, name: str, raw: str) -> TestResponse:
    """POST a search body whose ``name`` member is the JSON text ``raw``, as sent."""
    body = f'{{"schemas": ["{SEARCH_REQUEST}"], "{name}": {raw}}}'
    return scim.post(path, data=body, headers={"Content-Type": "application/scim+json"})


@pytest.mark.parametrize("name", ["count", "startIndex"])
def test_a_non_integer_in_a_search_body_is_invalid_value(scim: ScimClient, name: str) -> None:
    for path in PATHS:
        for raw in NOT_INTEGERS:
            response = search(scim, path, name, raw)
            assert_scim_error(response, 400, "invalidValue")
            assert f"{name} must be an integer" in response.get_json()["detail"], (path, raw)


def test_integers_in_a_search_body_are_served(scim: ScimClient) -> None:
    scim.create_user("numbers@example.com")
    for path in PATHS:
        assert search(scim, path, "count", "1").status_code == 200
        beyond = search(scim, path, "startIndex", str(10**40))  # past every page: clamped
        assert beyond.status_code == 200 and beyond.get_json().get("Resources", []) == []
        assert search(scim, path, "count", "null").status_code == 200


@pytest.mark.parametrize("raw", ["1.5", "1e400", "true", "0x10", "1_000", "\u0663", "5 5"])
def test_a_non_integer_in_a_query_string_is_invalid_value(scim: ScimClient, raw: str) -> None:
    for name in ("count", "startIndex"):
        assert_scim_error(scim.get("/Users", query_string={name: raw}), 400, "invalidValue")
    assert scim.get("/Users", query_string={"count": "5", "startIndex": "+2"}).status_code == 200
