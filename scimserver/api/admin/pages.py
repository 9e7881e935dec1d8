"""Rendering console pages: the template context, security headers and error pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, g, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from scimserver.api.admin.session import (
    csrf_token,
    current_admin,
    load,
    remember_login_nonce,
    session_token,
)
from scimserver.api.context import request_id
from scimserver.errors import ScimError
from scimserver.store.db import DATABASE_ERRORS

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
}
MESSAGES = {
    400: "The request could not be understood.",
    403: "You may not do that.",
    404: "There is no such page, or it is not yours to see.",
    405: "This page cannot be used that way.",
    413: "What was sent is too large.",
    429: "Too many requests; wait a little and try again.",
}
_UNAVAILABLE: tuple[type[Exception], ...] = (*DATABASE_ERRORS, ScimError)
_OWN_WORDS = frozenset({404, 405, 500})
"""Statuses shown in our words, whatever the error says (it may name internals)."""


def is_console(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


def page(template: str, code: int = 200, **context: Any) -> Response:
    """A console page, with the signed-in admin and the forms' CSRF token in its context."""
    body = render_template(
        f"admin/{template}",
        admin=current_admin(),
        csrf_token=csrf_token(),
        session_token=session_token(),
        pager_args=pager_args,
        **context,
    )
    response = make_response(body, code)
    remember_login_nonce(response)
    return response


def pager_args(number: int) -> str:
    """This page's query string with ``page`` set to ``number`` (search terms kept)."""
    args = request.args.to_dict()
    args["page"] = str(number)
    return urlencode(args)


def secure(response: Response) -> Response:
    """Console pages: no framing, no foreign scripts or styles, never cached."""
    if is_console(request.path):
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
    return response


def console_error(error: Exception) -> Response:
    """Any error under /admin as a page in words: never JSON, never a traceback."""
    status, detail = _status_and_detail(error)
    if status >= 500:
        g.unexpected_error = error
        detail = f"The server failed to answer. Quote request id {request_id()} when reporting it."
    if "admin" not in g:
        _load_quietly()
    title = TITLES.get(status, "Error")
    response = page("error.html", status, title=title, detail=detail)
    if isinstance(error, HTTPException) and status == 405:
        response.headers["Allow"] = error.get_response().headers.get("Allow", "")
    return response


def _load_quietly() -> None:
    """Find the admin for the page's header, unless the database is what failed."""
    try:
        load()
    except _UNAVAILABLE:
        g.admin, g.session_id = None, ""


def _status_and_detail(error: Exception) -> tuple[int, str]:
    if isinstance(error, ScimError):
        return error.status, error.detail
    if isinstance(error, HTTPException):
        status = error.code or 500
        fallback = MESSAGES.get(status, "The request failed.")
        own = status in _OWN_WORDS or error.description == type(error).description
        return status, fallback if own else str(error.description)
    return 500, ""
