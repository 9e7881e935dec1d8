"""Every error leaves as a SCIM error body; nothing internal ever reaches the client.

The admin console (``/admin``) is the exception: its errors are HTML pages in words.
"""

from __future__ import annotations

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from scimserver.api.admin.pages import console_error, is_console
from scimserver.api.context import request_id as current_request_id
from scimserver.api.json import json_response
from scimserver.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ScimError,
    UnsupportedMediaType,
)

_HTTP_ERRORS: dict[int, type[ScimError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def scim_error_response(error: ScimError) -> Response:
    if is_console(request.path):
        return console_error(error)
    g.scim_error = error  # for the request's activity record (api/observe.py)
    response = json_response(error.to_json(), error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="scimserver"'
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _http_error(error: HTTPException) -> Response:
    if is_console(request.path):
        return console_error(error)
    code = error.code or 500
    cls = _HTTP_ERRORS.get(code)
    if cls is None:
        return scim_error_response(ScimError(error.description or "Error.", status=code))
    response = scim_error_response(cls())
    if code == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


def _unexpected(error: Exception) -> Response:
    if is_console(request.path):
        return console_error(error)
    # The request's log line (api/observe.py) carries the traceback: one record, not two.
    g.unexpected_error = error
    request_id = current_request_id()
    body = ScimError(f"Internal server error (request id {request_id}).")
    response = scim_error_response(body)
    response.headers["X-Request-Id"] = request_id
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ScimError, scim_error_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
