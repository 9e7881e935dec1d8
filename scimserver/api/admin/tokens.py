"""A connection's bearer tokens: list, create, rotate (secrets shown once), revoke."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from scimserver.api.admin.display import shown
from scimserver.api.admin.pages import page
from scimserver.api.admin.scope import Connection, connection
from scimserver.api.context import base_url, server
from scimserver.scim.versions import now
from scimserver.service.tokens import DEFAULT_OVERLAP, SCOPES, TokenError, TokenInfo, parse_overlap


def register(blueprint: Blueprint) -> None:
    base = "/connections/<name>/tokens"
    blueprint.add_url_rule(base, "tokens", listing, methods=["GET"])
    blueprint.add_url_rule(base, "create_token", create, methods=["POST"])
    blueprint.add_url_rule(f"{base}/<token>/revoke", "revoke_token", revoke, methods=["POST"])
    blueprint.add_url_rule(f"{base}/<token>/rotate", "rotate_token", rotate, methods=["POST"])


def status(token: TokenInfo) -> str:
    """In words: revoked, expired, rotating (until when) or active."""
    moment = now()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= moment:
        return "expired"
    if token.previous_expires_at is not None and token.previous_expires_at > moment:
        return f"rotating (old secret until {shown(token.previous_expires_at)})"
    return "active"


def _page(
    found: Connection,
    *,
    issued: tuple[TokenInfo, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> BaseResponse:
    return page(
        "tokens.html",
        status_code,
        connection=found,
        tokens=server().tokens.listing(found.name),
        scopes=SCOPES,
        token_status=status,
        issued=issued,
        error=error,
        form=request.form,
        default_overlap=DEFAULT_OVERLAP,
        scim_url=base_url(),
    )


def listing(name: str) -> BaseResponse:
    return _page(connection(name))


def create(name: str) -> BaseResponse:
    found = connection(name)
    form = request.form
    try:
        issued = server().tokens.create(
            form.get("name", "").strip(),
            found.name,
            form.get("scope", "write"),
            form.get("expires", "").strip() or None,
            create_tenant=False,
        )
    except TokenError as exc:
        return _page(found, error=str(exc), status_code=400)
    return _page(found, issued=issued)


def _own(found: Connection, token: str) -> None:
    """404 unless ``token`` names one of this connection's tokens (never a prefix)."""
    if all(t.name != token for t in server().tokens.listing(found.name)):
        abort(404)


def revoke(name: str, token: str) -> BaseResponse:
    found = connection(name)
    _own(found, token)
    try:
        server().tokens.revoke(token, found.name)
    except TokenError as exc:
        return _page(found, error=str(exc), status_code=400)
    return redirect(url_for("admin.tokens", name=found.name), 303)


def rotate(name: str, token: str) -> BaseResponse:
    found = connection(name)
    _own(found, token)
    try:
        overlap = parse_overlap(request.form.get("overlap", DEFAULT_OVERLAP))
        issued = server().tokens.rotate(token, found.name, overlap)
    except TokenError as exc:
        return _page(found, error=str(exc), status_code=400)
    return _page(found, issued=issued)
