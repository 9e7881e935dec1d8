"""Per-request access to the server and to who is calling."""

from __future__ import annotations

from flask import current_app, g, request

from scimserver.service.server import Server
from scimserver.service.tokens import Principal

EXTENSION = "scimserver"


def server() -> Server:
    found: Server = current_app.extensions[EXTENSION]
    return found


def principal() -> Principal:
    found: Principal = g.principal
    return found


def base_url() -> str:
    """The SCIM base URL: the configured one, else this request's host + ``/scim/v2``."""
    configured = server().settings.base_url
    if configured:
        return configured.rstrip("/")
    return request.host_url.rstrip("/") + "/scim/v2"
