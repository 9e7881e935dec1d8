"""Rules for attribute values that every layer shares: unassigned (RFC 7643 §2.5), dateTime."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_DATETIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?P<hm>[0-9]{2}:[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,](?P<fraction>[0-9]+))?)?"
    r"(?P<zone>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?",
    re.IGNORECASE | re.ASCII,
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

    Forgiving of what IdPs send where the RFC wants a full dateTime: a bare date is
    midnight, missing seconds are zero, a space may stand for ``T``, a decimal comma for
    the point, and an offset may lack its colon or minutes; no zone means UTC. Fractions
    beyond microseconds are cut off. Other ISO 8601 forms (week dates, the basic format),
    years outside 0001-9999, hour 24 and instants that leave that range in UTC do not parse.
    """
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    clock = f"{match['hm'] or '00:00'}:{match['s'] or '00'}"
    fraction = f".{match['fraction'][:6]:0<6}" if match["fraction"] else ""
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{clock}{fraction}{_zone(match['zone'])}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _zone(zone: str | None) -> str:
    """``Z``, ``+02``, ``+0200`` or ``+02:00`` as ``+hh:mm``."""
    if zone is None or zone.upper() == "Z":
        return "+00:00"
    digits = zone[1:].replace(":", "")
    return f"{zone[0]}{digits[:2]}:{digits[2:] or '00'}"
