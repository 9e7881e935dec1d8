"""A group's members, changed as set operations: the membership side of a write.

Members never enter a group's document; a write reports them (``scim.patch.MemberChanges``
or a POST/PUT body's ``members``) and these functions apply them to the membership table
in the write's transaction. Adding one member to a group of 100,000 reads and writes only
that member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scimserver.errors import InvalidValue
from scimserver.scim.patch import MemberChanges
from scimserver.scim.versions import now
from scimserver.store.models import Resource
from scimserver.store.repository import MembershipRepository, NewMember


def member_types(memberships: MembershipRepository, members: Sequence[Any]) -> dict[str, NewMember]:
    """Members by id with their resource types; unknown ids are 400 invalidValue."""
    displays: dict[str, str | None] = {}
    for member in members:
        value = member.get("value") if isinstance(member, Mapping) else None
        if not isinstance(value, str) or not value:
            raise InvalidValue("Every member needs a 'value' with the member's id.")
        display = member.get("display")
        displays[value] = display if isinstance(display, str) and display else None
    types = memberships.types_of(displays)
    missing = sorted(displays.keys() - types.keys())
    if missing:
        raise InvalidValue(f"No such member: {', '.join(missing[:10])}.")
    return {i: NewMember(types[i], d) for i, d in displays.items()}


def replace_members(
    memberships: MembershipRepository, group: Resource, members: Sequence[Any]
) -> bool:
    """Make ``members`` the group's members; whether any moved."""
    wanted = member_types(memberships, members)
    moment = now()
    current = set(memberships.member_ids(group.id))
    removed = memberships.remove(group, current - wanted.keys(), moment)
    added = memberships.add(group, wanted, moment)
    return bool(removed or added)


def apply_member_changes(
    memberships: MembershipRepository, group: Resource, changes: MemberChanges
) -> bool:
    """A PATCH's member changes, in the order RFC 7644 applies them; whether any moved."""
    moment = now()
    changed = False
    if changes.replace is not None:
        changed |= replace_members(memberships, group, changes.replace)
    if changes.remove_all:
        changed |= memberships.clear(group, moment) > 0
    if changes.remove:
        changed |= memberships.remove(group, changes.remove, moment) > 0
    if changes.add:
        changed |= memberships.add(group, member_types(memberships, changes.add), moment) > 0
    return changed
