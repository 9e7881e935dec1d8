"""``split``: a projected document around a list whose elements are projected one by one."""

from __future__ import annotations

from typing import Any

import pytest

from scimserver.schema import load_registry
from scimserver.schema.registry import default_schema_dir
from scimserver.scim.projection import parse_projection, project, split

GROUP = load_registry([default_schema_dir()]).resource_type("Group")
assert GROUP is not None
MEMBERS = [
    {"value": "a", "type": "User", "$ref": "https://x/Users/a", "display": "A"},
    {"value": "b", "type": "User", "$ref": "https://x/Users/b"},
]
DOCUMENT: dict[str, Any] = {
    "schemas": [GROUP.schema.id],
    "id": "g",
    "externalId": "e",
    "displayName": "G",
    "members": MEMBERS,
    "meta": {"resourceType": "Group", "version": 'W/"1"'},
}


@pytest.mark.parametrize(
    ("attributes", "excluded"),
    [
        (None, None),
        ("members.value", None),
        ("members.display", None),  # b has no display: it is left out
        ("displayName,members", None),
        (None, "members.$ref,meta"),
        (None, "externalId,members.type"),
    ],
)
def test_head_elements_and_tail_make_the_projected_document(
    attributes: str | None, excluded: str | None
) -> None:
    projection = parse_projection(GROUP, attributes, excluded)
    parts = split(GROUP, DOCUMENT, "members", projection)
    assert parts is not None
    elements = [kept for m in MEMBERS if (kept := parts.element(dict(m)))]
    rebuilt = {**parts.head, parts.name: elements, **parts.tail}
    expected = project(GROUP, DOCUMENT, projection)
    assert list(rebuilt.items()) == list(expected.items())  # same keys in the same order


def test_a_list_the_projection_leaves_out_is_not_split() -> None:
    projection = parse_projection(GROUP, None, "members")
    assert split(GROUP, DOCUMENT, "members", projection) is None
    assert split(GROUP, DOCUMENT, "members", parse_projection(GROUP, "displayName", None)) is None
