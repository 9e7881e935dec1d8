"""Rules for attribute values that every layer shares: unassigned (RFC 7643 §2.5), dateTime."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_XSD_DATETIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?",
    re.IGNORECASE,
)


def is_unassigned(value: Any, *, blank_string: bool = False, empty_object: bool = False) -> bool:
    """Whether ``value`` leaves an attribute unassigned: null or an empty array (RFC 7643 §2.5).

    ``blank_string`` also counts "" (IdPs send it to clear an attribute); ``empty_object``
    also counts {} (a complex value without sub-attributes).
    """
    if value is None or (isinstance(value, list) and not value):
        return True
    if isinstance(value, str) and not value:
        return blank_string
    if isinstance(value, dict) and not value:
        return empty_object
    return False


def parse_datetime(text: str) -> datetime | None:
    """An xsd:dateTime (RFC 7643 §2.3.5) as an aware UTC datetime; None if it is not one.

    The date and the time, to the second, are required; fractions beyond microseconds are
    cut off; no zone means UTC. Lowercase ``t`` and ``z`` pass, as RFC 3339 §5.6 allows.
    Years outside 0001-9999, hour 24 and instants that leave that range in UTC do not parse.
    """
    match = _XSD_DATETIME.fullmatch(text)
    if match is None:
        return None
    fraction = f".{match['fraction'][:6]:0<6}" if match["fraction"] else ""
    zone = (match["zone"] or "Z").upper()
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{zone}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
