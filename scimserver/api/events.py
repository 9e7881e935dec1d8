"""Security events: each tenant's signing keys (JWKS), its poll stream and the RFC 8936
poll endpoint.

``GET /api/v1/tenants/<id>/jwks.json`` (no authentication) answers the tenant's JWK Set;
``<origin>/api/v1/tenants/<id>`` is the tenant's SET issuer (``iss``). ``GET
/api/v1/jwks.json`` answers the same set for the bearer token's tenant.
``GET /api/v1/sets/stream`` (a bearer token) answers what the token's poll stream is
signed and addressed with: ``{"iss", "jwks_uri", "aud", "format"}``.
``POST /api/v1/sets/poll`` (a bearer token of the tenant, read or write scope) takes
an RFC 8936 poll request and answers ``{"sets": {jti: SET}, "moreAvailable": bool}``;
an invalid poll request answers 400 ``{"err": "invalid_request", "description": ...}``.
SETs are signed only with ``SCIMSERVER_BASE_URL`` set: without it the stream and poll
endpoints answer a SCIM error, 503. See docs/events.md.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, request

from scimserver.api.auth import authenticate_any_scope
from scimserver.api.context import server
from scimserver.api.json import read_json
from scimserver.errors import InvalidSyntax
from scimserver.scim.poll import PollError, parse_poll

JWKS_MEDIA_TYPE = "application/jwk-set+json"
log = logging.getLogger(__name__)


def _json(body: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    return current_app.response_class(json.dumps(body), status=status, mimetype=mimetype)


def _jwks(tenant_id: int) -> Response:
    response = _json(server().keys.jwks(tenant_id), mimetype=JWKS_MEDIA_TYPE)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def tenant_jwks(tenant_id: int) -> Response:
    return _jwks(tenant_id)


def own_jwks() -> Response:
    return _jwks(authenticate_any_scope().tenant_id)


def stream() -> Response:
    info = server().set_poller(authenticate_any_scope()).describe()
    body = {
        "iss": info.issuer,
        "jwks_uri": info.jwks_uri,
        "aud": info.audience,
        "format": "full" if info.full else "notice",
    }
    return _json(body)


def poll() -> Response:
    receiver = authenticate_any_scope()
    try:
        body = read_json(request)
    except InvalidSyntax as exc:
        raise PollError(exc.detail) from exc
    wanted = parse_poll(body, request.headers.get("Content-Language"))
    result = server().set_poller(receiver).poll(wanted)
    return _json({"sets": result.sets, "moreAvailable": result.more_available})


def _poll_error(error: PollError) -> Response:
    return _json({"err": error.err, "description": error.description}, 400)


def build_events_blueprint() -> Blueprint:
    bp = Blueprint("events", __name__)
    bp.add_url_rule("/jwks.json", "jwks", own_jwks, methods=["GET"])
    bp.add_url_rule("/tenants/<int:tenant_id>/jwks.json", "tenant_jwks", tenant_jwks)
    bp.add_url_rule("/sets/stream", "stream", stream, methods=["GET"])
    bp.add_url_rule("/sets/poll", "poll", poll, methods=["POST"])
    bp.register_error_handler(PollError, _poll_error)
    return bp
