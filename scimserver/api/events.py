"""Security events: the signing keys (JWKS) and the RFC 8936 poll endpoint.

``GET /api/v1/jwks.json`` (no authentication) answers the JWK Set that verifies SETs.
``POST /api/v1/sets/poll`` (a bearer token of the tenant, read or write scope) takes
an RFC 8936 poll request and answers ``{"sets": {jti: SET}, "moreAvailable": bool}``;
an invalid poll request answers 400 ``{"err": "invalid_request", "description": ...}``.
See docs/events.md.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from scimserver.api.auth import authenticate_any_scope
from scimserver.api.context import base_url, server
from scimserver.api.json import read_json
from scimserver.errors import InvalidSyntax
from scimserver.scim.poll import PollError, parse_poll

JWKS_MEDIA_TYPE = "application/jwk-set+json"


def _json(body: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    return current_app.response_class(json.dumps(body), status=status, mimetype=mimetype)


def jwks() -> Response:
    response = _json(server().set_issuer(base_url()).keys.jwks(), mimetype=JWKS_MEDIA_TYPE)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def poll() -> Response:
    receiver = authenticate_any_scope()
    try:
        body = read_json(request)
    except InvalidSyntax as exc:
        raise PollError(exc.detail) from exc
    wanted = parse_poll(body, request.headers.get("Content-Language"))
    result = server().set_poller(receiver, base_url()).poll(wanted)
    return _json({"sets": result.sets, "moreAvailable": result.more_available})


def _poll_error(error: PollError) -> Response:
    return _json({"err": error.err, "description": error.description}, 400)


def build_events_blueprint() -> Blueprint:
    bp = Blueprint("events", __name__)
    bp.add_url_rule("/jwks.json", "jwks", jwks, methods=["GET"])
    bp.add_url_rule("/sets/poll", "poll", poll, methods=["POST"])
    bp.register_error_handler(PollError, _poll_error)
    return bp
