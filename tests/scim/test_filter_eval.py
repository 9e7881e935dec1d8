"""Evaluating filters over canonical documents (RFC 7644 §3.4.2.2 semantics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scimserver.schema.model import CORE_USER, ENTERPRISE_USER, ResourceType
from scimserver.schema.registry import default_schema_dir, load_registry
from scimserver.scim.filter import matches, parse_filter
from scimserver.scim.values import index_values

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REGISTRY = load_registry([default_schema_dir(), FIXTURES / "custom_schemas"])


def _resource_type(name: str) -> ResourceType:
    found = REGISTRY.resource_type(name)
    assert found is not None
    return found


USER = _resource_type("User")
GROUP = _resource_type("Group")
ACME = "urn:example:params:scim:schemas:extension:acme:2.0:User"


def _bjensen() -> dict[str, Any]:
    """RFC 7643 §8.2's full user, in canonical shape (meta as the store renders it)."""
    doc: dict[str, Any] = json.loads((FIXTURES / "rfc7643" / "user_full.json").read_text())
    doc.pop("password", None)
    doc["meta"] = {
        "resourceType": "User",
        "created": "2010-01-23T04:56:22Z",
        "lastModified": "2011-05-13T04:42:34Z",
    }
    return doc


BJENSEN = _bjensen()
EMAILS_OR = 'emails co "example.com" or emails.value co "example.org"'
WORK_EMAIL = 'emails[type eq "work" and value co "@example.com"]'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "bjensen@example.com"', True),
        ('userName eq "BJensen@Example.COM"', True),
        ('name.familyName co "O\'Malley"', False),
        ('name.familyName co "ENS"', True),
        ('userName sw "J"', False),
        ('userName sw "bj"', True),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B"', True),
        ("title pr", True),
        ('nickName pr and not (name.honorificPrefix eq "Dr.")', True),
        ('meta.lastModified gt "2011-05-13T04:42:34Z"', False),
        ('meta.lastModified ge "2011-05-13T04:42:34Z"', True),
        ('meta.lastModified lt "2011-05-13T04:42:34Z"', False),
        ('meta.lastModified le "2011-05-13T04:42:34Z"', True),
        ('meta.lastModified gt "2011-05-13T06:42:33+02:00"', True),
        ('title pr and userType eq "Employee"', True),
        ('title pr or userType eq "Intern"', True),
        (f'schemas eq "{ENTERPRISE_USER}"', False),
        (f'schemas eq "{CORE_USER.upper()}"', True),
        (f'userType eq "Employee" and ({EMAILS_OR})', True),
        (f'userType ne "Employee" and not ({EMAILS_OR})', False),
        ('userType eq "Employee" and (emails.type eq "work")', True),
        (f'userType eq "Employee" and {WORK_EMAIL}', True),
        (f'{WORK_EMAIL} or ims[type eq "xmpp" and value co "@foo.com"]', True),
        ('emails[type eq "home" and value co "@example.com"]', False),
        ('emails[type eq "work"].value eq "BJENSEN@example.com"', True),
        ('emails[type eq "home"].value eq "bjensen@example.com"', False),
        ('emails[primary eq true and type eq "work"]', True),
        ("emails[not (primary eq true)]", True),
        ("emails.primary eq false", False),
        ("emails.primary ne true", False),
        ('groups.display eq "employees" and groups.value sw "FC348"', True),
        ('externalId eq "701984"', True),
        ('id eq "2819C223-7F76-453A-919D-413861904646"', False),
        ('id eq "2819c223-7f76-453a-919d-413861904646"', True),
        ('meta.resourceType eq "user"', False),
        ('meta.resourceType eq "User"', True),
        ('x509Certificates.value sw "miidqzcc"', True),
        ("active eq true and not (active eq false) and active ne false", True),
        ('addresses[type eq "work" and postalCode eq "91608"] and addresses.region ew "a"', True),
        ('phoneNumbers.value gt "555-555-5555"', False),
        ('phoneNumbers.value ge "555-555-5555"', True),
        ('displayName gt "BABS" and displayName lt "babt"', True),
    ],
)
def test_rfc_user(text: str, expected: bool) -> None:
    assert matches(parse_filter(text, USER), BJENSEN) is expected


# --- The semantic choices, one by one -------------------------------------------------------


def _user(**data: Any) -> dict[str, Any]:
    return {"id": "u1", "userName": "someone", **data}


def test_strings_fold_case_unless_case_exact() -> None:
    doc = _user(title="Straße", externalId="Ext-1")
    assert matches(parse_filter('title eq "STRASSE"', USER), doc)
    assert matches(parse_filter('title co "SS"', USER), doc)
    assert matches(parse_filter('externalId eq "Ext-1"', USER), doc)
    assert not matches(parse_filter('externalId eq "ext-1"', USER), doc)
    assert not matches(parse_filter('externalId co "EXT"', USER), doc)


def test_string_ordering_is_by_folded_code_point() -> None:
    doc = _user(title="b")
    assert matches(parse_filter('title gt "A"', USER), doc)
    assert matches(parse_filter('title lt "C"', USER), doc)
    assert matches(parse_filter('title lt "é"', USER), doc)
    assert not matches(parse_filter('title ge "ba"', USER), doc)


def test_substring_operators_treat_wildcards_literally() -> None:
    doc = _user(title="50% a_b")
    assert matches(parse_filter('title co "%"', USER), doc)
    assert matches(parse_filter('title sw "50%"', USER), doc)
    assert matches(parse_filter('title ew "A_B"', USER), doc)
    assert not matches(parse_filter('title co "a%b"', USER), doc)
    assert matches(parse_filter('title co ""', USER), doc)


