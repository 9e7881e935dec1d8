"""The admin console: server-rendered pages under ``/admin`` for connections, tokens,
synced identities, provisioning activity and access rules. Views are thin: they call services."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from scimserver.api.admin import access, connections, identities, signin, tokens, watching
from scimserver.api.admin.display import breakable, moment, shown
from scimserver.api.admin.pages import secure
from scimserver.api.admin.session import PUBLIC_ENDPOINTS, check_csrf, current_admin, load


def build_admin_blueprint() -> Blueprint:
    """The console's blueprint; mount it at ``/admin``."""
    blueprint = Blueprint(
        "admin",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    blueprint.before_request(_guard)
    blueprint.after_app_request(secure)
    blueprint.add_app_template_filter(moment, "console_moment")
    blueprint.add_app_template_filter(shown, "console_time")
    blueprint.add_app_template_filter(breakable, "breakable")
    for module in (signin, connections, tokens, identities, watching, access):
        module.register(blueprint)
    return blueprint


def _guard() -> BaseResponse | None:
    """Every console request: find the session, check a POST's CSRF token, require sign-in."""
    if request.endpoint == "admin.static":
        return None
    load()
    if request.method == "POST":
        check_csrf()
    if current_admin() is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return redirect(_login_url(), 303)
    return None


def _login_url() -> str:
    """The sign-in page, with the page asked for to come back to (home needs no ``next``)."""
    wanted = request.full_path.rstrip("?")
    if request.method != "GET" or wanted in ("/admin/", "/admin"):
        return "/admin/login"
    return f"/admin/login?{urlencode({'next': wanted})}"
