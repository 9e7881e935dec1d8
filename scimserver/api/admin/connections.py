"""The connections (tenants): the list with each one's SCIM base URL, and one connection."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from scimserver.api.admin.pages import page
from scimserver.api.admin.scope import connection
from scimserver.api.admin.session import signed_in_admin
from scimserver.api.context import base_url, server
from scimserver.service.tokens import TokenError
from scimserver.store.tokens import TenantSummary

REFUSED_SHOWN = 20


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/", "home", home, methods=["GET"])
    blueprint.add_url_rule("/connections", "create_connection", create, methods=["POST"])
    blueprint.add_url_rule("/connections/<name>", "connection", show, methods=["GET"])


def _visible() -> list[TenantSummary]:
    admin = signed_in_admin()
    return [t for t in server().tenants().listing() if admin.may_see(t.name)]


def home(error: str | None = None, status: int = 200, typed: str = "") -> BaseResponse:
    rows = _visible()
    ids = server().tenants().ids()
    activity = server().activity().summaries([ids[t.name] for t in rows])
    # A 401 names no connection it may be shown under: only admins of them all see it.
    every = not signed_in_admin().restricted
    return page(
        "home.html",
        status,
        connections=[(t, activity[ids[t.name]]) for t in rows],
        refused=server().activity().refused(REFUSED_SHOWN) if every else None,
        scim_url=base_url(),
        error=error,
        typed=typed,
    )


def create() -> BaseResponse:
    if not signed_in_admin().may_create_tenants:
        abort(403, "Your account is limited to some connections: it cannot create others.")
    name = request.form.get("name", "").strip()
    if "/" in name:
        return home(
            "A connection name cannot contain “/”: it is part of the console's URLs.", 400, name
        )
    try:
        server().tenants().create(name)
    except TokenError as exc:
        return home(str(exc), 400, name)
    return redirect(url_for("admin.connection", name=name), 303)


def show(name: str) -> BaseResponse:
    found = connection(name)
    (summary,) = [t for t in server().tenants().listing() if t.name == found.name]
    activity = server().activity().summary(found.id)
    return page(
        "connection.html",
        connection=found,
        summary=summary,
        activity=activity,
        scim_url=base_url(),
    )
