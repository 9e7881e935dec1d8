"""What a client sees of a stored resource: its document with ``meta``, and the references
to its members and groups (RFC 7643 §3.1, §4.1.2, §4.2).

Rows in, documents out. A ``location`` or ``$ref`` is the endpoint of the resource type
it points to, as the registry declares it, never a name built from the type's id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from scimserver.schema.model import ResourceType
from scimserver.scim.versions import etag, timestamp


class Stored(Protocol):
    """A stored resource as rendering reads it (an ORM row or a plain tuple)."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def created(self) -> datetime: ...
    @property
    def last_modified(self) -> datetime: ...
    @property
    def data(self) -> dict[str, Any]: ...


class MemberRow(NamedTuple):
    """One member of a group: its id, its resource type's id (the ``type`` shown) and the
    ``display`` the client sent, if any."""

    value: str
    type: str
    display: str | None


class GroupRow(NamedTuple):
    """One group a resource is a member of: its id, display and resource type's id."""

    value: str
    display: str | None
    resource_type: str


Members = Mapping[str, list[MemberRow]]
Groups = Mapping[str, list[GroupRow]]


@dataclass(frozen=True)
class Links:
    """Where resources live: the SCIM base URL and each resource type's endpoint by id."""

    base_url: str
    endpoints: Mapping[str, str]

    def location(self, resource_type: str, resource_id: str) -> str:
        return f"{self.base_url.rstrip('/')}{self.path(resource_type, resource_id)}"

    def path(self, resource_type: str, resource_id: str) -> str:
        """The resource's path under the base URL: ``/Users/{id}``, ``/Teams/{id}``."""
        return f"{self.endpoints[resource_type]}/{resource_id}"

    def member(self, row: MemberRow) -> dict[str, Any]:
        member: dict[str, Any] = {"value": row.value, "type": row.type}
        member["$ref"] = self.location(row.type, row.value)
        if row.display:
            member["display"] = row.display
        return member

    def group(self, row: GroupRow) -> dict[str, Any]:
        group: dict[str, Any] = {
            "value": row.value,
            "$ref": self.location(row.resource_type, row.value),
            "type": "direct",
        }
        if row.display:
            group["display"] = row.display
        return group

    def document(
        self,
        resource_type: ResourceType,
        row: Stored,
        members: Members | None = None,
        groups: Groups | None = None,
        streams_members: bool = False,
    ) -> dict[str, Any]:
        """``row`` as stored, with its members and groups (None: not shown) and ``meta``;
        ``projection.project`` then leaves out what the client may not see. With
        ``streams_members``, an empty ``members`` holds the place of those sent later."""
        document: dict[str, Any] = {"schemas": None, "id": row.id, **row.data}
        if streams_members:
            document["members"] = []
        elif members is not None and members.get(row.id):
            document["members"] = [self.member(m) for m in members[row.id]]
        if groups is not None and groups.get(row.id):
            document["groups"] = [self.group(g) for g in groups[row.id]]
        document["meta"] = {
            "resourceType": resource_type.name,
            "created": timestamp(row.created),
            "lastModified": timestamp(row.last_modified),
            "location": self.location(resource_type.id, row.id),
            "version": etag(row.version),
        }
        return document
