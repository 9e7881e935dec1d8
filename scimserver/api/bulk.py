"""``POST /Bulk`` (RFC 7644 §3.7): size checks before parsing, then the bulk service.

The body limit of ``/Bulk`` is ``Settings.bulk_max_payload_bytes`` (advertised as
``bulk.maxPayloadSize``), not the general ``max_body_bytes``: it replaces the app-wide
limit for this one route, so the advertised figure is the one enforced.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from scimserver.api.context import base_url, principal, server
from scimserver.api.json import json_response, read_json
from scimserver.errors import PayloadTooLarge
from scimserver.schema import ResourceType
from scimserver.service.bulk import BulkLimits, BulkService
from scimserver.service.resources import ResourceService


def register_bulk(bp: Blueprint) -> None:
    """Add ``POST /Bulk`` to the SCIM blueprint (auth: its before_request, write scope)."""
    bp.add_url_rule("/Bulk", "bulk", bulk, methods=["POST"], strict_slashes=False)


def _limits() -> BulkLimits:
    settings = server().settings
    return BulkLimits(settings.bulk_max_operations, settings.bulk_max_payload_bytes)


def _too_large(limits: BulkLimits) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The size of the bulk request exceeds maxPayloadSize ({limits.max_payload_bytes} bytes)."
    )


def _read_body(limits: BulkLimits) -> Any:
    """The parsed body, after checking its size: from Content-Length, else while reading."""
    if (request.content_length or 0) > limits.max_payload_bytes:
        raise _too_large(limits)  # before reading a byte of the body
    # A chunked body has no Content-Length. Werkzeug stops reading it at the limit without
    # an error, so read one byte more than allowed: getting it means the body is too large.
    request.max_content_length = limits.max_payload_bytes + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise _too_large(limits) from exc
    if len(raw) > limits.max_payload_bytes:
        raise _too_large(limits)
    return read_json(request)  # parses the cached bytes


def bulk() -> Response:
    limits = _limits()
    body = _read_body(limits)
    tenant_id, base = principal().tenant_id, base_url()

    def service_for(resource_type: ResourceType) -> ResourceService:
        return server().resources(resource_type, tenant_id, base)

    service = BulkService(server().registry, service_for, limits)
    return json_response(service.run(body))
