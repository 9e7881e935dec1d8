"""Per-request access to the server and to who is calling."""

from __future__ import annotations

import functools
import re
import uuid

from flask import current_app, g, request
from werkzeug.sansio.utils import get_current_url

from scimserver.service.server import Server
from scimserver.service.tokens import Principal

EXTENSION = "scimserver"
ACTIVITY = "scimserver.activity"
"""``app.extensions`` key of the ActivityRecorder (None when SCIMSERVER_ACTIVITY_LOG is off)."""
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def server() -> Server:
    found: Server = current_app.extensions[EXTENSION]
    return found


def principal() -> Principal:
    found: Principal = g.principal
    return found


def request_id() -> str:
    """This request's id: a sane incoming ``X-Request-Id``, else a fresh one."""
    found: str | None = g.get("request_id")
    if found is None:
        incoming = request.headers.get("X-Request-Id", "")
        found = incoming if _SANE_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_id = found
    return found


def base_url() -> str:
    """The SCIM base URL: the configured one, else this request's host + ``/scim/v2``."""
    configured = server().settings.base_url
    if configured:
        return configured.rstrip("/")
    return _scim_base(request.scheme, request.host)


@functools.lru_cache(maxsize=64)
def _scim_base(scheme: str, host: str) -> str:
    """``request.host_url`` plus ``/scim/v2``: built once per host, not once per request."""
    return get_current_url(scheme, host).rstrip("/") + "/scim/v2"
