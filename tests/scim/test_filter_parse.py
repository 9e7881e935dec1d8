"""Parsing filters: the RFC 7644 §3.4.2.2 grammar, the parser bugs we work around, errors."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scimserver.errors import InvalidFilter
from scimserver.schema.model import ENTERPRISE_USER, ResourceType, Schema
from scimserver.schema.registry import default_schema_dir, load_registry
from scimserver.scim.filter import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_LENGTH,
    And,
    Compare,
    ElementRef,
    FilterNode,
    Not,
    Or,
    Present,
    ValuePath,
    parse_filter,
    parse_tokens,
    unparse,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REGISTRY = load_registry([default_schema_dir(), FIXTURES / "custom_schemas"])


def _resource_type(name: str) -> ResourceType:
    found = REGISTRY.resource_type(name)
    assert found is not None
    return found


USER = _resource_type("User")
GROUP = _resource_type("Group")

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# RFC 7644 §3.4.2.2, every example filter, with the tree we read it as.
LAST_MODIFIED = '"2011-05-13T04:42:34Z"'
EMAILS_OR = 'emails co "example.com" or emails.value co "example.org"'
EMAILS_OR_READ = 'emails.value co "example.com" or emails.value co "example.org"'
WORK_EMAIL = 'emails[type eq "work" and value co "@example.com"]'
XMPP = 'ims[type eq "xmpp" and value co "@foo.com"]'
RFC_EXAMPLES = [
    ('userName eq "bjensen"', 'userName eq "bjensen"'),
    ('name.familyName co "O\'Malley"', 'name.familyName co "O\'Malley"'),
    ('userName sw "J"', 'userName sw "J"'),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', 'userName sw "J"'),
    ("title pr", "title pr"),
    (f"meta.lastModified gt {LAST_MODIFIED}", f"meta.lastModified gt {LAST_MODIFIED}"),
    (f"meta.lastModified ge {LAST_MODIFIED}", f"meta.lastModified ge {LAST_MODIFIED}"),
    (f"meta.lastModified lt {LAST_MODIFIED}", f"meta.lastModified lt {LAST_MODIFIED}"),
    (f"meta.lastModified le {LAST_MODIFIED}", f"meta.lastModified le {LAST_MODIFIED}"),
    ('title pr and userType eq "Employee"', 'title pr and userType eq "Employee"'),
    ('title pr or userType eq "Intern"', 'title pr or userType eq "Intern"'),
    (f'schemas eq "{ENTERPRISE}"', f'schemas eq "{ENTERPRISE}"'),
    (
        f'userType eq "Employee" and ({EMAILS_OR})',
        f'userType eq "Employee" and ({EMAILS_OR_READ})',
    ),
    (
        f'userType ne "Employee" and not ({EMAILS_OR})',
        f'userType ne "Employee" and not ({EMAILS_OR_READ})',
    ),
    (
        'userType eq "Employee" and (emails.type eq "work")',
        'userType eq "Employee" and emails.type eq "work"',
    ),
    (f'userType eq "Employee" and {WORK_EMAIL}', f'userType eq "Employee" and {WORK_EMAIL}'),
    (f"{WORK_EMAIL} or {XMPP}", f"{WORK_EMAIL} or {XMPP}"),
]


@pytest.mark.parametrize(("text", "canonical"), RFC_EXAMPLES)
def test_rfc_examples(text: str, canonical: str) -> None:
    assert unparse(parse_filter(text, USER)) == canonical


# --- Names and operators ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'USERNAME EQ "x"',
        'username Eq "x"',
        'urn:ietf:params:scim:schemas:core:2.0:User:UserName eQ "x"',
        'URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:userName eq "x"',
    ],
)
def test_names_and_operators_are_case_insensitive(text: str) -> None:
    node = parse_filter(text, USER)
    assert isinstance(node, Compare)
    assert node.op == "eq"
    assert node.ref == USER.resolve("userName")


def test_extension_attributes_resolve_qualified_or_not() -> None:
    plain = parse_filter('employeeNumber eq "7"', USER)
    qualified = parse_filter(f'{ENTERPRISE_USER}:employeeNumber eq "7"', USER)
    sub = parse_filter(f'{ENTERPRISE_USER}:manager.value eq "m"', USER)
    assert plain == qualified
    assert isinstance(sub, Compare) and sub.ref.key == f"{ENTERPRISE_USER.lower()}:manager.value"


def test_complex_attribute_compared_directly_means_its_value() -> None:
    assert unparse(parse_filter('emails eq "x"', USER)) == 'emails.value eq "x"'
    assert unparse(parse_filter('members eq "u"', GROUP)) == 'members.value eq "u"'
    entra = parse_filter('id eq "g" and members eq "u"', GROUP)
    assert unparse(entra) == 'id eq "g" and members.value eq "u"'


def test_value_path_names_resolve_as_sub_attributes() -> None:
    node = parse_filter('emails[TYPE eq "work"]', USER)
    assert isinstance(node, ValuePath)
    assert isinstance(node.filter, Compare)
    assert isinstance(node.filter.ref, ElementRef)
    assert node.filter.ref.key == "emails.type"


def test_entra_sub_attribute_after_value_filter() -> None:
    node = parse_filter('emails[type eq "work"].value eq "a@b.c"', USER)
    assert unparse(node) == 'emails[type eq "work" and value eq "a@b.c"]'


def test_null_compares_as_presence() -> None:
    assert unparse(parse_filter("title eq null", USER)) == "not (title pr)"
    assert unparse(parse_filter("title ne null", USER)) == "title pr"


# --- Precedence (the parser gives and/or one level) --------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("title pr or nickName pr and locale pr", "title pr or (nickName pr and locale pr)"),
        ("title pr and nickName pr or locale pr", "(title pr and nickName pr) or locale pr"),
        ("(title pr or nickName pr) and locale pr", "(title pr or nickName pr) and locale pr"),
        (
            "title pr or nickName pr and locale pr or timezone pr",
            "title pr or ((nickName pr and locale pr) or timezone pr)",
        ),
        ("not (title pr) and nickName pr", "not (title pr) and nickName pr"),
        ("not (title pr or nickName pr)", "not (title pr or nickName pr)"),
        (
            'emails[type eq "a" or value pr and primary eq true]',
            'emails[type eq "a" or (value pr and primary eq true)]',
        ),
    ],
)
def test_and_binds_tighter_than_or(text: str, canonical: str) -> None:
    assert unparse(parse_filter(text, USER)) == canonical


def test_long_chains_become_shallow_trees() -> None:
    node = parse_filter(" and ".join(["title pr"] * MAX_COMPARISONS), USER)

    def depth(n: FilterNode) -> int:
        return 1 + max(depth(n.left), depth(n.right)) if isinstance(n, And | Or) else 1

    assert depth(node) <= 10


# --- Values: JSON types, numbers, escapes, dateTimes ---------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("clearanceLevel eq 10", 10),
        ("clearanceLevel gt -12", -12),
        ("clearanceLevel eq 2.0", 2),
        ("clearanceLevel eq 1e2", 100),
        ("clearanceLevel lt 0", 0),
        ('title eq "a\\"b"', 'a"b'),
        ('title eq "\\u00e9t\\u00E9"', "été"),
        ('title eq "back\\\\slash\\/"', "back\\slash/"),
        ('title eq "true"', "true"),
        ("active eq true", True),
        ("active ne false", False),
    ],
)
def test_values_keep_their_json_type(text: str, value: object) -> None:
    node = parse_filter(text, USER)
    assert isinstance(node, Compare)
    assert node.value == value
    assert type(node.value) is type(value)


def _with_odd_names() -> ResourceType:
    schema = Schema.from_json(
        {
            "id": "urn:example:odd",
            "attributes": [
                {"name": "nullable", "type": "string"},
                {"name": "trueName", "type": "string"},
                {"name": "falsehood", "type": "boolean"},
                {"name": "ratio", "type": "decimal"},
            ],
        }
    )
    return ResourceType("Odd", "Odd", "/Odds", "", schema)


def test_literals_are_whole_words_only() -> None:
    odd = _with_odd_names()
    node = parse_filter('nullable eq "x" and trueName pr and falsehood eq false', odd)
    assert unparse(node) == 'nullable eq "x" and (trueName pr and falsehood eq false)'


def test_decimals_and_negative_numbers() -> None:
    node = parse_filter("ratio gt -1.5 and ratio le 2.25e1", _with_odd_names())
    assert isinstance(node, And)
    assert isinstance(node.left, Compare) and node.left.value == -1.5
    assert isinstance(node.right, Compare) and node.right.value == 22.5


def test_datetimes_become_aware_utc() -> None:
    node = parse_filter('meta.created ge "2011-05-13T06:42:34.5+02:00"', USER)
    assert isinstance(node, Compare)
    assert node.value == datetime(2011, 5, 13, 4, 42, 34, 500000, tzinfo=UTC)
    assert node.value.tzinfo is UTC
    naive = parse_filter('hireDate lt "2011-05-13T04:42:34"', USER)
    assert isinstance(naive, Compare) and naive.value.tzinfo is UTC


# --- Errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('nosuch eq "x"', "Unknown attribute 'nosuch'"),
        ('name.nosuch eq "x"', "Unknown attribute 'name.nosuch'"),
        ('urn:example:nope:userName eq "x"', "Unknown attribute"),
        ('emails[nosuch eq "x"]', "'nosuch' is not a sub-attribute of 'emails'"),
        ('emails[name.givenName eq "x"]', "is not a sub-attribute"),
        ('emails[type eq "a" and ims[type eq "b"]]', "cannot be nested"),
        ('userName[type eq "x"]', "not a complex attribute"),
        ('emails.value[type eq "x"]', "must follow a complex attribute"),
        ('emails[type eq "x"] eq "y"', "name a sub-attribute"),
        ('active eq "yes"', "not a valid boolean for 'active'"),
        ("meta.created gt 5", "not a valid dateTime for 'meta.created'"),
        ('meta.created gt "yesterday"', "not a valid dateTime"),
        ('meta.created gt "13 May 2011"', "not a valid dateTime"),
        ("userName eq 5", "not a valid string for 'userName'"),
        ("userName eq true", "not a valid string"),
        ('clearanceLevel eq "3"', "not a valid integer"),
        ("clearanceLevel eq 2.5", "not a valid integer"),
        ("clearanceLevel eq 1e999", "not a valid integer"),
        ('active co "t"', "operator 'co' is not supported on boolean attribute 'active'"),
        ("active gt true", "operator 'gt' is not supported on boolean"),
        ("clearanceLevel sw 1", "operator 'sw' is not supported on integer"),
        ('meta.created co "2011"', "operator 'co' is not supported on dateTime"),
        ('x509Certificates.value gt "a"', "operator 'gt' is not supported on binary"),
        ('name eq "x"', "'name' is complex"),
        ("title gt null", "null is not a valid string"),
        ('password eq "x"', "Filtering on 'password' is not supported"),
        ('meta.location eq "x"', "'meta.location' is not supported"),
        ('meta.version eq "x"', "'meta.version' is not supported"),
        ("meta pr", "sub-attribute of meta"),
        ('userName eq "a\\u0000"', "characters not allowed"),
        ('userName eq "\\ud800"', "characters not allowed"),
        ('userName eq "a\\q"', "Invalid \\escape"),
        ("userName eq 'x'", "Illegal character"),
        ('userName eq "x', "Illegal character"),
        ('userName eq "x" and', "ends too early"),
        ("userName eq", "ends too early"),
        ('(userName eq "x"', "ends too early"),
        ('userName eq "x")', "unexpected ')'"),
        ('not userName eq "x"', "unexpected 'userName'"),
        ("active eq True", "unexpected 'True'"),
        ('userName regex "x"', "unexpected 'regex'"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_invalid_filters_name_the_problem(text: str, detail: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text, USER)
    assert detail in caught.value.detail
    assert caught.value.scim_type == "invalidFilter"


def test_group_members_ref_is_not_filterable() -> None:
    with pytest.raises(InvalidFilter, match=r"members\.\$ref"):
        parse_filter('members.$ref eq "x"', GROUP)
    with pytest.raises(InvalidFilter, match="Unknown attribute 'userName'"):
        parse_filter('userName eq "x"', GROUP)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('title eq "' + "x" * MAX_LENGTH + '"', "longer than"),
        ("(" * (MAX_DEPTH + 1) + "title pr" + ")" * (MAX_DEPTH + 1), "deeper than"),
        ("(" * 1000 + "title pr" + ")" * 1000, "deeper than"),
        (" or ".join(["title pr"] * (MAX_COMPARISONS + 1)), "more than"),
    ],
)
def test_limits(text: str, detail: str) -> None:
    with pytest.raises(InvalidFilter, match=detail):
        parse_filter(text, USER)


def test_limits_are_inclusive() -> None:
    deep = "(" * MAX_DEPTH + "title pr" + ")" * MAX_DEPTH
    assert parse_filter(deep, USER) == Present(USER.resolve("title"))  # type: ignore[arg-type]
    assert parse_filter(" or ".join(["title pr"] * MAX_COMPARISONS), USER)


# --- Value filters for PATCH paths (parent=…) -------------------------------------------------


def test_parent_filter_uses_sub_attributes() -> None:
    emails = USER.resolve("emails")
    assert emails is not None
    node = parse_filter('type eq "work" and not (primary eq true)', USER, parent=emails)
    assert unparse(node) == 'type eq "work" and not (primary eq true)'
    assert isinstance(node, And) and isinstance(node.right, Not)
    assert isinstance(node.left, Compare) and isinstance(node.left.ref, ElementRef)


def test_parent_filter_rejects_other_names() -> None:
    members = GROUP.resolve("members")
    title = USER.resolve("title")
    assert members is not None and title is not None
    assert parse_filter('value eq "u1" or value eq "u2"', GROUP, parent=members)
    with pytest.raises(InvalidFilter, match="not a sub-attribute of 'members'"):
        parse_filter('displayName eq "x"', GROUP, parent=members)
    with pytest.raises(InvalidFilter, match="not a complex attribute"):
        parse_filter('value eq "x"', USER, parent=title)


# --- Properties ------------------------------------------------------------------------------

_ATOMS = [
    'userName eq "Bjensen"',
    "title pr",
    'emails.value co "@x"',
    "active eq false",
    'meta.created lt "2020-01-01T00:00:00+01:00"',
    "clearanceLevel ge -2",
    f'{ENTERPRISE}:manager.value sw "m"',
    'emails[type eq "work" and primary eq true]',
    'name.givenName ne "ß"',
    'schemas eq "urn:x"',
    'title eq "\\"quoted\\" \\u00e9"',
]


@st.composite
def _texts(draw: st.DrawFn, depth: int = 0) -> str:
    shape = draw(st.integers(0, 3 if depth < 3 else 0))
    if shape == 0:
        return draw(st.sampled_from(_ATOMS))
    if shape == 1:
        return f"not ({draw(_texts(depth + 1))})"
    left, right = draw(_texts(depth + 1)), draw(_texts(depth + 1))
    joined = f"{left} {draw(st.sampled_from(['and', 'or', 'AND', 'oR']))} {right}"
    return f"({joined})" if shape == 3 else joined


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_texts())
def test_unparse_round_trips(text: str) -> None:
    node = parse_filter(text, USER)
    assert parse_filter(unparse(node), USER) == node


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.text(alphabet=' ()[]."\\:-_$aeiqnrtuoslpwcmg0123456789EQTUN', max_size=60))
def test_any_text_parses_or_raises_invalid_filter(text: str) -> None:
    with contextlib.suppress(InvalidFilter):
        parse_filter(text, USER)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from([*_ATOMS, "(", ")", "and", "or", "not", "["]), max_size=12))
def test_token_soup_parses_or_raises_invalid_filter(words: list[str]) -> None:
    try:
        node = parse_filter(" ".join(words), USER)
    except InvalidFilter:
        return
    assert isinstance(node, And | Or | Not | Compare | Present | ValuePath)


_NAMES = st.sampled_from(
    [
        "userName",
        "USERNAME",
        "name.givenName",
        "emails.value",
        "emails",
        "title",
        "active",
        "meta.created",
        "meta.lastModified",
        "password",
        "meta.location",
        "externalId",
        "nope",
        "name.nope",
        "and",
        "pr",
        "or.value",
        "schemas",
        "employeeNumber",
        "members.value",
        "x-y",
    ]
)
_OPS = st.sampled_from(["eq", "EQ", "ne", "co", "Sw", "ew", "gt", "ge", "lt", "le", "pr", "xx"])
_STRINGS = st.text(max_size=12).map(json.dumps) | st.sampled_from(
    ['"a\\qb"', '"\\u00e9"', '"2026-01-01T00:00:00Z"', '"true"', '"x\\"', '"unterminated']
)
_SPACES = st.sampled_from([" ", "  ", "\t", ""])


@given(_SPACES, _NAMES, _SPACES, _OPS, _SPACES, _STRINGS, _SPACES, st.sampled_from([USER, GROUP]))
@settings(max_examples=400, deadline=None)
def test_the_fast_path_agrees_with_the_full_parser(
    lead: str, name: str, gap: str, op: str, gap2: str, value: str, tail: str, rt: ResourceType
) -> None:
    """``attr op "string"`` skips the tokenizer: same tree, or the same refusal."""
    text = f"{lead}{name}{gap or ' '}{op}{gap2 or ' '}{value}{tail}"
    outcomes = []
    for parse in (lambda: parse_filter(text, rt), lambda: parse_tokens(text, rt, None)):
        try:
            outcomes.append(unparse(parse()))
        except InvalidFilter as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1], text
