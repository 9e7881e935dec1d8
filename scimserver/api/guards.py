"""WSGI guards in front of Flask: what must be refused or normalised before routing.

- A NUL byte in the path, the query string or a header is 400 (PostgreSQL cannot store
  one, and no SCIM value contains one), as a SCIM error, on every route.
- SCIM endpoint names are matched case-insensitively (``/scim/v2/users`` is ``/Users``):
  some clients lower-case them. Only the endpoint segment is rewritten, never an id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from scimserver.errors import ERROR_URN

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
SCIM_PREFIX = "/scim/v2"


def scim_error_body(status: int, detail: str, scim_type: str | None = None) -> bytes:
    """A SCIM error document, for layers that answer without Flask."""
    body: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return json.dumps(body).encode()


class Guards:
    """Wraps the Flask app: NUL bytes refused, endpoint names matched without case."""

    def __init__(self, app: WSGIApp, endpoints: Iterable[str]) -> None:
        self.app = app
        self.endpoints = {e.strip("/").lower(): e.strip("/") for e in endpoints}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if _has_nul(environ):
            body = scim_error_body(400, "A NUL byte is not allowed in a request.", "invalidValue")
            headers = [
                ("Content-Type", "application/scim+json"),
                ("Content-Length", str(len(body))),
            ]
            start_response("400 Bad Request", headers)
            return [body]
        environ["PATH_INFO"] = self._canonical(environ.get("PATH_INFO", ""))
        return self.app(environ, start_response)

    def _canonical(self, path: str) -> str:
        if path[: len(SCIM_PREFIX)].lower() != SCIM_PREFIX:
            return path
        head, _, rest = path[len(SCIM_PREFIX) + 1 :].partition("/")
        name = self.endpoints.get(head.lower())
        if name is None or name == head:
            return path
        return f"{SCIM_PREFIX}/{name}" + (f"/{rest}" if rest or path.endswith("/") else "")


def _has_nul(environ: Mapping[str, Any]) -> bool:
    if "\x00" in environ.get("PATH_INFO", ""):
        return True
    if b"\x00" in unquote_to_bytes(environ.get("QUERY_STRING", "")):
        return True
    return any(
        "\x00" in value
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    )