def test_numbers_and_datetimes_compare_by_value() -> None:
    doc = _user(**{ACME: {"clearanceLevel": 3, "hireDate": "2020-01-01T10:00:00+02:00"}})
    assert matches(parse_filter("clearanceLevel gt 2 and clearanceLevel le 3.0", USER), doc)
    assert not matches(parse_filter("clearanceLevel gt 10", USER), doc)
    assert matches(parse_filter('hireDate eq "2020-01-01T08:00:00Z"', USER), doc)
    assert matches(parse_filter('hireDate lt "2020-01-01T08:00:00.000001Z"', USER), doc)
    assert not matches(parse_filter('hireDate gt "2020-01-01T03:00:00-05:00"', USER), doc)


def test_ne_on_an_absent_attribute_matches() -> None:
    """Documented choice: ``a ne v`` is ``not (a eq v)``."""
    assert matches(parse_filter('title ne "boss"', USER), _user())
    assert matches(parse_filter('title ne "boss"', USER), _user(title="clerk"))
    assert not matches(parse_filter('title ne "BOSS"', USER), _user(title="boss"))


def test_ne_on_multi_valued_means_no_value_equals() -> None:
    doc = _user(emails=[{"value": "a@x"}, {"value": "b@x"}])
    assert not matches(parse_filter('emails.value ne "a@x"', USER), doc)
    assert matches(parse_filter('emails.value ne "c@x"', USER), doc)


def test_multi_valued_comparison_matches_any_value() -> None:
    doc = _user(emails=[{"value": "a@x", "type": "home"}, {"value": "b@y", "type": "work"}])
    assert matches(parse_filter('emails eq "B@Y"', USER), doc)
    assert matches(parse_filter('emails.type eq "work" and emails.value co "@x"', USER), doc)
    assert not matches(parse_filter('emails[type eq "work" and value co "@x"]', USER), doc)


@pytest.mark.parametrize(
    ("data", "present"),
    [
        ({}, False),
        ({"title": ""}, False),
        ({"title": None}, False),
        ({"title": "x"}, True),
        ({"emails": []}, False),
        ({"emails": [{}]}, False),
        ({"emails": [{"value": ""}, {"type": None}]}, False),
        ({"emails": [{"value": ""}, {"type": "work"}]}, True),
        ({"name": {}}, False),
        ({"name": {"givenName": "x"}}, True),
    ],
)
def test_present_means_non_empty(data: dict[str, Any], present: bool) -> None:
    path = next(iter(data), "title")
    assert matches(parse_filter(f"{path} pr", USER), _user(**data)) is present
    assert matches(parse_filter(f"{path} eq null", USER), _user(**data)) is not present


def test_empty_values_never_compare() -> None:
    doc = _user(title="", emails=[{"value": "", "type": "work"}])
    assert not matches(parse_filter('title eq ""', USER), doc)
    assert not matches(parse_filter('title co ""', USER), doc)
    assert not matches(parse_filter('emails[value eq ""]', USER), doc)
    assert matches(parse_filter("emails[not (value pr)]", USER), doc)


def test_value_filter_on_singular_complex_attribute() -> None:
    doc = _user(**{ENTERPRISE_USER: {"manager": {"value": "m1", "displayName": "Boss"}}})
    assert matches(parse_filter('manager[value eq "M1" and displayName co "os"]', USER), doc)
    assert not matches(parse_filter('manager[value eq "m1" and displayName eq "x"]', USER), doc)
    assert matches(parse_filter(f"{ENTERPRISE_USER}:manager.value pr", USER), doc)
    assert matches(parse_filter(f'schemas eq "{ENTERPRISE_USER}"', USER), doc)


def test_wrong_json_types_in_documents_never_compare() -> None:
    doc = _user(active="true", title=7, **{ACME: {"clearanceLevel": "3"}})
    assert not matches(parse_filter("active eq true", USER), doc)
    assert matches(parse_filter("active pr", USER), doc)
    assert not matches(parse_filter('title eq "7"', USER), doc)
    assert not matches(parse_filter("clearanceLevel eq 3", USER), doc)


def test_entra_group_membership_check() -> None:
    group = {
        "id": "g1",
        "displayName": "Admins",
        "members": [{"value": "u1", "type": "User"}, {"value": "g2", "type": "Group"}],
    }
    assert matches(parse_filter('id eq "g1" and members eq "U1"', GROUP), group)
    assert not matches(parse_filter('id eq "g1" and members eq "u3"', GROUP), group)
    assert matches(parse_filter('members[value eq "g2" and type eq "group"]', GROUP), group)
    assert not matches(parse_filter('members[value eq "g2" and type eq "user"]', GROUP), group)


def test_parent_filters_evaluate_one_element() -> None:
    emails = USER.resolve("emails")
    assert emails is not None
    node = parse_filter('type eq "work" and not (primary eq true)', USER, parent=emails)
    assert matches(node, {"value": "a@x", "type": "WORK"})
    assert not matches(node, {"value": "a@x", "type": "work", "primary": True})
    assert not matches(node, {"value": "a@x"})


def test_the_index_has_a_row_for_every_non_empty_leaf() -> None:
    """``pr`` in SQL is "a row exists": the index and ``matches`` agree on emptiness."""
    doc = _user(title="", emails=[{"value": "a@x", "type": ""}, {}], active=False)
    paths = {(v.path, v.ordinal) for v in index_values(USER, doc)}
    assert paths == {("username", 0), ("emails.value", 0), ("active", 0), ("schemas", 0)}
