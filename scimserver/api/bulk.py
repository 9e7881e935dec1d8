"""``POST /Bulk`` (RFC 7644 §3.7): size checks before parsing, then the bulk service.

The body limit of ``/Bulk`` is ``Settings.bulk_max_payload_bytes`` (advertised as
``bulk.maxPayloadSize``), not the general ``max_body_bytes``: it replaces the app-wide
limit for this one route, so the advertised figure is the one enforced.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from scimserver.api.asynchronous import bulk_deferred
from scimserver.api.context import base_url, principal, request_id, server
from scimserver.api.json import json_response, read_json
from scimserver.errors import PayloadTooLarge
from scimserver.schema import ResourceType
from scimserver.scim.bulk import BulkLimits
from scimserver.service.bulk import BulkService
from scimserver.service.resources import ResourceService


def register_bulk(bp: Blueprint) -> None:
    """Add ``POST /Bulk`` to the SCIM blueprint (auth: its before_request, write scope)."""
    bp.add_url_rule("/Bulk", "bulk", bulk, methods=["POST"], strict_slashes=False)


def _limits() -> BulkLimits:
    settings = server().settings
    return BulkLimits(settings.bulk_max_operations, settings.bulk_max_payload_bytes)


def bulk() -> Response:
    limits = _limits()
    try:
        body = read_json(request, limits.max_payload_bytes)
    except PayloadTooLarge as exc:
        raise PayloadTooLarge(
            f"The bulk request is larger than maxPayloadSize ({limits.max_payload_bytes} bytes)."
        ) from exc
    deferred = bulk_deferred(body, _answer)
    if deferred is not None:
        return deferred
    who, base, txn = principal(), base_url(), request_id()

    def service_for(resource_type: ResourceType) -> ResourceService:
        return server().resources(resource_type, who.tenant_id, base, who.name, txn)

    service = BulkService(server().registry, service_for, limits)
    return _answer(service.run(body))


def _answer(result: dict[str, Any]) -> Response:
    g.activity_detail = _failures(result["Operations"])
    return json_response(result)


def _failures(operations: list[dict[str, Any]]) -> str | None:
    """How many operations failed, for the request's activity record."""
    failed = sum(1 for op in operations if int(op["status"]) >= 400)
    return f"{failed} of {len(operations)} operations failed." if failed else None
