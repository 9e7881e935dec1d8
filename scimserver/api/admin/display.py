"""SCIM documents and change-log rows as words for the console's tables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from scimserver.service.audit import LoggedChange

HIDDEN = frozenset({"schemas", "id", "meta", "groups", "members", "active"})
_EVENT_WORDS = {
    "created": "created",
    "updated": "updated",
    "deactivated": "deactivated (active → false)",
    "reactivated": "reactivated (active → true)",
    "deleted": "deleted",
}


def moment(value: datetime | str) -> datetime:
    """Naive UTC, as the tables store it, from a datetime or an xsd:dateTime string
    (a resource's ``meta.created``)."""
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    return value


def shown(value: datetime) -> str:
    """The console's one way of writing a time: ``2026-12-09 10:00:05 UTC``."""
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


_BREAK_AFTER = re.compile(r"([/?&@_-]+)")
_WBR = Markup("<wbr>")


def breakable(value: object) -> Markup:
    """Escaped text that may wrap after ``/ ? & @ _ -`` (URLs, ids, paths, emails), not
    inside a host name, an address or a word."""
    parts = _BREAK_AFTER.split(str(value))  # text, separators, text, separators, ...
    return Markup("").join(escape(p) + (_WBR if n % 2 else "") for n, p in enumerate(parts))


def text(value: Any) -> str:
    """One attribute value in words: yes/no, lists joined, complex values as key: value."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(text(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {text(item)}" for key, item in value.items())
    return str(value)


def attribute_rows(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) for each attribute shown; an extension's attributes one by one."""
    rows: list[tuple[str, str]] = []
    for key, value in document.items():
        if key in HIDDEN:
            continue
        if key.startswith("urn:") and isinstance(value, dict):
            schema = key.rsplit(":", 2)[-2] if key.count(":") > 1 else key
            rows += [(f"{sub} ({schema})", text(item)) for sub, item in value.items()]
        else:
            rows.append((key, text(value)))
    return rows


@dataclass(frozen=True)
class Event:
    """One line of a resource's history."""

    when: datetime
    what: str
    attributes: str
    actor: str
    group_id: str | None
    """For membership lines: the group the user joined or left."""


def history_row(change: LoggedChange, resource_id: str) -> Event:
    when = change.time
    if change.member_id == resource_id and change.resource_id != resource_id:
        verb = "added to" if change.type.endswith("member_added") else "removed from"
        what = f"membership: {verb} group {change.display or change.resource_id}"
        return Event(when, what, "groups", change.actor, change.resource_id)
    if change.type.endswith("member_added") or change.type.endswith("member_removed"):
        verb = "added" if change.type.endswith("member_added") else "removed"
        what = f"membership: member {change.member_id} {verb}"
        return Event(when, what, "members", change.actor, None)
    word = change.type.rsplit(".", 1)[-1]
    attributes = ", ".join(change.attributes)
    return Event(when, _EVENT_WORDS.get(word, word), attributes, change.actor, None)
