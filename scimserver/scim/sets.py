"""Security Event Token claims (RFC 8417) for SCIM events (RFC 9967), built from changes.

What one transaction did to one resource becomes one SET (:func:`units`), describing
the final state: a group created with members is one ``prov:create``; a PUT that
changes members one ``prov:put``. Several event URIs share a SET only when they are
aspects of the same state change (RFC 9967 §2.1): a deactivation is ``prov:patch`` or
``prov:put`` plus ``prov:deactivate``. Deletes are a bare ``prov:delete``. Membership
changes alone are a ``prov:patch`` on the Group. ``sub_id`` names the subject; ``sub``
and ``exp`` are never set.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from scimserver.scim.asyncresp import ASYNC_COMPLETED, payload_of, subject_uri
from scimserver.scim.changes import ACCESS_CHANGED, MEMBER_ADDED, MEMBER_REMOVED, RULES_CHANGED
from scimserver.scim.render import Links
from scimserver.scim.versions import etag, timestamp

EVENT_PREFIX = "urn:ietf:params:scim:event:"
CREATE_NOTICE = EVENT_PREFIX + "prov:create:notice"
CREATE_FULL = EVENT_PREFIX + "prov:create:full"
PATCH_NOTICE = EVENT_PREFIX + "prov:patch:notice"
PATCH_FULL = EVENT_PREFIX + "prov:patch:full"
PUT_NOTICE = EVENT_PREFIX + "prov:put:notice"
PUT_FULL = EVENT_PREFIX + "prov:put:full"
DELETE = EVENT_PREFIX + "prov:delete"
ACTIVATE = EVENT_PREFIX + "prov:activate"
DEACTIVATE = EVENT_PREFIX + "prov:deactivate"
ASYNC_RESPONSE = EVENT_PREFIX + "misc:asyncresp"
ACCESS_EVENT = "urn:scimserver:event:identity:access_changed"
"""A person's effective access moved (``scim.identity``): ``{"before", "after"}``. Not an
RFC 9967 event, so not in ``eventUris``: a receiver that does not know it ignores it
(RFC 8417 §2.2)."""
EVENT_URIS = (
    CREATE_NOTICE,
    CREATE_FULL,
    PATCH_NOTICE,
    PATCH_FULL,
    PUT_NOTICE,
    PUT_FULL,
    DELETE,
    ACTIVATE,
    DEACTIVATE,
    ASYNC_RESPONSE,
)
"""Every URI this server emits (advertised in ServiceProviderConfig ``securityEvents``)."""
FULL_URIS = frozenset({CREATE_FULL, PATCH_FULL, PUT_FULL})
NOTICE_URIS = frozenset({CREATE_NOTICE, PATCH_NOTICE, PUT_NOTICE})

PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SET_TYPE = "secevent+jwt"
_JTI_NAMESPACE = uuid.UUID("6f1d2f5e-3b0c-4a5e-9a43-5c1e2f7d8b90")
_NOT_IN_DATA = frozenset({"password"})
"""Changed paths that a change's ``data`` never holds: named in notices, never in full."""


@dataclass(frozen=True)
class ChangeFacts:
    """What a SET says about one change (the store's change row, as plain values)."""

    id: str
    type: str
    operation: str
    resource_type: str
    resource_id: str
    request_id: str
    time: datetime
    external_id: str | None = None
    attributes: tuple[str, ...] = ()
    member_id: str | None = None
    member_type: str | None = None
    version: int | None = None
    data: Mapping[str, Any] | None = None
    txn: str | None = None
    """The id of the write transaction (server-made); None for changes logged before it."""


STREAM_URN = "urn:scimserver:stream:"


def tenant_issuer(base_url: str, tenant_id: int) -> str:
    """A tenant's ``iss``: ``<origin>/api/v1/tenants/<id>``, where ``/jwks.json`` below it
    publishes the tenant's keys. ``base_url`` is the configured public SCIM base URL
    (``…/scim/v2``), never a request's host."""
    origin = base_url.rstrip("/").removesuffix("/scim/v2")
    return f"{origin}/api/v1/tenants/{tenant_id}"


def stream_audience(stream_id: str) -> str:
    """A poll stream's ``aud``: a URN the server assigned, never a name a tenant chose."""
    return STREAM_URN + stream_id


def jti_for(receiver_id: str, change_id: str) -> str:
    """The SET's ``jti``: unique per (receiver, change), the same on every redelivery."""
    return uuid.uuid5(_JTI_NAMESPACE, f"{receiver_id}\x00{change_id}").hex


