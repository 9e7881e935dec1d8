"""No input gets a 500: random JSON bodies and query strings, on every write and read route.

Bodies are built from the schema's own attribute names, PATCH keywords and the ids of
real resources, so the generator reaches deep into validation, PATCH and membership code
instead of bouncing off the first type check. Every answer must be a success or a SCIM
error body with a 4xx status.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ScimClient

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
NAMES = [
    "schemas", "id", "externalId", "meta", "userName", "name", "givenName", "name.givenName",
    "displayName", "active", "emails", "value", "type", "primary", "display", "phoneNumbers",
    "addresses", "groups", "password", "roles", "x509Certificates", "members",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "manager", "employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    'emails[type eq "work"].value', "members[value eq", "Operations", "op", "path",
]  # fmt: skip
WORDS = ["add", "replace", "remove", "Add", "Remove", "True", "False", "work", PATCH_OP]
QUERY_VALUES = [
    'userName eq "x"', 'emails[type eq "work"]', 'meta.created gt "2020-01-01T00:00:00Z"',
    "members.value pr", "name.givenName", "-1", "0", "99999999999999999999", "descending",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
]  # fmt: skip
QUERY_NAMES = [
    "filter", "attributes", "excludedAttributes", "sortBy", "sortOrder", "startIndex", "count",
    "cursor",
]  # fmt: skip
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def json_values(ids: list[str]) -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False)
        | st.text(max_size=12)
        | st.sampled_from(NAMES + WORDS + ids)
    )
    keys = st.sampled_from(NAMES) | st.text(max_size=8)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=25,
    )


def assert_no_server_error(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.get_json()["schemas"] == [ERROR]


@pytest.fixture
def targets(scim: ScimClient) -> dict[str, str]:
    user = scim.create_user("fuzz@example.com", emails=[{"value": "f@example.com"}])
    group = scim.create_group("Fuzzers", [user["id"]])
    return {"Users": user["id"], "Groups": group["id"]}


@FUZZ
@given(data=st.data())
def test_random_write_bodies_never_get_a_500(
    scim: ScimClient, targets: dict[str, str], data: st.DataObject
) -> None:
    ids = list(targets.values())
    body = data.draw(json_values(ids))
    endpoint = data.draw(st.sampled_from(["Users", "Groups"]))
    method = data.draw(st.sampled_from(["POST", "PUT", "PATCH", "PATCHOP"]))
    if method == "PATCHOP":  # a well-formed envelope around random operations
        operations = body if isinstance(body, list) else [body]
        body, method = {"schemas": [PATCH_OP], "Operations": operations}, "PATCH"
    path = f"/{endpoint}" if method == "POST" else f"/{endpoint}/{targets[endpoint]}"
    response = scim.open(method, path, data=json.dumps(body))
    assert_no_server_error(response)


@FUZZ
@given(data=st.data())
def test_random_query_strings_never_get_a_500(
    scim: ScimClient, targets: dict[str, str], data: st.DataObject
) -> None:
    values = st.sampled_from(QUERY_VALUES) | st.text(max_size=30)
    query = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), values, max_size=4))
    endpoint = data.draw(st.sampled_from(["Users", "Groups", ""]))
    single = endpoint and data.draw(st.booleans())
    path = f"/{endpoint}/{targets[endpoint]}" if single else f"/{endpoint}"
    assert_no_server_error(scim.get(path, query_string=query))
    if endpoint:
        assert_no_server_error(scim.post(f"/{endpoint}/.search", query))
