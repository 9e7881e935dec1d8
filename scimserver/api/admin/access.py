"""A connection's access rules: which app groups and roles its IdP groups make, and where
``isAdmin`` comes from. The same service as ``scimserver access``; each edit is logged
with the admin as its actor."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, request
from werkzeug.wrappers import Response as BaseResponse

from scimserver.api.admin.pages import page
from scimserver.api.admin.scope import Connection, connection
from scimserver.api.admin.session import signed_in_admin
from scimserver.api.context import server
from scimserver.scim.identity import MODES
from scimserver.service.access import AccessError, AccessService


def register(blueprint: Blueprint) -> None:
    base = "/connections/<name>/access"
    blueprint.add_url_rule(base, "access", show, methods=["GET"])
    blueprint.add_url_rule(f"{base}/map", "access_map", map_group, methods=["POST"])
    blueprint.add_url_rule(f"{base}/unmap", "access_unmap", unmap, methods=["POST"])
    blueprint.add_url_rule(f"{base}/mode", "access_mode", mode, methods=["POST"])
    blueprint.add_url_rule(
        f"{base}/default-role", "access_default_role", default_role, methods=["POST"]
    )
    blueprint.add_url_rule(f"{base}/admin", "access_admin", admin_source, methods=["POST"])


def _service(found: Connection) -> AccessService:
    return server().access(found.id, f"console:{signed_in_admin().name}")


def _page(
    found: Connection,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> BaseResponse:
    return page(
        "access.html",
        status_code,
        connection=found,
        rules=_service(found).rules(),
        modes=MODES,
        notice=notice,
        error=error,
        form=request.form if error else {},
    )


def show(name: str) -> BaseResponse:
    return _page(connection(name))


def _edit(name: str, change: Callable[[AccessService], str]) -> BaseResponse:
    """Run one edit; the page again, saying what changed or, in words, why not."""
    found = connection(name)
    try:
        notice = change(_service(found))
    except AccessError as exc:
        return _page(found, error=str(exc), status_code=400)
    return _page(found, notice=notice)


def _priority(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise AccessError(f"The priority is a whole number (lower wins), not {raw!r}.") from None


def map_group(name: str) -> BaseResponse:
    form = request.form

    def change(service: AccessService) -> str:
        app_group = form.get("app_group", "").strip()
        priority = _priority(form.get("priority", ""))
        before = {m.app_group: m for m in service.rules().mappings}.get(app_group)
        mapping = service.map(app_group, form.get("idp_group", "").strip(), priority)
        done = f"“{mapping.app_group}” is fed from IdP group {mapping.group_id}"
        if before is not None and before.group_id != mapping.group_id:
            # The rule: one IdP group per app group; mapping again replaces it.
            was = before.group_name or "(deleted)"
            return (
                f"{done}, no longer from “{was}” ({before.group_id}): "
                "an app group is fed from one IdP group."
            )
        return f"{done} (priority {mapping.priority})."

    return _edit(name, change)


def unmap(name: str) -> BaseResponse:
    app_group = request.form.get("app_group", "")

    def change(service: AccessService) -> str:
        service.unmap(app_group)
        return f"“{app_group}” is no longer mapped."

    return _edit(name, change)


def mode(name: str) -> BaseResponse:
    wanted = request.form.get("mode", "")

    def change(service: AccessService) -> str:
        service.mode(wanted)
        return f"Mode: {wanted}."

    return _edit(name, change)


def default_role(name: str) -> BaseResponse:
    role = request.form.get("role", "").strip()

    def change(service: AccessService) -> str:
        service.default_role(role or None)
        return f"Default role: “{role}”." if role else "No default role."

    return _edit(name, change)


def admin_source(name: str) -> BaseResponse:
    attribute = request.form.get("attribute", "").strip()
    group = request.form.get("idp_group", "").strip()

    def change(service: AccessService) -> str:
        service.admin(attribute, group)
        return "isAdmin source saved." if attribute or group else "isAdmin has no source."

    return _edit(name, change)
