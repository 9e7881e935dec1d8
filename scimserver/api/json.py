"""JSON in and out: ``application/scim+json`` responses, strict request parsing."""

from __future__ import annotations

import json
from typing import Any

from flask import Request, Response, current_app
from flask.json.provider import DefaultJSONProvider

from scimserver.errors import InvalidSyntax, UnsupportedMediaType

SCIM_MEDIA_TYPE = "application/scim+json"


class ScimJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, answering ``application/scim+json`` with UTF-8 as is."""

    mimetype = SCIM_MEDIA_TYPE
    ensure_ascii = False
    sort_keys = False
    compact = True


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A SCIM JSON response (the app's JSON provider decides the encoding)."""
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype=SCIM_MEDIA_TYPE
    )
    response.headers.update(headers or {})
    return response


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json(request: Request) -> Any:
    """The request body as JSON, or a SCIM error (415 wrong type, 400 invalidSyntax)."""
    mimetype = request.mimetype or ""
    if mimetype and "json" not in mimetype and mimetype != "text/plain":
        raise UnsupportedMediaType(
            f"Content-Type {mimetype} is not supported; send application/scim+json."
        )
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InvalidSyntax("The request body is empty.")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidSyntax("The request body is not valid JSON.") from exc


def negotiate(request: Request, response: Response) -> Response:
    """Answer plain ``application/json`` to clients that ask for it and not for SCIM's type."""
    if response.mimetype == SCIM_MEDIA_TYPE:
        accept = request.accept_mimetypes
        if accept.quality("application/json") > accept.quality(SCIM_MEDIA_TYPE):
            response.mimetype = "application/json"
    return response