def subject(change: ChangeFacts, links: Links) -> dict[str, str]:
    """``sub_id`` in the ``scim`` format (RFC 9967 §2.1); an asynchronous request's
    completion names the resource it wrote, or the endpoint a failed create was sent to."""
    if change.type == ASYNC_COMPLETED:
        named = {"format": "scim", "uri": subject_uri(change.data)}
        return {**named, "id": change.resource_id} if change.resource_id else named
    found = {
        "format": "scim",
        "uri": links.path(change.resource_type, change.resource_id),
        "id": change.resource_id,
    }
    if change.external_id is not None:
        found["externalId"] = change.external_id
    return found


@dataclass(frozen=True)
class Envelope:
    """Who a SET is from and for: ``iss``, ``aud``, and where resources live (``sub_id.uri``,
    ``meta.location`` and ``$ref`` in full-mode ``data``)."""

    issuer: str
    audience: str
    links: Links


def set_claims(
    unit: Sequence[ChangeFacts], envelope: Envelope, jti: str, issued_at: datetime, full: bool
) -> dict[str, Any]:
    """The claims of the one SET for ``unit`` (see :func:`units`); ``full`` puts ``data``
    in place of ``attributes``."""
    last = unit[-1]
    return {
        **_envelope(envelope.issuer, envelope.audience, jti, issued_at),
        "txn": last.txn or last.id,
        "toe": _seconds(last.time),
        "sub_id": subject(_own(unit)[0] if _own(unit) else unit[0], envelope.links),
        "events": events(unit, full, envelope.links),
    }


class Keyed(Protocol):
    """What :func:`units` groups by: a change's id, its transaction and its resource."""

    @property
    def id(self) -> str: ...

    @property
    def txn(self) -> str | None: ...

    @property
    def resource_id(self) -> str: ...

    @property
    def type(self) -> str: ...


K = TypeVar("K", bound=Keyed)


def units(changes: Sequence[K]) -> list[list[K]]:
    """The changes of one SET each: those one transaction made to one resource, in the
    order each resource was first changed (RFC 9967 §2.1: one SET per state change). A
    change of a person's access is a SET of its own; an edit of the access rules none."""
    found: dict[tuple[str, str, bool], list[K]] = {}
    for change in changes:
        if change.type == RULES_CHANGED:
            continue
        key = (change.txn or change.id, change.resource_id, change.type == ACCESS_CHANGED)
        found.setdefault(key, []).append(change)
    return list(found.values())


VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
"""The OpenID Shared Signals verification event: a test SET that changes nothing."""


def verification_claims(
    issuer: str, audience: str, jti: str, issued_at: datetime
) -> dict[str, Any]:
    """A SET a receiver can accept to prove the stream works (``webhook test``)."""
    return {
        **_envelope(issuer, audience, jti, issued_at),
        "events": {VERIFICATION: {"state": jti}},
    }


def _envelope(issuer: str, audience: str, jti: str, issued_at: datetime) -> dict[str, Any]:
    """The claims every SET carries (RFC 8417 §2.2)."""
    return {"iss": issuer, "iat": _seconds(issued_at), "jti": jti, "aud": audience}


def events(unit: Sequence[ChangeFacts], full: bool, links: Links) -> dict[str, Any]:
    """The ``events`` claim of one unit: its event URIs and their payloads.

    A create (with its members) is one ``prov:create``; an update is one ``prov:put``
    (by PUT) or ``prov:patch`` naming every changed attribute, ``members`` included;
    a delete is a bare ``prov:delete``; an asynchronous request's completion is a
    ``misc:asyncresp``.
    """
    own = _own(unit)
    if own and own[0].type == ASYNC_COMPLETED:  # its own txn: alone in its unit
        return {ASYNC_RESPONSE: payload_of(own[0].data)}
    if own and own[0].type == ACCESS_CHANGED:  # alone in its unit (:func:`units`)
        return {ACCESS_EVENT: dict(own[0].data or {})}
    actions = [c.type.rsplit(".", 1)[-1] for c in own]
    if "deleted" in actions:
        return {DELETE: {}}
    attributes = _attributes(unit)
    if "created" in actions:
        if full:
            return {CREATE_FULL: {"data": _created(unit, links)}}
        return {CREATE_NOTICE: {"attributes": attributes}}
    found = _update(unit, attributes, full, links)
    if "deactivated" in actions:
        found[DEACTIVATE] = {}
    elif "reactivated" in actions:
        found[ACTIVATE] = {}
    return found


def _own(unit: Sequence[ChangeFacts]) -> list[ChangeFacts]:
    """The unit's changes to the resource itself, not to its membership."""
    return [c for c in unit if c.member_id is None]


