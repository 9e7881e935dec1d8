"""Who is signed in to the console, the session cookie, and the CSRF check of every POST.

The cookie holds a random session id (the database keeps its hash); a form's CSRF
token is an HMAC of that id. Before sign-in, a second cookie holds a random nonce and
the sign-in form carries the nonce's HMAC (a signed double submit), so a cross-site
page can neither forge a sign-in nor any later POST. A bearer token opens nothing here.
"""

from __future__ import annotations

import secrets

from flask import abort, g, request
from werkzeug.wrappers import Response

from scimserver.api.context import server
from scimserver.service.admins import AdminInfo

SESSION_COOKIE = "scimserver_console"
LOGIN_COOKIE = "scimserver_console_login"
COOKIE_PATH = "/admin"
SIGN_IN_ENDPOINTS = frozenset({"admin.login", "admin.login_submit"})
PUBLIC_ENDPOINTS = SIGN_IN_ENDPOINTS | {"admin.static"}


def current_admin() -> AdminInfo | None:
    found: AdminInfo | None = g.get("admin")
    return found


def signed_in_admin() -> AdminInfo:
    """The signed-in admin (views behind :func:`load` only run with one)."""
    admin = current_admin()
    if admin is None:
        abort(403)
    return admin


def load() -> None:
    """Find the admin of this request's session cookie, if it is live."""
    session_id = request.cookies.get(SESSION_COOKIE, "")
    g.admin = server().admins.session(session_id) if session_id else None
    g.session_id = session_id if g.admin is not None else ""


def csrf_token() -> str:
    """The token forms of this page carry: the session's, or the sign-in form's."""
    admins = server().admins
    if g.get("session_id") and request.endpoint not in SIGN_IN_ENDPOINTS:
        return admins.form_token("session", g.session_id)
    nonce = request.cookies.get(LOGIN_COOKIE) or g.get("login_nonce")
    if not nonce:
        nonce = g.login_nonce = secrets.token_urlsafe(32)
    return admins.form_token("login", nonce)


def session_token() -> str:
    """The signed-in session's CSRF token (the header's sign-out form), else ""."""
    session_id = g.get("session_id")
    return server().admins.form_token("session", session_id) if session_id else ""


def check_csrf() -> None:
    """Refuse (403) a POST whose ``csrf_token`` is missing or not this browser's."""
    presented = request.form.get("csrf_token", "")
    admins = server().admins
    if request.endpoint == "admin.login_submit":
        valid = admins.check_form_token("login", request.cookies.get(LOGIN_COOKIE, ""), presented)
    else:
        valid = admins.check_form_token("session", g.get("session_id", ""), presented)
    if not valid:
        abort(403, "The form was stale or did not come from this console; reload and retry.")


def _secure() -> bool:
    """Over TLS (as a trusted proxy reports it), or served at an https base URL."""
    return request.is_secure or server().settings.base_url.startswith("https://")


def set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name, value, path=COOKIE_PATH, secure=_secure(), httponly=True, samesite="Lax"
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, secure=_secure(), httponly=True, samesite="Lax")


def remember_login_nonce(response: Response) -> None:
    """Send the sign-in form's nonce cookie when this response made a new one."""
    nonce = g.get("login_nonce")
    if nonce:
        set_cookie(response, LOGIN_COOKIE, nonce)


def safe_next(target: str) -> str:
    """A place in the console to return to after sign-in; anything else goes home."""
    plain = target.isprintable() and "\\" not in target
    if plain and target.startswith("/admin/") and "//" not in target:
        return target
    return "/admin/"
