"""What a write changed, as the change log records it: event types and changed paths.

Every committed write becomes one or more change records (``ChangeRecord``). The type
names what happened to the resource; ``attributes`` names the changed attributes in
RFC 7644 ``path`` syntax (``name.givenName``, ``emails``, an extension's
``urn:…:User:department``). Membership is reported per member, never as ``members``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scimserver.schema.model import ResourceType, Schema

USER_EVENTS = (
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
)
GROUP_EVENTS = (
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
)
ACCESS_CHANGED = "identity.access_changed"
"""One person's effective access moved (``data``: ``before`` and ``after``, the identity
view's appGroups, role, roles and isAdmin): see ``scim.identity``."""
RULES_CHANGED = "access.rules_changed"
"""A tenant's access rules were edited (``data``: before and after): an audit record,
in the feed and webhooks, never a SET (it concerns no SCIM resource)."""
EVENT_TYPES = (*USER_EVENTS, *GROUP_EVENTS, ACCESS_CHANGED, RULES_CHANGED)
MEMBER_ADDED = "group.member_added"
MEMBER_REMOVED = "group.member_removed"
PASSWORD = "password"  # noqa: S105 -- the attribute's name, not a secret


@dataclass(frozen=True)
class ChangeRecord:
    """One change to one resource, before the store gives it an id, a seq and a time."""

    type: str
    resource_type: str
    resource_id: str
    external_id: str | None = None
    display: str | None = None
    attributes: tuple[str, ...] = ()
    member_id: str | None = None
    member_type: str | None = None
    data: Mapping[str, Any] | None = None
    """The stored document after a create or update (never a password), for full events."""


def event_type(resource_type: str, action: str) -> str:
    """``user.created``, ``group.deleted``…: the resource type's name in lower case."""
    return f"{resource_type.lower()}.{action}"


def update_type(resource_type: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``user.deactivated`` / ``user.reactivated`` when ``active`` flips, else ``*.updated``."""
    was, now = old.get("active"), new.get("active")
    if was is not False and now is False:
        return event_type(resource_type, "deactivated")
    if was is False and now is True:
        return event_type(resource_type, "reactivated")
    return event_type(resource_type, "updated")


def changed_paths(
    resource_type: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[str, ...]:
    """The attributes whose stored value differs, in schema order and casing.

    A singular complex attribute reports its changed sub-attributes
    (``name.givenName``); a multi-valued one reports itself (``emails``), since its
    elements have no stable identity. Extension attributes carry their schema URN.
    """
    paths: list[str] = []
    if old.get("schemas") != new.get("schemas"):
        paths.append("schemas")
    core = resource_type.schema
    paths.extend(_schema_paths(core, old, new, prefix=""))
    if old.get("externalId") != new.get("externalId"):
        paths.append("externalId")
    for schema in resource_type.schemas[1:]:
        before, after = old.get(schema.id), new.get(schema.id)
        if before == after:
            continue
        paths.extend(
            _schema_paths(schema, _mapping(before), _mapping(after), prefix=f"{schema.id}:")
        )
    return tuple(paths)


def _schema_paths(
    schema: Schema, old: Mapping[str, Any], new: Mapping[str, Any], prefix: str
) -> list[str]:
    paths: list[str] = []
    for attribute in schema.attributes:
        before, after = old.get(attribute.name), new.get(attribute.name)
        if before == after:
            continue
        name = prefix + attribute.name
        if attribute.is_complex and not attribute.multi_valued:
            inner, outer = _mapping(before), _mapping(after)
            subs = [
                s.name for s in attribute.sub_attributes if inner.get(s.name) != outer.get(s.name)
            ]
            paths.extend(f"{name}.{s}" for s in subs)
            if not subs:
                paths.append(name)
        else:
            paths.append(name)
    return paths


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
