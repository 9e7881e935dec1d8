"""The identity rules as pure functions: email, roles, isAdmin."""

from __future__ import annotations

from typing import Any

import pytest

from scimserver.scim.identity import (
    MULTI,
    AccessRules,
    AppMapping,
    access_of,
    email_of,
)

RULES = AccessRules(
    (AppMapping("viewer", "g-view", 2), AppMapping("editor", "g-edit", 1)),
    default_role="guest",
    admin_attribute="urn:x:User:isAdmin",
)


@pytest.mark.parametrize(
    ("document", "email"),
    [
        (
            {
                "emails": [
                    {"value": "a@x.org", "type": "work"},
                    {"value": "p@x.org", "primary": True},
                ]
            },
            "p@x.org",
        ),
        (
            {
                "emails": [
                    {"value": "h@x.org", "type": "home"},
                    {"value": "w@x.org", "type": "Work"},
                ]
            },
            "w@x.org",
        ),
        ({"emails": [{"value": "h@x.org", "type": "home"}, {"value": "o@x.org"}]}, "h@x.org"),
        ({"emails": [{"type": "work"}, {"value": ""}], "userName": "u@x.org"}, "u@x.org"),
        ({"userName": "bjensen"}, None),
        ({"userName": "b jensen@x.org"}, None),
        ({"userName": "bjensen@localhost"}, None),
        ({"emails": "not a list", "userName": "u@x.org"}, "u@x.org"),
    ],
)
def test_email_is_primary_else_work_else_first_else_an_address_username(
    document: dict[str, Any], email: str | None
) -> None:
    assert email_of(document) == email


def test_single_role_is_the_highest_priority_mapped_group() -> None:
    access = access_of(RULES, {}, ["g-view", "g-edit"], None)
    assert access.app_groups == ("editor", "viewer")
    assert access.role == "editor" and access.roles == ("editor",)


def test_multi_role_returns_every_mapped_group() -> None:
    rules = AccessRules(RULES.mappings, MULTI, "guest")
    assert access_of(rules, {}, ["g-view", "g-edit"], None).roles == ("editor", "viewer")


def test_the_default_role_is_for_people_in_no_mapped_group() -> None:
    access = access_of(RULES, {}, ["unmapped"], None)
    assert (access.app_groups, access.role, access.roles) == ((), "guest", ("guest",))


@pytest.mark.parametrize(
    ("value", "known", "expected"),
    [
        (True, None, True),
        (False, True, False),
        (None, True, True),
        (None, False, False),
        (None, None, None),
    ],
)
def test_is_admin_true_false_and_absent_keeps_the_last(
    value: bool | None, known: bool | None, expected: bool | None
) -> None:
    document = {} if value is None else {"urn:x:User": {"isAdmin": value}}
    assert access_of(RULES, document, [], known).is_admin is expected


def test_an_admin_group_says_true_for_members_and_false_for_others() -> None:
    rules = AccessRules(admin_group_id="g-admin")
    assert access_of(rules, {}, ["g-admin"], None).is_admin is True
    assert access_of(rules, {}, [], True).is_admin is False


def test_an_inactive_person_has_no_access_but_keeps_the_known_admin_value() -> None:
    access = access_of(RULES, {"active": False, "urn:x:User": {"isAdmin": True}}, ["g-edit"], None)
    assert (access.app_groups, access.roles, access.is_admin) == ((), (), False)
    assert access.admin_known is True
