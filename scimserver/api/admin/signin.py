"""Sign-in and sign-out pages."""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from scimserver.api.admin.pages import page
from scimserver.api.admin.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    safe_next,
    set_cookie,
)
from scimserver.api.context import server
from scimserver.service.admins import Throttled

WRONG = "Wrong username or password."


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/login", "login", login_form, methods=["GET"])
    blueprint.add_url_rule("/login", "login_submit", login, methods=["POST"])
    blueprint.add_url_rule("/logout", "logout", logout, methods=["POST"])


def login_form() -> BaseResponse:
    """The sign-in form (also when signed in: signing in again switches the session)."""
    return page("login.html", next=safe_next(request.args.get("next", "")), error=None)


def login() -> BaseResponse:
    name = request.form.get("username", "")
    password = request.form.get("password", "")
    target = safe_next(request.form.get("next", ""))
    address = request.remote_addr or ""
    try:
        session_id = server().admins.sign_in(name, password, address)
    except Throttled as exc:
        return _refused(str(exc), 429, name, target)
    if session_id is None:
        return _refused(WRONG, 401, name, target)
    if g.session_id:
        server().admins.sign_out(g.session_id)  # rotation: the earlier id dies here
    response = redirect(target, 303)
    set_cookie(response, SESSION_COOKIE, session_id)
    clear_cookie(response, LOGIN_COOKIE)
    return response


def _refused(message: str, status: int, name: str, target: str) -> Response:
    response = page("login.html", status, next=target, error=message, username=name)
    if status == 429:
        response.headers["Retry-After"] = "900"
    return response


def logout() -> BaseResponse:
    server().admins.sign_out(g.session_id)
    response = redirect("/admin/login", 303)
    clear_cookie(response, SESSION_COOKIE)
    return response
