"""``/api/v1/identities``: the identity view of a tenant's users, for apps (read or write
tokens). ``GET /identities/{id}`` answers one identity with an ETag (If-None-Match: 304);
``GET /identities?email=<address>`` and ``GET /identities?cursor=…&limit=1..1000`` answer
``{"identities": [...], "next": <cursor or null>}``. See docs/access.md.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from scimserver.api.auth import authenticate
from scimserver.api.context import principal, server
from scimserver.api.json import json_response
from scimserver.errors import InvalidValue
from scimserver.scim.identity import view_etag
from scimserver.scim.versions import names_etag
from scimserver.service.access import IDENTITY_PAGE, MAX_IDENTITY_PAGE


def identity(user_id: str) -> Response:
    view = server().identities(principal().tenant_id).get(user_id)
    tag = view_etag(view)
    if names_etag(request.headers.get("If-None-Match"), tag):
        response = Response(status=304)
        response.headers["ETag"] = tag
        return response
    return json_response(view, 200, {"ETag": tag})


def identities() -> Response:
    service = server().identities(principal().tenant_id)
    email = request.args.get("email")
    if email is not None:
        page = service.by_email(email)
    else:
        page = service.page(request.args.get("cursor") or None, _limit())
    return json_response({"identities": page.identities, "next": page.next})


def _limit() -> int:
    raw = request.args.get("limit", "")
    if raw == "":
        return IDENTITY_PAGE
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_IDENTITY_PAGE:
        raise InvalidValue(f"limit must be an integer from 1 to {MAX_IDENTITY_PAGE}.")
    return int(raw)


def build_identities_blueprint() -> Blueprint:
    bp = Blueprint("identities", __name__)
    bp.before_request(authenticate)
    bp.add_url_rule("/identities", "identities", identities, methods=["GET"])
    bp.add_url_rule("/identities/<user_id>", "identity", identity, methods=["GET"])
    return bp
