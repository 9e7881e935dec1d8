"""SCIM documents and change-log rows as words for the console's tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scimserver.store.models import Change

HIDDEN = frozenset({"schemas", "id", "meta", "groups", "members", "active"})
_EVENT_WORDS = {
    "created": "created",
    "updated": "updated",
    "deactivated": "deactivated (active → false)",
    "reactivated": "reactivated (active → true)",
    "deleted": "deleted",
}


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

    when: str
    what: str
    attributes: str
    actor: str
    group_id: str | None
    """For membership lines: the group the user joined or left."""


def history_row(change: Change, resource_id: str) -> Event:
    when = f"{change.time:%Y-%m-%d %H:%M:%S} UTC"
    if change.member_id == resource_id and change.resource_id != resource_id:
        verb = "added to" if change.type.endswith("member_added") else "removed from"
        what = f"membership: {verb} group {change.display or change.resource_id}"
        return Event(when, what, "groups", change.actor, change.resource_id)
    if change.type.endswith("member_added") or change.type.endswith("member_removed"):
        verb = "added" if change.type.endswith("member_added") else "removed"
        what = f"membership: member {change.member_id} {verb}"
        return Event(when, what, "members", change.actor, None)
    word = change.type.rsplit(".", 1)[-1]
    attributes = ", ".join(change.attributes or [])
    return Event(when, _EVENT_WORDS.get(word, word), attributes, change.actor, None)
