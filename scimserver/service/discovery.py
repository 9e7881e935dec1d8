"""ServiceProviderConfig, ResourceTypes and Schemas (RFC 7644 §4), truthful about features."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scimserver.errors import NotFound
from scimserver.schema import Registry, Schema
from scimserver.scim.sets import EVENT_URIS, FULL_URIS, NOTICE_URIS


@dataclass(frozen=True)
class EventModes:
    """The SETs a tenant is configured to receive: notices, full-mode SETs, or both."""

    notices: bool
    full: bool


SPC_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


class DiscoveryService:
    def __init__(
        self,
        registry: Registry,
        base_url: str,
        page_size: tuple[int, int],
        cursor_timeout: int,
        bulk: tuple[int, int] = (0, 0),
        events: EventModes | None = None,
    ) -> None:
        """``bulk`` is (maxOperations, maxPayloadSize in bytes); (0, 0) advertises no bulk.
        ``events``: the SETs the tenant is configured to receive; None (no SET delivery
        configured) leaves ``securityEvents`` out (RFC 9967 §4: not configured)."""
        self.events = events
        self.bulk_max_operations, self.bulk_max_payload = bulk
        self.registry = registry
        self.base_url = base_url.rstrip("/")
        self.default_page_size, self.max_results = page_size
        self.cursor_timeout = cursor_timeout

    def service_provider_config(self) -> dict[str, Any]:
        config = {
            "schemas": [SPC_URN],
            "documentationUri": "https://github.com/scimserver/scimserver#readme",
            "patch": {"supported": True},
            "bulk": {
                "supported": self.bulk_max_operations > 0,
                "maxOperations": self.bulk_max_operations,
                "maxPayloadSize": self.bulk_max_payload,
            },
            "filter": {"supported": True, "maxResults": self.max_results},
            "changePassword": {"supported": True},
            "sort": {"supported": True},
            "pagination": {
                "cursor": True,
                "index": True,
                "defaultPaginationMethod": "index",
                "defaultPageSize": self.default_page_size,
                "maxPageSize": self.max_results,
                "cursorTimeout": self.cursor_timeout,
            },
            "etag": {"supported": True},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "A bearer token issued with 'scimserver token create'.",
                    "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{self.base_url}/ServiceProviderConfig",
            },
        }
        if self.events is not None:
            events = {"asyncRequest": "request", "eventUris": event_uris(self.events)}
            config = {**config, "securityEvents": events}
        return config

    def resource_types(self) -> list[dict[str, Any]]:
        return [
            rt.to_json(f"{self.base_url}/ResourceTypes/{rt.id}")
            for rt in self.registry.resource_types
        ]

    def resource_type(self, name: str) -> dict[str, Any]:
        found = self.registry.resource_type(name)
        if found is None:
            raise NotFound(f"No resource type {name!r}.")
        return found.to_json(f"{self.base_url}/ResourceTypes/{found.id}")

    def schemas(self) -> list[dict[str, Any]]:
        return [s.to_json(f"{self.base_url}/Schemas/{s.id}") for s in self._served()]

    def schema(self, urn: str) -> dict[str, Any]:
        found = next((s for s in self._served() if s.id.lower() == urn.lower()), None)
        if found is None:
            raise NotFound(f"No schema {urn!r}.")
        return found.to_json(f"{self.base_url}/Schemas/{found.id}")

    def _served(self) -> list[Schema]:
        """Schemas bound to some resource type (a loose file nobody uses is not served),
        and the ServiceProviderConfig's."""
        seen: dict[str, Schema] = {}
        for rt in self.registry.resource_types:
            for schema in rt.schemas:
                seen.setdefault(schema.id, schema)
        config = self.registry.schema(SPC_URN)
        if config is not None:
            seen.setdefault(config.id, config)
        return list(seen.values())


def event_uris(modes: EventModes) -> list[str]:
    """The SET event URIs a tenant is sent (RFC 9967 §4): the notice URIs, the full ones,
    or both, and those with no mode."""
    return [
        uri
        for uri in EVENT_URIS
        if (modes.full if uri in FULL_URIS else modes.notices if uri in NOTICE_URIS else True)
    ]


def list_response(
    resources: Sequence[Any],
    total: int,
    start: int | None = 1,
    cursors: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """A ListResponse; cursor pages carry nextCursor/previousCursor instead of startIndex."""
    body: dict[str, Any] = {"schemas": [LIST_URN], "totalResults": total}
    if start is not None:
        body["startIndex"] = start
    body["itemsPerPage"] = len(resources)
    next_cursor, previous_cursor = cursors
    if next_cursor:
        body["nextCursor"] = next_cursor
    if previous_cursor:
        body["previousCursor"] = previous_cursor
    body["Resources"] = list(resources)  # last: a streamed answer relies on it
    return body
