"""PATCH (RFC 7644 §3.5.2) over canonical documents: RFC examples, Entra and Okta bodies."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scimserver import errors
from scimserver.schema import load_registry
from scimserver.schema.model import Attribute, ResourceType, Schema
from scimserver.schema.registry import default_schema_dir
from scimserver.scim.patch import (
    PATCH_OP,
    MemberChanges,
    PatchOperation,
    PatchResult,
    apply_patch,
    only_members,
    parse_operations,
)
from scimserver.scim.paths import Equalities, equalities

REGISTRY = load_registry([default_schema_dir()])


def _resource_type(name: str) -> ResourceType:
    found = REGISTRY.resource_type(name)
    assert found is not None
    return found


USER = _resource_type("User")
GROUP = _resource_type("Group")

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ABSENT = object()

BASE_USER: dict[str, Any] = {
    "schemas": [CORE],
    "userName": "bjensen",
    "externalId": "bjensen-ext",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "displayName": "Babs Jensen",
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "primary": True}],
}
ENTERPRISE_USER: dict[str, Any] = {
    **BASE_USER,
    "schemas": [CORE, ENT],
    ENT: {
        "employeeNumber": "701984",
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"},
    },
}
BARE_USER: dict[str, Any] = {"schemas": [CORE], "userName": "bare"}
BASE_GROUP: dict[str, Any] = {"schemas": [GROUP_URN], "displayName": "Tour Guides"}

BABS = "2819c223-7f76-453a-919d-413861904646"
MANDY = "902c246b-6245-4190-8e05-00816be7344a"

# A resource type with the characteristics the shipped schemas lack (immutable, simple
# multi-valued, required sub-attribute-free complex) so their rules can be tested.
WIDGET_SCHEMA = Schema.from_json(
    {
        "id": "urn:example:scim:schemas:Widget",
        "name": "Widget",
        "attributes": [
            {"name": "serial", "type": "string", "mutability": "immutable"},
            {"name": "label", "type": "string", "required": True},
            {"name": "tags", "type": "string", "multiValued": True},
        ],
    }
)
WIDGET = ResourceType("Widget", "Widget", "/Widgets", "", WIDGET_SCHEMA)


def body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def patch(
    document: dict[str, Any], *operations: dict[str, Any], rt: ResourceType = USER
) -> PatchResult:
    before = copy.deepcopy(document)
    result = apply_patch(rt, document, parse_operations(body(*operations)))
    assert document == before, "apply_patch mutated its input"
    assert result.document is not document
    return result


def expect(base: dict[str, Any], result: PatchResult, changes: dict[str, Any]) -> None:
    """``result.document`` is ``base`` with ``changes`` (ABSENT: key removed)."""
    wanted = {**base, **changes}
    wanted = {k: v for k, v in wanted.items() if v is not ABSENT}
    assert result.document == wanted


# (id, base document, operations, changed top-level keys, normalisations that must fire)
DOCUMENT_CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], dict[str, Any], set[str]]] = [
    # --- RFC 7644 §3.5.2 examples, verbatim bodies ---
    (
        "rfc-add-no-path-emails-nickname",
        BASE_USER,
        [
            {
                "op": "add",
                "value": {
                    "emails": [{"value": "babs@jensen.org", "type": "home"}],
                    "nickname": "Babs",
                },
            }
        ],
        {"nickName": "Babs"},
        set(),
    ),
    (
        "rfc-replace-filtered-element",
        BASE_USER,
        [
            {
                "op": "replace",
                "path": 'addresses[type eq "work"]',
                "value": {
                    "type": "work",
                    "streetAddress": "911 Universal City Plaza",
                    "locality": "Hollywood",
                    "region": "CA",
                    "postalCode": "91608",
                    "country": "US",
                    "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
                    "primary": True,
                },
            }
        ],
        {
            "addresses": [
                {
                    "type": "work",
                    "streetAddress": "911 Universal City Plaza",
                    "locality": "Hollywood",
                    "region": "CA",
                    "postalCode": "91608",
                    "country": "US",
                    "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
                    "primary": True,
                }
            ]
        },
        set(),
    ),
    (
        "rfc-replace-filtered-sub-attribute",
        BASE_USER,
        [
            {
                "op": "replace",
                "path": 'addresses[type eq "work"].streetAddress',
                "value": "1010 Broadway Ave",
            }
        ],
        {"addresses": [{"type": "work", "streetAddress": "1010 Broadway Ave", "primary": True}]},
        set(),
    ),
    (
        "rfc-replace-no-path",
        BASE_USER,
        [
            {
                "op": "replace",
                "value": {
                    "emails": [
                        {"value": "bjensen@example.com", "type": "work", "primary": True},
                        {"value": "babs@jensen.org", "type": "home"},
                    ],
                    "nickname": "Babs",
                },
            }
        ],
        {"nickName": "Babs"},
        set(),
    ),
    (
        "rfc-remove-complex-filter",
        BASE_USER,
        [{"op": "remove", "path": 'emails[type eq "work" and value ew "example.com"]'}],
        {"emails": [{"value": "babs@jensen.org", "type": "home"}]},
        set(),
    ),
    # --- simple and complex attributes, names case-insensitive ---
    (
        "replace-simple",
        BASE_USER,
        [{"op": "replace", "path": "userName", "value": "babs"}],
        {"userName": "babs"},
        set(),
    ),
    (
        "replace-core-urn-qualified",
        BASE_USER,
        [{"op": "replace", "path": f"{CORE}:userName", "value": "babs"}],
        {"userName": "babs"},
        set(),
    ),
    (
        "path-case-insensitive-output-canonical",
        BASE_USER,
        [{"op": "add", "path": "NICKNAME", "value": "Babs"}],
        {"nickName": "Babs"},
        set(),
    ),
    (
        "replace-sub-attribute",
        BASE_USER,
        [{"op": "replace", "path": "name.givenName", "value": "Babs"}],
        {"name": {"givenName": "Babs", "familyName": "Jensen"}},
        set(),
    ),
    (
        "add-complex-merges",
        BASE_USER,
        [{"op": "add", "path": "name", "value": {"middlename": "Jane"}}],
        {"name": {"givenName": "Barbara", "familyName": "Jensen", "middleName": "Jane"}},
        set(),
    ),
    (
        "replace-complex-merges",
        BASE_USER,
        [{"op": "replace", "path": "name", "value": {"familyName": "Smith"}}],
        {"name": {"givenName": "Barbara", "familyName": "Smith"}},
        set(),
    ),
    (
        "remove-sub-attribute",
        BASE_USER,
        [{"op": "remove", "path": "name.familyName"}],
        {"name": {"givenName": "Barbara"}},
        set(),
    ),
    (
        "remove-last-sub-attributes-unassigns-complex",
        BASE_USER,
        [
            {"op": "remove", "path": "name.familyName"},
            {"op": "remove", "path": "name.givenName"},
        ],
        {"name": ABSENT},
        set(),
    ),
    ("remove-complex", BASE_USER, [{"op": "remove", "path": "name"}], {"name": ABSENT}, set()),
    (
        "replace-external-id",
        BASE_USER,
        [{"op": "replace", "path": "externalId", "value": "new-ext"}],
        {"externalId": "new-ext"},
        set(),
    ),
    (
        "remove-external-id",
        BASE_USER,
        [{"op": "remove", "path": "externalId"}],
        {"externalId": ABSENT},
        set(),
    ),
    (
        "no-path-dotted-key",
        BASE_USER,
        [{"op": "replace", "value": {"name.givenName": "Babs"}}],
        {"name": {"givenName": "Babs", "familyName": "Jensen"}},
        set(),
    ),
    # --- multi-valued attributes ---
    (
        "add-appends",
        BASE_USER,
        [{"op": "add", "path": "emails", "value": [{"value": "b@x.org", "type": "other"}]}],
        {"emails": [*BASE_USER["emails"], {"value": "b@x.org", "type": "other"}]},
        set(),
    ),
    (
        "add-primary-clears-others",
        BASE_USER,
        [{"op": "add", "path": "emails", "value": [{"value": "b@x.org", "primary": True}]}],
        {
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": False},
                {"value": "babs@jensen.org", "type": "home"},
                {"value": "b@x.org", "primary": True},
            ]
        },
        set(),
    ),
    (
        "replace-filtered-primary-clears-others",
        BASE_USER,
        [{"op": "replace", "path": 'emails[type eq "home"].primary', "value": True}],
        {
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": False},
                {"value": "babs@jensen.org", "type": "home", "primary": True},
            ]
        },
        set(),
    ),
    (
        "replace-whole-list",
        BASE_USER,
        [{"op": "replace", "path": "emails", "value": [{"value": "only@x.org", "TYPE": "work"}]}],
        {"emails": [{"value": "only@x.org", "type": "work"}]},
        set(),
    ),
    (
        "replace-filtered-value-only-matching",
        BASE_USER,
        [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"}],
        {
            "emails": [
                {"value": "new@example.com", "type": "work", "primary": True},
                {"value": "babs@jensen.org", "type": "home"},
            ]
        },
        set(),
    ),
    (
        "remove-filtered-element",
        BASE_USER,
        [{"op": "remove", "path": 'emails[type eq "work"]'}],
        {"emails": [{"value": "babs@jensen.org", "type": "home"}]},
        set(),
    ),
    (
        "remove-filtered-sub-attribute",
        BASE_USER,
        [{"op": "remove", "path": 'emails[type eq "home"].value'}],
        {"emails": [BASE_USER["emails"][0], {"type": "home"}]},
        set(),
    ),
    (
        "remove-whole-list",
        BASE_USER,
        [{"op": "remove", "path": "emails"}],
        {"emails": ABSENT},
        set(),
    ),
    (
        "remove-all-filtered-unassigns",
        BASE_USER,
        [{"op": "remove", "path": 'addresses[type eq "work"]'}],
        {"addresses": ABSENT},
        set(),
    ),
    (
        "remove-with-value-list-drops-listed",
        BASE_USER,
        [{"op": "remove", "path": "emails", "value": [{"value": "babs@jensen.org"}]}],
        {"emails": [BASE_USER["emails"][0]]},
        {"remove-by-value"},
    ),
    (
        "multi-sub-without-filter-creates",
        BARE_USER,
        [{"op": "add", "path": "phoneNumbers.value", "value": "555-0100"}],
        {"phoneNumbers": [{"value": "555-0100"}]},
        set(),
    ),
    # --- Entra: create the element a simple eq filter describes ---
    (
        "entra-add-filter-creates-email",
        BARE_USER,
        [{"op": "Add", "path": 'emails[type eq "work"].value', "value": "b@contoso.com"}],
        {"emails": [{"type": "work", "value": "b@contoso.com"}]},
        {"filter-target-created", "op-case"},
    ),
    (
        "entra-replace-filter-creates-address",
        BARE_USER,
        [
            {
                "op": "Replace",
                "path": 'addresses[type eq "work"].formatted',
                "value": "1 Microsoft Way",
            }
        ],
        {"addresses": [{"type": "work", "formatted": "1 Microsoft Way"}]},
        {"filter-target-created"},
    ),
    (
        "entra-add-filter-creates-beside-other-types",
        BASE_USER,
        [{"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "555-0199"}],
        {"phoneNumbers": [{"type": "mobile", "value": "555-0199"}]},
        {"filter-target-created"},
    ),
    (
        "entra-add-filter-and-conjunction-creates",
        BARE_USER,
        [
            {
                "op": "add",
                "path": 'emails[type eq "work" and primary eq true].value',
                "value": "b@contoso.com",
            }
        ],
        {"emails": [{"type": "work", "primary": True, "value": "b@contoso.com"}]},
        {"filter-target-created"},
    ),
    (
        "entra-replace-active-string-boolean",
        BASE_USER,
        [{"op": "Replace", "path": "active", "value": "False"}],
        {"active": False},
        {"boolean-string", "op-case"},
    ),
    (
        "entra-boolean-string-inside-element",
        BARE_USER,
        [{"op": "add", "path": "emails", "value": [{"value": "b@x.org", "primary": "True"}]}],
        {"emails": [{"value": "b@x.org", "primary": True}]},
        {"boolean-string"},
    ),
    (
        "entra-old-dialect-value-object-list",
        BASE_USER,
        [{"op": "Add", "path": "nickName", "value": [{"value": "Babs"}]}],
        {"nickName": "Babs"},
        {"single-item-list-unwrapped", "value-object-unwrapped"},
    ),
    (
        "single-item-list-for-single-valued",
        BASE_USER,
        [{"op": "add", "path": "title", "value": ["Tour Guide"]}],
        {"title": "Tour Guide"},
        {"single-item-list-unwrapped"},
    ),
    (
        "single-object-for-multi-valued",
        BARE_USER,
        [{"op": "add", "path": "emails", "value": {"value": "b@x.org"}}],
        {"emails": [{"value": "b@x.org"}]},
        {"single-object-wrapped"},
    ),
    (
        "replace-null-removes",
        BASE_USER,
        [{"op": "replace", "path": "displayName", "value": None}],
        {"displayName": ABSENT},
        {"blank-clears"},
    ),
    (
        "replace-empty-string-removes",
        BASE_USER,
        [{"op": "Replace", "path": "name.givenName", "value": ""}],
        {"name": {"familyName": "Jensen"}},
        {"blank-clears"},
    ),
    (
        "no-path-null-removes",
        BASE_USER,
        [{"op": "replace", "value": {"externalId": None}}],
        {"externalId": ABSENT},
        {"blank-clears"},
    ),
    (
        "replace-filtered-null-when-absent-is-noop",
        BARE_USER,
        [{"op": "replace", "path": 'emails[type eq "work"].value', "value": None}],
        {},
        set(),
    ),
    (
        "filter-created-primary-clears-others",
        BASE_USER,
        [
            {
                "op": "add",
                "path": 'emails[type eq "other" and primary eq true].value',
                "value": "o@x.org",
            }
        ],
        {
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": False},
                {"value": "babs@jensen.org", "type": "home"},
                {"type": "other", "primary": True, "value": "o@x.org"},
            ]
        },
        {"filter-target-created"},
    ),
    (
        "filter-names-and-operator-case-insensitive",
        BASE_USER,
        [{"op": "replace", "path": 'EMAILS[TYPE EQ "Home"].VALUE', "value": "h@x.org"}],
        {"emails": [BASE_USER["emails"][0], {"value": "h@x.org", "type": "home"}]},
        set(),
    ),
    (
        "add-filtered-element-merges",
        BASE_USER,
        [{"op": "add", "path": 'emails[type eq "home"]', "value": {"display": "Home"}}],
        {
            "emails": [
                BASE_USER["emails"][0],
                {"value": "babs@jensen.org", "type": "home", "display": "Home"},
            ]
        },
        set(),
    ),
    # --- the Enterprise extension ---
    (
        "ext-replace-urn-qualified",
        ENTERPRISE_USER,
        [{"op": "replace", "path": f"{ENT}:employeeNumber", "value": "42"}],
        {ENT: {**ENTERPRISE_USER[ENT], "employeeNumber": "42"}},
        set(),
    ),
    (
        "ext-unqualified-name-resolves",
        ENTERPRISE_USER,
        [{"op": "add", "path": "department", "value": "Tours"}],
        {ENT: {**ENTERPRISE_USER[ENT], "department": "Tours"}},
        set(),
    ),
    (
        "ext-urn-sub-attribute",
        ENTERPRISE_USER,
        [{"op": "replace", "path": f"{ENT}:manager.value", "value": "m2"}],
        {
            ENT: {
                "employeeNumber": "701984",
                "manager": {"value": "m2", "displayName": "John Smith"},
            }
        },
        set(),
    ),
    (
        "entra-manager-bare-string",
        ENTERPRISE_USER,
        [{"op": "Replace", "path": f"{ENT}:manager", "value": "123"}],
        {ENT: {"employeeNumber": "701984", "manager": {"value": "123"}}},
        {"bare-value-wrapped"},
    ),
    (
        "okta-manager-display-name-ignored",
        BASE_USER,
        [{"op": "add", "path": f"{ENT}:manager", "value": {"value": "m1", "displayName": "M"}}],
        {"schemas": [CORE, ENT], ENT: {"manager": {"value": "m1"}}},
        {"ignored-read-only-sub"},
    ),
    (
        "no-path-full-urn-key-creates-extension",
        BASE_USER,
        [{"op": "add", "value": {f"{ENT}:department": "Tours"}}],
        {"schemas": [CORE, ENT], ENT: {"department": "Tours"}},
        set(),
    ),
    (
        "no-path-extension-object-form",
        BASE_USER,
        [{"op": "replace", "value": {ENT: {"department": "Tours", "manager": {"value": "m"}}}}],
        {"schemas": [CORE, ENT], ENT: {"department": "Tours", "manager": {"value": "m"}}},
        set(),
    ),
    (
        "path-is-extension-urn",
        ENTERPRISE_USER,
        [{"op": "add", "path": ENT, "value": {"costCenter": "4130"}}],
        {ENT: {**ENTERPRISE_USER[ENT], "costCenter": "4130"}},
        set(),
    ),
    (
        "ext-emptied-is-dropped-with-its-urn",
        ENTERPRISE_USER,
        [
            {"op": "remove", "path": f"{ENT}:employeeNumber"},
            {"op": "remove", "path": f"{ENT}:manager"},
        ],
        {"schemas": [CORE], ENT: ABSENT},
        set(),
    ),
    (
        "remove-extension-urn",
        ENTERPRISE_USER,
        [{"op": "remove", "path": ENT}],
        {"schemas": [CORE], ENT: ABSENT},
        set(),
    ),
    # --- Okta ---
    (
        "okta-deactivate",
        BASE_USER,
        [{"op": "replace", "value": {"active": False}}],
        {"active": False},
        set(),
    ),
    (
        "no-path-ignores-id-meta-schemas",
        BASE_USER,
        [
            {
                "op": "replace",
                "value": {
                    "id": "abf4dd94",
                    "meta": {"resourceType": "User"},
                    "schemas": [CORE],
                    "displayName": "B",
                },
            }
        ],
        {"displayName": "B"},
        {"ignored-read-only-key"},
    ),
    # --- Widget: immutable may be added when absent, simple multi-valued ---
    (
        "immutable-added-when-absent",
        {"schemas": ["urn:example:scim:schemas:Widget"], "label": "w"},
        [{"op": "add", "path": "serial", "value": "S1"}],
        {"serial": "S1"},
        set(),
    ),
    (
        "immutable-same-value-allowed",
        {"schemas": ["urn:example:scim:schemas:Widget"], "label": "w", "serial": "S1"},
        [{"op": "replace", "path": "serial", "value": "S1"}],
        {},
        set(),
    ),
    (
        "simple-multi-valued-entra-value-objects",
        {"schemas": ["urn:example:scim:schemas:Widget"], "label": "w", "tags": ["a"]},
        [{"op": "Add", "path": "tags", "value": [{"value": "b"}, {"value": "a"}]}],
        {"tags": ["a", "b"]},
        {"value-object-unwrapped"},
    ),
]


@pytest.mark.parametrize(
    ("base", "operations", "changes", "notes"),
    [pytest.param(*case[1:], id=case[0]) for case in DOCUMENT_CASES],
)
def test_document_changes(
    base: dict[str, Any],
    operations: list[dict[str, Any]],
    changes: dict[str, Any],
    notes: set[str],
) -> None:
    rt = WIDGET if base.get("schemas") == ["urn:example:scim:schemas:Widget"] else USER
    result = patch(base, *operations, rt=rt)
    expect(base, result, changes)
    assert notes <= set(result.normalisations)
    assert result.changed is bool(changes)
    assert result.members == MemberChanges()
    assert result.password is None


# (id, operations, expected MemberChanges, document changes, normalisations)
MEMBER_CASES: list[tuple[str, list[dict[str, Any]], MemberChanges, dict[str, Any], set[str]]] = [
    (
        "rfc-add-members",
        [
            {
                "op": "add",
                "path": "members",
                "value": [
                    {
                        "display": "Babs Jensen",
                        "$ref": f"https://example.com/v2/Users/{BABS}",
                        "value": BABS,
                    }
                ],
            }
        ],
        MemberChanges(
            add=(
                {
                    "display": "Babs Jensen",
                    "$ref": f"https://example.com/v2/Users/{BABS}",
                    "value": BABS,
                },
            )
        ),
        {},
        set(),
    ),
    (
        "rfc-remove-member-filter",
        [{"op": "remove", "path": f'members[value eq "{BABS}"]'}],
        MemberChanges(remove=frozenset({BABS})),
        {},
        set(),
    ),
    (
        "remove-members-or-filter",
        [{"op": "remove", "path": f'members[value eq "{BABS}" or value eq "{MANDY}"]'}],
        MemberChanges(remove=frozenset({BABS, MANDY})),
        {},
        set(),
    ),
    (
        "rfc-remove-all-members",
        [{"op": "remove", "path": "members"}],
        MemberChanges(remove_all=True),
        {},
        set(),
    ),
    (
        "rfc-replace-all-members-by-remove-then-add",
        [
            {"op": "remove", "path": "members"},
            {"op": "add", "path": "members", "value": [{"value": BABS}, {"value": MANDY}]},
        ],
        MemberChanges(add=({"value": BABS}, {"value": MANDY}), remove_all=True),
        {},
        set(),
    ),
    (
        "rfc-replace-members",
        [{"op": "replace", "path": "members", "value": [{"value": BABS}, {"value": MANDY}]}],
        MemberChanges(replace=({"value": BABS}, {"value": MANDY})),
        {},
        set(),
    ),
    (
        "entra-add-member",
        [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": BABS}]}],
        MemberChanges(add=({"value": BABS},)),
        {},
        {"op-case"},
    ),
    (
        "entra-remove-member-value-list",
        [{"op": "Remove", "path": "members", "value": [{"value": BABS}]}],
        MemberChanges(remove=frozenset({BABS})),
        {},
        {"remove-by-value"},
    ),
    (
        "okta-add-member",
        [
            {
                "op": "add",
                "path": "members",
                "value": [{"value": BABS, "display": "babs@okta.local"}],
            }
        ],
        MemberChanges(add=({"value": BABS, "display": "babs@okta.local"},)),
        {},
        set(),
    ),
    (
        "okta-rename-group-ignores-id",
        [{"op": "replace", "value": {"id": "abf4dd94", "displayName": "Test SCIMv2"}}],
        MemberChanges(),
        {"displayName": "Test SCIMv2"},
        {"ignored-read-only-key"},
    ),
    (
        "no-path-add-members",
        [{"op": "add", "value": {"members": [{"value": BABS}]}}],
        MemberChanges(add=({"value": BABS},)),
        {},
        set(),
    ),
    (
        "no-path-replace-members",
        [{"op": "replace", "value": {"displayName": "G", "members": [{"value": MANDY}]}}],
        MemberChanges(replace=({"value": MANDY},)),
        {"displayName": "G"},
        set(),
    ),
    (
        "add-then-remove-same-member",
        [
            {"op": "add", "path": "members", "value": [{"value": BABS}]},
            {"op": "remove", "path": f'members[value eq "{BABS}"]'},
        ],
        MemberChanges(remove=frozenset({BABS})),
        {},
        set(),
    ),
    (
        "remove-then-add-same-member",
        [
            {"op": "remove", "path": f'members[value eq "{BABS}"]'},
            {"op": "add", "path": "members", "value": [{"value": BABS}]},
        ],
        MemberChanges(add=({"value": BABS},)),
        {},
        set(),
    ),
    (
        "replace-then-add-and-remove-fold-into-replace",
        [
            {"op": "replace", "path": "members", "value": [{"value": BABS}]},
            {"op": "add", "path": "members", "value": [{"value": MANDY}]},
            {"op": "remove", "path": f'members[value eq "{BABS}"]'},
        ],
        MemberChanges(replace=({"value": MANDY},)),
        {},
        set(),
    ),
    (
        "single-member-object-wrapped",
        [{"op": "add", "path": "members", "value": {"value": BABS, "TYPE": "User"}}],
        MemberChanges(add=({"value": BABS, "type": "User"},)),
        {},
        {"single-object-wrapped"},
    ),
    (
        "replace-members-empty-list-empties-group",
        [{"op": "replace", "path": "members", "value": []}],
        MemberChanges(replace=()),
        {},
        set(),
    ),
]


@pytest.mark.parametrize(
    ("operations", "members", "changes", "notes"),
    [pytest.param(*case[1:], id=case[0]) for case in MEMBER_CASES],
)
def test_group_members(
    operations: list[dict[str, Any]],
    members: MemberChanges,
    changes: dict[str, Any],
    notes: set[str],
) -> None:
    result = patch(BASE_GROUP, *operations, rt=GROUP)
    assert result.members == members
    expect(BASE_GROUP, result, changes)
    assert "members" not in result.document
    assert notes <= set(result.normalisations)
    assert result.changed is bool(changes)


# (id, base document, body or operations, error class)
ERROR_CASES: list[tuple[str, dict[str, Any], Any, type[errors.ScimError]]] = [
    # envelope
    ("body-not-object", BASE_USER, ["add"], errors.InvalidSyntax),
    ("no-operations", BASE_USER, {"schemas": [PATCH_OP]}, errors.InvalidSyntax),
    ("operations-not-list", BASE_USER, {"Operations": {"op": "add"}}, errors.InvalidSyntax),
    ("operations-empty", BASE_USER, {"Operations": []}, errors.InvalidSyntax),
    (
        "wrong-schemas",
        BASE_USER,
        {"schemas": [CORE], "Operations": [{"op": "remove", "path": "title"}]},
        errors.InvalidSyntax,
    ),
    (
        "operation-not-object",
        BASE_USER,
        {"schemas": [PATCH_OP], "Operations": ["add"]},
        errors.InvalidSyntax,
    ),
    ("op-missing", BASE_USER, body({"path": "title", "value": "x"}), errors.InvalidSyntax),
    ("op-unknown", BASE_USER, body({"op": "move", "path": "title"}), errors.InvalidSyntax),
    ("op-not-string", BASE_USER, body({"op": 1, "path": "title"}), errors.InvalidSyntax),
    ("add-without-value", BASE_USER, body({"op": "add", "path": "title"}), errors.InvalidValue),
    ("replace-without-value", BASE_USER, body({"op": "replace"}), errors.InvalidValue),
    ("path-not-string", BASE_USER, body({"op": "remove", "path": 7}), errors.InvalidPath),
    # paths
    ("remove-without-path", BASE_USER, body({"op": "remove"}), errors.NoTarget),
    (
        "unknown-attribute",
        BASE_USER,
        body({"op": "remove", "path": "shoeSize"}),
        errors.InvalidPath,
    ),
    (
        "unknown-no-path-key",
        BASE_USER,
        body({"op": "add", "value": {"shoeSize": 9}}),
        errors.InvalidPath,
    ),
    (
        "unknown-extension-urn",
        BASE_USER,
        body({"op": "add", "path": "urn:example:nope:2.0:User:x", "value": 1}),
        errors.InvalidPath,
    ),
    (
        "sub-of-simple-attribute",
        BASE_USER,
        body({"op": "replace", "path": "userName.first", "value": "x"}),
        errors.InvalidPath,
    ),
    (
        "unknown-sub-attribute",
        BASE_USER,
        body({"op": "replace", "path": "name.nick", "value": "x"}),
        errors.InvalidPath,
    ),
    (
        "unclosed-filter",
        BASE_USER,
        body({"op": "remove", "path": 'emails[type eq "work"'}),
        errors.InvalidPath,
    ),
    (
        "junk-after-filter",
        BASE_USER,
        body({"op": "remove", "path": 'emails[type eq "work"]value'}),
        errors.InvalidPath,
    ),
    (
        "nested-filter",
        BASE_USER,
        body({"op": "remove", "path": 'emails[type[x eq "y"]]'}),
        errors.InvalidPath,
    ),
    (
        "unknown-sub-after-filter",
        BASE_USER,
        body({"op": "replace", "path": 'emails[type eq "work"].nope', "value": "x"}),
        errors.InvalidPath,
    ),
    (
        "filter-on-singular",
        BASE_USER,
        body({"op": "remove", "path": 'name[givenName eq "B"]'}),
        errors.InvalidPath,
    ),
    (
        "filter-syntax",
        BASE_USER,
        body({"op": "remove", "path": 'emails[type zz "work"]'}),
        errors.InvalidPath,
    ),
    (
        "filter-unknown-sub",
        BASE_USER,
        body({"op": "remove", "path": 'emails[colour eq "red"]'}),
        errors.InvalidPath,
    ),
    (
        "remove-core-schema-urn",
        BASE_USER,
        body({"op": "remove", "path": CORE}),
        errors.InvalidPath,
    ),
    # no target
    (
        "replace-filter-no-match-not-simple",
        BASE_USER,
        body({"op": "replace", "path": 'emails[value co "nobody"].value', "value": "x"}),
        errors.NoTarget,
    ),
    (
        "replace-filter-no-match-or",
        BARE_USER,
        body(
            {
                "op": "replace",
                "path": 'emails[type eq "work" or type eq "home"].value',
                "value": "x",
            }
        ),
        errors.NoTarget,
    ),
    # values
    ("no-path-value-not-object", BASE_USER, body({"op": "add", "value": "x"}), errors.InvalidValue),
    (
        "unknown-sub-in-value",
        BASE_USER,
        body({"op": "add", "path": "name", "value": {"nick": "B"}}),
        errors.InvalidValue,
    ),
    (
        "list-for-single-valued",
        BASE_USER,
        body({"op": "add", "path": "title", "value": ["a", "b"]}),
        errors.InvalidValue,
    ),
    (
        "object-for-simple",
        BASE_USER,
        body({"op": "add", "path": "title", "value": {"text": "a"}}),
        errors.InvalidValue,
    ),
    (
        "scalar-for-complex-without-value-sub",
        BASE_USER,
        body({"op": "add", "path": "name", "value": "Babs"}),
        errors.InvalidValue,
    ),
    (
        "password-not-string",
        BASE_USER,
        body({"op": "replace", "path": "password", "value": 5}),
        errors.InvalidValue,
    ),
    # mutability
    (
        "read-only-attribute",
        BASE_USER,
        body({"op": "add", "path": "groups", "value": [{"value": "g"}]}),
        errors.Mutability,
    ),
    (
        "read-only-id",
        BASE_USER,
        body({"op": "replace", "path": "id", "value": "x"}),
        errors.Mutability,
    ),
    (
        "read-only-meta-sub",
        BASE_USER,
        body({"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}),
        errors.Mutability,
    ),
    (
        "read-only-sub-path",
        ENTERPRISE_USER,
        body({"op": "replace", "path": f"{ENT}:manager.displayName", "value": "X"}),
        errors.Mutability,
    ),
    (
        "read-only-key-in-no-path-value",
        BASE_USER,
        body({"op": "replace", "value": {"groups": []}}),
        errors.Mutability,
    ),
    ("remove-required", BASE_USER, body({"op": "remove", "path": "userName"}), errors.Mutability),
    (
        "replace-required-with-null",
        BASE_USER,
        body({"op": "replace", "path": "userName", "value": None}),
        errors.Mutability,
    ),
    ("remove-password", BASE_USER, body({"op": "remove", "path": "password"}), errors.Mutability),
    # first error wins even after valid operations
    (
        "error-after-valid-operation",
        BASE_USER,
        body(
            {"op": "replace", "path": "displayName", "value": "ok"},
            {"op": "remove", "path": "userName"},
        ),
        errors.Mutability,
    ),
]

GROUP_ERROR_CASES: list[tuple[str, Any, type[errors.ScimError]]] = [
    (
        "members-filter-other-than-value",
        body({"op": "remove", "path": 'members[type eq "Group"]'}),
        errors.InvalidPath,
    ),
    (
        "members-filter-and",
        body({"op": "remove", "path": 'members[value eq "a" and type eq "User"]'}),
        errors.InvalidPath,
    ),
    (
        "members-filter-on-add",
        body({"op": "add", "path": 'members[value eq "a"]', "value": {"value": "a"}}),
        errors.InvalidPath,
    ),
    (
        "members-sub-attribute",
        body({"op": "replace", "path": 'members[value eq "a"].display', "value": "x"}),
        errors.InvalidPath,
    ),
    (
        "member-without-value",
        body({"op": "add", "path": "members", "value": [{"display": "x"}]}),
        errors.InvalidValue,
    ),
    (
        "member-unknown-key",
        body({"op": "add", "path": "members", "value": [{"value": "a", "colour": "red"}]}),
        errors.InvalidValue,
    ),
    ("group-remove-required", body({"op": "remove", "path": "displayName"}), errors.Mutability),
]


def _apply_body(rt: ResourceType, document: dict[str, Any], raw: Any) -> None:
    apply_patch(rt, document, parse_operations(raw))


@pytest.mark.parametrize(
    ("base", "raw", "error"),
    [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES],
)
def test_errors(base: dict[str, Any], raw: Any, error: type[errors.ScimError]) -> None:
    before = copy.deepcopy(base)
    with pytest.raises(errors.ScimError) as caught:
        _apply_body(USER, base, raw)
    assert type(caught.value) is error
    assert caught.value.status == 400
    assert caught.value.to_json()["scimType"] == error.scim_type
    assert base == before


@pytest.mark.parametrize(
    ("raw", "error"),
    [pytest.param(*case[1:], id=case[0]) for case in GROUP_ERROR_CASES],
)
def test_group_errors(raw: Any, error: type[errors.ScimError]) -> None:
    with pytest.raises(error) as caught:
        _apply_body(GROUP, BASE_GROUP, raw)
    assert type(caught.value) is error


@pytest.mark.parametrize(
    ("document", "operation"),
    [
        pytest.param(
            {"schemas": ["urn:example:scim:schemas:Widget"], "label": "w", "serial": "S1"},
            {"op": "replace", "path": "serial", "value": "S2"},
            id="change-immutable",
        ),
        pytest.param(
            {"schemas": ["urn:example:scim:schemas:Widget"], "label": "w", "serial": "S1"},
            {"op": "remove", "path": "serial"},
            id="remove-immutable",
        ),
        pytest.param(
            {"schemas": ["urn:example:scim:schemas:Widget"], "label": "w"},
            {"op": "replace", "path": "label", "value": ""},
            id="clear-required",
        ),
    ],
)
def test_widget_mutability(document: dict[str, Any], operation: dict[str, Any]) -> None:
    with pytest.raises(errors.Mutability):
        _apply_body(WIDGET, document, body(operation))


@pytest.mark.parametrize(
    "operations",
    [
        pytest.param(
            [{"op": "add", "path": "emails", "value": [BASE_USER["emails"][1]]}],
            id="re-add-existing-email",
        ),
        pytest.param(
            [{"op": "replace", "path": "userName", "value": "bjensen"}], id="replace-same-value"
        ),
        pytest.param([{"op": "remove", "path": 'emails[type eq "other"]'}], id="remove-no-match"),
        pytest.param([{"op": "remove", "path": "nickName"}], id="remove-absent"),
        pytest.param(
            [{"op": "remove", "path": 'emails[value eq "a]b\\"]"]'}], id="bracket-in-literal"
        ),
        pytest.param([{"op": "remove", "path": f"{ENT}:department"}], id="remove-absent-extension"),
        pytest.param([{"op": "add", "path": "emails", "value": []}], id="add-nothing"),
    ],
)
def test_no_change(operations: list[dict[str, Any]]) -> None:
    result = patch(BASE_USER, *operations)
    assert result.document == BASE_USER
    assert result.changed is False


def test_member_changes_do_not_count_as_document_change() -> None:
    result = patch(
        BASE_GROUP, {"op": "add", "path": "members", "value": [{"value": BABS}]}, rt=GROUP
    )
    assert result.changed is False
    assert result.members.add == ({"value": BABS},)


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param({"op": "replace", "path": "password", "value": "t1meMa$heen"}, id="path"),
        pytest.param({"op": "replace", "value": {"password": "t1meMa$heen"}}, id="okta-no-path"),
        pytest.param({"op": "Add", "path": "PASSWORD", "value": ["t1meMa$heen"]}, id="add-list"),
    ],
)
def test_password_goes_beside_the_document(operation: dict[str, Any]) -> None:
    result = patch(BASE_USER, operation)
    assert result.password == "t1meMa$heen"
    assert result.document == BASE_USER
    assert result.changed is True


@pytest.mark.parametrize(
    ("raw", "notes"),
    [
        pytest.param(
            {"Operations": [{"op": "replace", "path": "title", "value": "x"}]},
            ("schemas-missing",),
            id="schemas-missing",
        ),
        pytest.param(
            {
                "schemas": [PATCH_OP.upper()],
                "operations": [{"op": "replace", "path": "title", "value": "x"}],
            },
            ("operations-key-case",),
            id="operations-lowercase",
        ),
        pytest.param(
            {
                "schemas": [PATCH_OP],
                "Operations": [{"OP": "REPLACE", "Path": "title", "Value": "x"}],
            },
            ("op-case",),
            id="op-case",
        ),
        pytest.param(
            {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": " ", "value": {"title": "x"}}],
            },
            ("empty-path",),
            id="empty-path",
        ),
    ],
)
def test_envelope_dialects(raw: dict[str, Any], notes: tuple[str, ...]) -> None:
    operations = parse_operations(raw)
    assert operations[0].op == "replace"
    assert operations[0].notes == notes
    result = apply_patch(USER, BASE_USER, operations)
    assert result.document["title"] == "x"
    assert set(notes) <= set(result.normalisations)


def test_parse_operations_returns_operations_in_order() -> None:
    operations = parse_operations(
        body(
            {"op": "add", "path": "title", "value": "x"},
            {"op": "remove", "path": "title"},
        )
    )
    assert operations == [
        PatchOperation("add", "title", "x"),
        PatchOperation("remove", "title"),
    ]


def test_operations_apply_in_order() -> None:
    result = patch(
        BASE_USER,
        {"op": "add", "path": "title", "value": "x"},
        {"op": "remove", "path": "title"},
        {"op": "replace", "path": "nickName", "value": "first"},
        {"op": "replace", "path": "nickName", "value": "second"},
    )
    expect(BASE_USER, result, {"nickName": "second"})


def test_patch_operation_validates_itself() -> None:
    with pytest.raises(errors.InvalidSyntax):
        PatchOperation("copy", "title")
    with pytest.raises(errors.InvalidValue):
        PatchOperation("add", "title")


def _emails() -> Attribute:
    found = USER.schema.attribute("emails")
    assert found is not None
    return found


EMAILS = _emails()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('type eq "work"', Equalities("and", (("type", "work"),))),
        (
            'TYPE eq "work" and Primary EQ true',
            Equalities("and", (("type", "work"), ("primary", True))),
        ),
        ('value eq "a" or value eq "b"', Equalities("or", (("value", "a"), ("value", "b")))),
        ('value eq "say \\"hi\\""', Equalities("and", (("value", 'say "hi"'),))),
        ('type eq "a" and value eq "b" or value eq "c"', None),
        ('(type eq "work")', None),
        ('type co "work"', None),
        ('colour eq "red"', None),
        ("type eq work", None),
    ],
)
def test_equalities(text: str, expected: Equalities | None) -> None:
    assert equalities(text, EMAILS) == expected


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["members"], True),
        (['members[value eq "a"]', "Members"], True),
        ([" members.value"], True),
        (["members", "displayName"], False),
        ([None], False),  # a path-less value may carry any attribute
        (["membersCount"], False),
        (["urn:ietf:params:scim:schemas:core:2.0:Group:members"], False),
    ],
)
def test_only_members_tells_a_membership_change(paths: list[str | None], expected: bool) -> None:
    operations = [PatchOperation("remove" if p else "add", p, None if p else {}) for p in paths]
    assert only_members(operations) is expected
