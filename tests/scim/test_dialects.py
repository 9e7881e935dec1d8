"""Request-body dialects rewritten to RFC 7643 (scimserver.scim.dialects)."""

from __future__ import annotations

from scimserver.scim.dialects import ENTERPRISE_USER, normalise_resource

LEGACY = "urn:scim:schemas:extension:enterprise:1.0"


def test_legacy_enterprise_object_becomes_the_rfc_extension() -> None:
    body = {"userName": "k", LEGACY: {"department": "Security"}}
    out, notes = normalise_resource(body)
    assert out == {"userName": "k", ENTERPRISE_USER: {"department": "Security"}}
    assert notes == ("legacy-extension-urn",)
    assert LEGACY in body  # the input is not modified


def test_manager_id_becomes_value() -> None:
    body = {ENTERPRISE_USER: {"manager": {"managerId": "m1", "displayName": "M"}}}
    out, notes = normalise_resource(body)
    assert out[ENTERPRISE_USER] == {"manager": {"displayName": "M", "value": "m1"}}
    assert notes == ("manager-id-renamed",)


def test_the_rfc_extension_wins_over_the_legacy_one() -> None:
    body = {LEGACY: {"department": "Old"}, ENTERPRISE_USER: {"department": "New"}}
    out, notes = normalise_resource(body)
    assert out == body and notes == ()


def test_a_manager_with_a_value_is_left_alone() -> None:
    body = {ENTERPRISE_USER: {"manager": {"value": "m1", "managerId": "m2"}}}
    assert normalise_resource(body) == (body, ())


def test_non_objects_pass_through() -> None:
    assert normalise_resource(["x"]) == (["x"], ())
