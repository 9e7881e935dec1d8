"""Resource versions as weak ETags (RFC 7644 §3.14) and the timestamps ``meta`` shows."""

from __future__ import annotations

from datetime import UTC, datetime


def etag(version: int) -> str:
    return f'W/"{version}"'


def matches_any(header: str | None, version: int) -> bool:
    """Whether an If-Match / If-None-Match header names this version (``*`` names any)."""
    return names_etag(header, etag(version))


def names_etag(header: str | None, current: str) -> bool:
    """Whether the header's list names the entity tag ``current`` (weak comparison)."""
    if header is None:
        return False
    wanted = _opaque(current)
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or _opaque(tag) == wanted:
            return True
    return False


def _opaque(tag: str) -> str:
    """The opaque part of an entity tag, for weak comparison (RFC 9110 §8.8.3.2)."""
    return tag.removeprefix("W/").strip('"')


def now() -> datetime:
    """Naive UTC now, truncated to milliseconds so what clients read filters exactly."""
    moment = datetime.now(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def timestamp(moment: datetime) -> str:
    """xsd:dateTime in UTC with millisecond precision: ``2026-11-23T15:17:35.123Z``."""
    return moment.isoformat(timespec="milliseconds") + "Z"
