"""``project``: what a client sees of a stored document, asked for attributes or not."""

from __future__ import annotations

from typing import Any

import pytest

from scimserver.schema.model import Extension, ResourceType, Schema
from scimserver.scim.projection import parse_projection, project

CORE = "urn:example:schemas:Badge"
EXTRA = "urn:example:schemas:extension:Badge"


def _string(name: str, returned: str = "default") -> dict[str, Any]:
    return {"name": name, "type": "string", "returned": returned}


BADGE = ResourceType(
    id="Badge",
    name="Badge",
    endpoint="/Badges",
    description="",
    schema=Schema.from_json(
        {
            "id": CORE,
            "attributes": [
                _string("label"),
                _string("secret", "never"),
                _string("nickname", "request"),
                {
                    "name": "keys",
                    "type": "complex",
                    "multiValued": True,
                    "subAttributes": [_string("code"), _string("token", "never")],
                },
            ],
        }
    ),
    extensions=(
        Extension(
            Schema.from_json(
                {"id": EXTRA, "attributes": [_string("room"), _string("pin", "request")]}
            ),
            required=False,
        ),
    ),
)
STORED: dict[str, Any] = {  # as the service hands a stored document to project()
    "schemas": [CORE, EXTRA],
    "id": "b1",
    "label": "Front door",
    "secret": "s3cret",
    "nickname": "fd",
    "keys": [{"code": "a", "token": "t1"}, {"code": "b"}],
    EXTRA: {"room": "12", "pin": "0000"},
    "meta": {"resourceType": "Badge", "version": 'W/"1"'},
}


def _seen(attributes: str | None = None, excluded: str | None = None) -> dict[str, Any]:
    return project(BADGE, STORED, parse_projection(BADGE, attributes, excluded))


def test_by_default_a_client_sees_neither_never_nor_request_attributes() -> None:
    assert list(_seen().items()) == [
        ("schemas", [CORE, EXTRA]),
        ("id", "b1"),
        ("label", "Front door"),
        ("keys", [{"code": "a"}, {"code": "b"}]),
        ("meta", {"resourceType": "Badge", "version": 'W/"1"'}),
        (EXTRA, {"room": "12"}),
    ]


def test_an_extension_left_empty_leaves_schemas_too() -> None:
    only_pin = {**STORED, EXTRA: {"pin": "0000"}}
    seen = project(BADGE, only_pin, parse_projection(BADGE, None, None))
    assert EXTRA not in seen
    assert seen["schemas"] == [CORE]


def test_an_unknown_or_wrongly_cased_stored_key_is_not_shown() -> None:
    odd = {**STORED, "Label": "x", "stray": 1}
    for projection in (parse_projection(BADGE, None, None), parse_projection(BADGE, "label", None)):
        seen = project(BADGE, odd, projection)
        assert "Label" not in seen and "stray" not in seen


@pytest.mark.parametrize(
    ("attributes", "excluded", "expected"),
    [
        ("nickname", None, {"schemas": [CORE], "id": "b1", "nickname": "fd"}),
        ("secret", None, {"schemas": [CORE], "id": "b1"}),
        ("keys", None, {"schemas": [CORE], "id": "b1", "keys": [{"code": "a"}, {"code": "b"}]}),
        ("keys.token", None, {"schemas": [CORE], "id": "b1"}),
        (f"{EXTRA}:pin", None, {"schemas": [CORE, EXTRA], "id": "b1", EXTRA: {"pin": "0000"}}),
        (EXTRA, None, {"schemas": [CORE, EXTRA], "id": "b1", EXTRA: {"room": "12", "pin": "0000"}}),
        (
            None,
            "label,keys,meta",
            {"schemas": [CORE, EXTRA], "id": "b1", EXTRA: {"room": "12"}},
        ),
    ],
)
def test_asked_for_attributes_a_client_never_sees_a_never_value(
    attributes: str | None, excluded: str | None, expected: dict[str, Any]
) -> None:
    assert _seen(attributes, excluded) == expected


def test_projecting_leaves_the_stored_document_as_it_was() -> None:
    before = repr(STORED)
    _seen()
    _seen("keys")
    assert repr(STORED) == before
