"""A patched document reloaded attribute by attribute equals the whole document loaded."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from scimserver.errors import InvalidValue
from scimserver.schema.marshal import Marshaller, Phase
from scimserver.schema.registry import default_schema_dir, load_registry

USER = load_registry([default_schema_dir()]).resource_type("User")
assert USER is not None
USERS = Marshaller(USER)
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

STORED = USERS.load(
    {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "displayName": "Ada Lovelace",
        "active": True,
        "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
        "title": "Analyst",
        ENTERPRISE: {"department": "Engines", "manager": {"value": "b-1"}},
    },
    Phase.CREATE,
)

Edit = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Edit:
    return lambda document: document.__setitem__(key, value)


def _drop(key: str) -> Edit:
    return lambda document: document.pop(key)


def _nested(key: str, sub: str, value: Any) -> Edit:
    return lambda document: document[key].__setitem__(sub, value)


EDITS: dict[str, Edit] = {
    "deactivate": _set("active", False),
    "entra's string boolean": _set("active", "False"),
    "given name": _nested("name", "givenName", "Augusta"),
    "title removed": _drop("title"),
    "blank title": _set("title", ""),
    "new nickName": _set("nickName", "Countess"),
    "emails replaced": _set("emails", [{"value": "a@example.org", "primary": "true"}]),
    "one email, not a list": _set("emails", {"value": "a@example.org"}),
    "department": _nested(ENTERPRISE, "department", "Analytics"),
    "extension removed": _drop(ENTERPRISE),
    "unknown key": _set("favouriteColour", "green"),
    "active as 1, which a load reads as true": _set("active", 1),
    "primary as 1": _set("emails", [{"value": "ada@example.com", "primary": 1}]),
    "an email without its value": _set("emails", [{"type": "work"}]),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_a_reload_equals_a_whole_load(edit: Edit) -> None:
    patched = copy.deepcopy(STORED)
    edit(patched)
    reloaded = USERS.reload(STORED, patched)
    assert reloaded == USERS.load(patched, Phase.REPLACE)
    assert list(reloaded) == list(USERS.load(patched, Phase.REPLACE))  # and in its order


BAD: dict[str, Edit] = {
    "userName removed": _drop("userName"),
    "blank userName": _set("userName", "   "),
    "a number for a string": _nested("name", "givenName", 7),
    "NUL in a string": _set("title", "a\x00b"),
    "active as a list": _set("active", [True]),
}


@pytest.mark.parametrize("edit", BAD.values(), ids=BAD.keys())
def test_a_reload_refuses_what_a_whole_load_refuses(edit: Edit) -> None:
    patched = copy.deepcopy(STORED)
    edit(patched)
    with pytest.raises(InvalidValue) as whole:
        USERS.load(patched, Phase.REPLACE)
    with pytest.raises(InvalidValue) as reloaded:
        USERS.reload(STORED, patched)
    assert str(reloaded.value) == str(whole.value)


def test_attributes_the_patch_left_alone_are_not_validated_again() -> None:
    """What was stored stands: a PATCH of ``active`` is not refused for another attribute."""
    stored = {**STORED, "title": "x" * 70_000}  # longer than a load accepts today
    patched = {**stored, "active": False}
    with pytest.raises(InvalidValue):
        USERS.load(patched, Phase.REPLACE)
    assert USERS.reload(stored, patched) == {**stored, "active": False}
