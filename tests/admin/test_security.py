"""The issue's security checks: CSRF on every POST, and admins held to their tenants."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask

from scimserver.scim.targets import Reach
from tests.admin.conftest import Console, make_admin
from tests.conftest import ScimClient, make_client

POSTS = (
    "/admin/logout",
    "/admin/connections",
    "/admin/connections/{t}/tokens",
    "/admin/connections/{t}/tokens/test/revoke",
    "/admin/connections/{t}/tokens/test/rotate",
    "/admin/connections/{t}/webhooks/{w}/redeliver",
    "/admin/connections/{t}/access/map",
    "/admin/connections/{t}/access/unmap",
    "/admin/connections/{t}/access/mode",
    "/admin/connections/{t}/access/default-role",
    "/admin/connections/{t}/access/admin",
)
GETS = (
    "/admin/connections/{t}",
    "/admin/connections/{t}/tokens",
    "/admin/connections/{t}/users",
    "/admin/connections/{t}/groups",
    "/admin/connections/{t}/users/{u}",
    "/admin/connections/{t}/groups/{g}",
    "/admin/connections/{t}/webhooks",
    "/admin/connections/{t}/access",
)


def post_routes(app: Flask) -> set[str]:
    """Every console URL rule that takes a POST: a new one must be added to POSTS."""
    return {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and "POST" in (rule.methods or set())
    }


def test_posts_cover_every_console_post_route(app: Flask) -> None:
    normalised = {re.sub(r"\{\w\}|test", "<>", p) for p in POSTS} | {"/admin/login"}
    routes = {re.sub(r"<\w+>", "<>", rule) for rule in post_routes(app)}
    assert routes == normalised


def fill(path: str, scim: ScimClient, ids: dict[str, str]) -> str:
    return path.format(t=scim.tenant, **ids)


@pytest.fixture
def world(app: Flask, scim: ScimClient) -> Iterator[dict[str, str]]:
    """A user, a group and a webhook in the ``scim`` tenant (the webhook removed after)."""
    user = scim.create_user("target")
    group = scim.create_group("targets", members=[user["id"]])
    server = app.extensions["scimserver"]
    tenant_id = server.tenants().find(scim.tenant)
    local = Reach(insecure_http=True, private_network=True)  # a loopback test receiver
    info, _ = server.webhooks().add("http://127.0.0.1:9/x", tenant_id, "json", None, False, local)
    yield {"u": user["id"], "g": group["id"], "w": info.id}
    server.webhooks().remove(info.id)


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("token", [None, "", "forged", "0" * 64])
def test_missing_or_invalid_csrf_token_is_403(
    console: Console, scim: ScimClient, world: dict[str, str], path: str, token: str | None
) -> None:
    data = {"name": "x", "scope": "write", "overlap": "1h"}
    if token is not None:
        data["csrf_token"] = token
    response = console.client.post(fill(path, scim, world), data=data)
    assert response.status_code == 403
    assert response.mimetype == "text/html" and 'role="alert"' in response.get_data(as_text=True)
    assert console.get("/admin/").status_code == 200  # still signed in: nothing happened


def test_sign_in_needs_its_own_csrf_token(app: Flask, console: Console) -> None:
    browser = Console(app, make_admin(app).name)
    data = {"username": browser.name, "password": browser.password}
    assert browser.client.post("/admin/login", data=data).status_code == 403
    browser.client.get("/admin/login")  # a nonce cookie, but another browser's token:
    response = browser.client.post("/admin/login", data={**data, "csrf_token": console.csrf})
    assert response.status_code == 403


def test_a_session_token_from_another_session_is_refused(app: Flask, console: Console) -> None:
    other = Console(app, make_admin(app).name)
    other.sign_in()
    response = console.client.post("/admin/logout", data={"csrf_token": other.csrf})
    assert response.status_code == 403


def test_a_tenant_limited_admin_sees_only_its_tenants(
    app: Flask, scim: ScimClient, world: dict[str, str]
) -> None:
    mine = make_client(app)
    admin = make_admin(app, [mine.tenant])
    browser = Console(app, admin.name)
    assert browser.sign_in().status_code == 303
    home = browser.get("/admin/").get_data(as_text=True)
    assert f"/admin/connections/{mine.tenant}" in home
    assert scim.tenant not in home
    assert 'action="/admin/connections"' not in home  # cannot create connections
    assert browser.get(f"/admin/connections/{mine.tenant}/tokens").status_code == 200
    for path in GETS:
        response = browser.get(fill(path, scim, world))
        assert response.status_code == 404, path
        assert scim.tenant not in response.get_data(as_text=True)
    for path in POSTS[2:]:
        response = browser.post(fill(path, scim, world), {"name": "evil", "overlap": "1h"})
        assert response.status_code == 404, path
    assert scim.get("/Users").status_code == 200  # the other tenant's token still works
    tokens = app.extensions["scimserver"].tokens.listing(scim.tenant)
    assert [t.name for t in tokens] == [scim.name]
    created = browser.post("/admin/connections", {"name": "mine-too"})
    assert created.status_code == 403
    assert app.extensions["scimserver"].tenants().find("mine-too") is None


def test_an_admin_whose_tenants_were_deleted_sees_nothing(app: Flask) -> None:
    doomed = make_client(app)
    admin = make_admin(app, [doomed.tenant])
    app.extensions["scimserver"].tenants().delete(doomed.tenant, force=True)
    browser = Console(app, admin.name)
    assert browser.sign_in().status_code == 303
    home = browser.get("/admin/").get_data(as_text=True)
    assert "No connections yet." in home and 'action="/admin/connections"' not in home


_FORM = re.compile(r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", re.S | re.I)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def test_every_post_form_carries_the_session_csrf_token(
    app: Flask, scim: ScimClient, console: Console, world: dict[str, str]
) -> None:
    """What a real browser submits: each form's own hidden token, never an empty one."""
    pages = ("/admin/", "/admin/connections/{t}/tokens", "/admin/connections/{t}/webhooks")
    forms_seen = 0
    for page in pages:
        body = console.get(fill(page, scim, world)).get_data(as_text=True)
        for form in _FORM.findall(body):
            tokens = _TOKEN.findall(form)
            assert tokens == [console.csrf], (page, form)
            forms_seen += 1
    assert forms_seen >= 5  # sign-out, new connection, create token, revoke, rotate…
