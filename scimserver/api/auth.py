"""Bearer-token authentication and scope checks for every SCIM request."""

from __future__ import annotations

from flask import g, request

from scimserver.api.context import server
from scimserver.errors import Forbidden, RateLimited, Unauthorized
from scimserver.service.tokens import Principal

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authenticate() -> None:
    """Resolve the bearer token into ``g.principal``; 401 without one, 403 writing read-only."""
    found = authenticate_any_scope()
    if not found.can_write and request.method not in READ_METHODS and not _is_search():
        raise Forbidden("This token is read-only.")


def authenticate_any_scope() -> Principal:
    """Resolve the bearer token into ``g.principal`` (401 without one), whatever its scope:
    for POSTs that only read, such as the RFC 8936 poll."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("A bearer token is required (Authorization: Bearer <token>).")
    found = server().tokens.authenticate(secret.strip())
    if found is None:
        raise Unauthorized("The bearer token is unknown, expired or revoked.")
    g.principal = found
    wait = server().admit(found)
    if wait is not None:
        raise RateLimited(wait, f"Too many requests for this token; retry in {wait} s.")
    return found


def _is_search() -> bool:
    return request.method == "POST" and request.path.rstrip("/").endswith("/.search")
