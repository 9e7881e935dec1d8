"""The shared value rules: unassigned (RFC 7643 §2.5) and xsd:dateTime (§2.3.5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scimserver.schema.datatypes import is_unassigned, parse_datetime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2008-01-23T04:56:22Z", datetime(2008, 1, 23, 4, 56, 22, tzinfo=UTC)),
        ("2008-01-23T06:56:22+02:00", datetime(2008, 1, 23, 4, 56, 22, tzinfo=UTC)),
        ("2008-01-22T23:26:22-05:30", datetime(2008, 1, 23, 4, 56, 22, tzinfo=UTC)),
        ("2008-01-23T04:56:22", datetime(2008, 1, 23, 4, 56, 22, tzinfo=UTC)),
        ("2008-01-23T04:56:22.5Z", datetime(2008, 1, 23, 4, 56, 22, 500000, tzinfo=UTC)),
        ("2008-01-23T04:56:22.000001Z", datetime(2008, 1, 23, 4, 56, 22, 1, tzinfo=UTC)),
        ("2008-01-23T04:56:22.1234567Z", datetime(2008, 1, 23, 4, 56, 22, 123456, tzinfo=UTC)),
        ("2008-01-23t04:56:22z", datetime(2008, 1, 23, 4, 56, 22, tzinfo=UTC)),
        ("2008-01-23T04:56:22-00:00", datetime(2008, 1, 23, 4, 56, 22, tzinfo=UTC)),
    ],
)
def test_xsd_datetimes_parse_to_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2008-01-23", datetime(2008, 1, 23, tzinfo=UTC)),
        ("2008-01-23T04:56", datetime(2008, 1, 23, 4, 56, tzinfo=UTC)),
        ("2008-01-23 04:56:22Z", datetime(2008, 1, 23, 4, 56, 22, tzinfo=UTC)),
        ("2008-01-23T04:56:22,5Z", datetime(2008, 1, 23, 4, 56, 22, 500000, tzinfo=UTC)),
        ("2008-01-23T04:56:22+0200", datetime(2008, 1, 23, 2, 56, 22, tzinfo=UTC)),
        ("2008-01-23T04:56:22+02", datetime(2008, 1, 23, 2, 56, 22, tzinfo=UTC)),
    ],
)
def test_forgiving_forms_idps_send(text: str, expected: datetime) -> None:
    """Not xsd:dateTime to the letter, but unambiguous: stored and filtered as meant."""
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2008-01-23T",
        "2008-01-23T04",
        "2008-01-23T04Z",
        "20080123T045622Z",  # ISO 8601 basic format
        "2008-W04-3T04:56:22Z",  # ISO week date
        "2008-01-23T04:56:22.Z",
        " 2008-01-23T04:56:22Z",
        "2008-01-23T04:56:22Z ",
        "2008-02-30T00:00:00Z",  # no such day
        "2008-01-23T24:00:00Z",  # xsd's end-of-day, which datetime cannot hold
        "0000-01-01T00:00:00Z",
        "-0001-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",  # past year 9999 in UTC
        "٢٠٠٨-01-23T04:56:22Z",  # non-ASCII digits
    ],
)
def test_everything_else_is_not_a_datetime(text: str) -> None:
    assert parse_datetime(text) is None


@pytest.mark.parametrize("value", [None, []])
def test_null_and_the_empty_array_are_unassigned(value: Any) -> None:
    assert is_unassigned(value)
    assert is_unassigned(value, blank_string=True, empty_object=True)


@pytest.mark.parametrize("value", [0, 0.0, False, " ", "x", [None], [""], {"a": None}])
def test_values_are_assigned(value: Any) -> None:
    assert not is_unassigned(value, blank_string=True, empty_object=True)


def test_blank_string_and_empty_object_count_only_when_asked() -> None:
    assert not is_unassigned("")
    assert not is_unassigned({})
    assert is_unassigned("", blank_string=True)
    assert not is_unassigned({}, blank_string=True)
    assert is_unassigned({}, empty_object=True)
    assert not is_unassigned("", empty_object=True)
