"""``/api/v1/changes``: the change feed for apps, with the tenant's read or write tokens.

``GET /api/v1/changes?after=<cursor>&limit=<1..1000>&wait=<0..30>`` answers
``{"changes": [...], "next": "<cursor>"}`` in ``seq`` order; with ``wait`` an empty
answer is held until a change commits — or, when the token or the worker already holds
as many waits as it may (service/waits.py), answered at once with 429 and
``Retry-After``. ``GET /api/v1/changes/head`` gives the cursor of
the newest change, to follow the feed from after reading a snapshot of the resources.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from scimserver.api.auth import authenticate
from scimserver.api.context import principal, server
from scimserver.api.json import json_response
from scimserver.errors import InvalidValue
from scimserver.service.changes import MAX_LIMIT, MAX_WAIT, parse_cursor

DEFAULT_LIMIT = 100


def _number(name: str, default: float, low: float, high: float) -> float:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise InvalidValue(f"{name} must be a number from {low:g} to {high:g}.")
    return value


def changes() -> Response:
    after = parse_cursor(request.args.get("after"))
    limit = _number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    if limit != int(limit):
        raise InvalidValue("limit must be an integer.")
    wait = _number("wait", 0, 0, MAX_WAIT)
    reader = principal()
    page = server().feed(reader.tenant_id).read(after, int(limit), wait, reader.token_id)
    return json_response({"changes": page.changes, "next": page.next})


def head() -> Response:
    return json_response({"next": server().feed(principal().tenant_id).head()})


def build_changes_blueprint() -> Blueprint:
    bp = Blueprint("changes", __name__)
    bp.before_request(authenticate)
    bp.add_url_rule("/changes", "changes", changes, methods=["GET"])
    bp.add_url_rule("/changes/head", "head", head, methods=["GET"])
    return bp