def _attributes(unit: Sequence[ChangeFacts]) -> list[str]:
    names = [name for c in _own(unit) for name in c.attributes]
    if any(c.member_id is not None for c in unit):
        names.append("members")
    return list(dict.fromkeys(names))


def _version(unit: Sequence[ChangeFacts]) -> int | None:
    return next((c.version for c in reversed(unit) if c.version is not None), None)


def _created(unit: Sequence[ChangeFacts], links: Links) -> dict[str, Any]:
    """The created resource, its members (all added by the create) included."""
    created = next(c for c in unit if c.type.endswith(".created"))
    resource = final_resource(replace(created, version=_version(unit)), links)
    members = [_member(c, links) for c in unit if c.type == MEMBER_ADDED]
    if members:
        resource["members"] = members
    return resource


def _update(
    unit: Sequence[ChangeFacts], attributes: list[str], full: bool, links: Links
) -> dict[str, Any]:
    put = [c for c in unit if c.operation == "PUT" and c.data is not None]
    if put or (not full and unit[-1].operation == "PUT"):
        uri = PUT_FULL if full else PUT_NOTICE
        data: dict[str, Any] | None = (
            final_resource(replace(put[-1], version=_version(unit)), links) if put else None
        )
    else:
        uri = PATCH_FULL if full else PATCH_NOTICE
        operations = [op for c in unit for op in _operations(c, links)]
        data = {"schemas": [PATCH_OP_URN], "Operations": operations} if operations else None
    if data is None:  # nothing a full SET could carry (a password): a notice says it
        uri, full = uri.replace(":full", ":notice"), False
    payload: dict[str, Any] = {"data": data} if full else {"attributes": attributes}
    version = _version(unit)
    if version is not None:
        payload["version"] = etag(version)
    return {uri: payload}


def final_resource(change: ChangeFacts, links: Links) -> dict[str, Any]:
    """The resource as stored after the change: schemas, id, attributes and meta."""
    stored = dict(change.data or {})
    schemas = stored.pop("schemas", None)
    resource: dict[str, Any] = {"schemas": schemas} if schemas is not None else {}
    resource["id"] = change.resource_id
    resource.update(stored)
    if "members" in stored:  # after a PUT that moved members: all of them, as stored
        members = stored["members"]
        resource["members"] = [_reference(m["value"], m["type"], links) for m in members]
    meta: dict[str, Any] = {
        "resourceType": change.resource_type,
        "location": links.location(change.resource_type, change.resource_id),
    }
    if change.type.endswith(".created"):
        meta["created"] = timestamp(change.time)
    meta["lastModified"] = timestamp(change.time)
    if change.version is not None:
        meta["version"] = etag(change.version)
    resource["meta"] = meta
    return resource


def _operations(change: ChangeFacts, links: Links) -> list[dict[str, Any]]:
    """PatchOp operations equivalent to one change: for attributes, replace each changed
    path present in the stored document with its new value, remove each one that is
    gone; for a member, add or remove it (RFC 9967 Figure 6)."""
    if change.member_id is not None:
        if change.type == MEMBER_REMOVED:
            return [{"op": "remove", "path": f'members[value eq "{change.member_id}"]'}]
        return [{"op": "add", "path": "members", "value": [_member(change, links)]}]
    stored = change.data or {}
    operations: list[dict[str, Any]] = []
    for path in change.attributes:
        if path in _NOT_IN_DATA:
            continue
        value = value_at(stored, path)
        if value is None:
            operations.append({"op": "remove", "path": path})
        else:
            operations.append({"op": "replace", "path": path, "value": value})
    return operations


def _member(change: ChangeFacts, links: Links) -> dict[str, str]:
    return _reference(change.member_id or "", change.member_type or "User", links)


def _reference(member_id: str, member_type: str, links: Links) -> dict[str, str]:
    return {"value": member_id, "$ref": links.path(member_type, member_id)}


def value_at(document: Mapping[str, Any], path: str) -> Any:
    """The value at an attribute path (``name.givenName``, ``urn:…:User:department``)."""
    container: Any = document
    urn, _, name = path.rpartition(":")
    if urn:
        container = _get(document, urn)
    for part in name.split("."):
        container = _get(container, part)
    return container


def _get(container: Any, key: str) -> Any:
    if not isinstance(container, Mapping):
        return None
    if key in container:
        return container[key]
    lowered = key.lower()
    return next((v for k, v in container.items() if k.lower() == lowered), None)


def _seconds(moment: datetime) -> int:
    """Seconds since the epoch; naive datetimes are UTC, as the store keeps them."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return int(aware.timestamp())
