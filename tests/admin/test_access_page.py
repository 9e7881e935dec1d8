"""The console's access page: the rules ``scimserver access`` edits, shown and edited
per connection, with the same service, audited, CSRF-checked and tenant-scoped."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from scimserver.service.access import RulesInfo
from tests.admin.conftest import Console, h1, html_of, make_admin, title
from tests.api.test_changes import changes_since, head
from tests.conftest import ScimClient, make_client

FORMS = ("map", "unmap", "mode", "default-role", "admin")
_NOTICE = re.compile(r'<p class="notice" role="status" data-notice>(.*?)</p>', re.S)
_ALERT = re.compile(r'<p class="alert" role="alert">(.*?)</p>', re.S)


def base(scim: ScimClient) -> str:
    return f"/admin/connections/{scim.tenant}/access"


def rules(app: Flask, scim: ScimClient) -> RulesInfo:
    server = app.extensions["scimserver"]
    return server.access(server.tenants().find(scim.tenant)).rules()


def edit(console: Console, scim: ScimClient, form: str, **data: str) -> str:
    """Submit one of the page's forms; the notice it answers with."""
    response = console.post(f"{base(scim)}/{form}", data)
    html = html_of(response)
    assert response.status_code == 200, html
    found = _NOTICE.search(html)
    assert found, html
    return found.group(1).replace("&#34;", '"').replace("&#39;", "'")


def refused(console: Console, scim: ScimClient, form: str, **data: str) -> str:
    """Submit a form the rules refuse: a 400 page saying why in words."""
    response = console.post(f"{base(scim)}/{form}", data)
    html = html_of(response)
    assert response.status_code == 400, html
    assert response.mimetype == "text/html" and h1(response) == ["Access"]
    found = _ALERT.search(html)
    assert found, html
    return found.group(1).replace("&#34;", '"').replace("&#39;", "'")


def test_the_page_shows_the_rules_and_is_linked_from_the_connection(
    console: Console, scim: ScimClient, app: Flask
) -> None:
    page = console.get(base(scim))
    html = html_of(page)
    assert page.status_code == 200 and h1(page) == ["Access"]
    assert title(page).startswith(f"Access · {scim.tenant}")
    assert "No app group is mapped yet." in html
    assert f'href="{base(scim)}"' in html_of(console.get(f"/admin/connections/{scim.tenant}"))
    for form in FORMS:
        assert f'action="{base(scim)}/{form}"' in html or form == "unmap"
    group = scim.create_group("Engineering", externalId="00g-eng")
    server = app.extensions["scimserver"]
    service = server.access(server.tenants().find(scim.tenant), "cli")
    service.map("developers", "00g-eng", 3)  # what the CLI did shows on the page
    service.mode("multi")
    scim.patch(
        f"/Groups/{group['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Platform"}],
        },
    )
    html = html_of(console.get(base(scim)))
    row = re.search(r'<tr data-app-group="developers">(.*?)</tr>', html, re.S)
    assert row, html
    assert "<td data-idp-group>Platform</td>" in row.group(1)  # its name now
    assert f"<code>{group['id']}</code>" in row.group(1)
    assert "<td data-priority>3</td>" in row.group(1)
    assert '<option value="multi" selected>multi</option>' in html
    assert console.get("/admin/connections/no-such-connection/access").status_code == 404


def test_each_form_edits_the_rules_as_the_cli_does(
    console: Console, scim: ScimClient, app: Flask
) -> None:
    eng = scim.create_group("Engineering")
    sales = scim.create_group("Sales", externalId="00g-sales")
    notice = edit(console, scim, "map", app_group="developers", idp_group="Engineering")
    assert notice == f"“developers” is fed from IdP group {eng['id']} (priority 1)."
    edit(console, scim, "map", app_group="support", idp_group=eng["id"], priority="0")
    edit(console, scim, "map", app_group="sellers", idp_group="00g-sales")
    found = rules(app, scim)
    assert [(m.app_group, m.group_id, m.priority) for m in found.mappings] == [
        ("support", eng["id"], 0),
        ("developers", eng["id"], 1),
        ("sellers", sales["id"], 2),
    ]
    # Mapping again replaces the IdP group (one per app group), and says so.
    notice = edit(console, scim, "map", app_group="developers", idp_group="Sales")
    assert f"no longer from “Engineering” ({eng['id']})" in notice
    assert "an app group is fed from one IdP group" in notice
    mapped = {m.app_group: (m.group_id, m.priority) for m in rules(app, scim).mappings}
    assert mapped["developers"] == (sales["id"], 1)
    assert edit(console, scim, "unmap", app_group="sellers") == "“sellers” is no longer mapped."
    assert edit(console, scim, "mode", mode="multi") == "Mode: multi."
    assert edit(console, scim, "default-role", role=" member ") == "Default role: “member”."
    edit(console, scim, "admin", attribute="active", idp_group="Sales")
    found = rules(app, scim)
    assert [m.app_group for m in found.mappings] == ["support", "developers"]
    assert (found.mode, found.default_role) == ("multi", "member")
    assert (found.admin_attribute, found.admin_group_id) == ("active", sales["id"])
    html = html_of(console.get(base(scim)))
    assert "data-admin-group>Sales (<code>" in html and 'value="member"' in html
    assert edit(console, scim, "default-role", role="") == "No default role."
    assert edit(console, scim, "admin", attribute="", idp_group="") == "isAdmin has no source."
    found = rules(app, scim)
    assert found.default_role is found.admin_attribute is found.admin_group_id is None


def test_edits_are_audited_with_the_admin_as_actor(console: Console, scim: ScimClient) -> None:
    scim.create_group("Engineering")
    cursor = head(scim)
    edit(console, scim, "map", app_group="developers", idp_group="Engineering")
    edit(console, scim, "mode", mode="multi")
    logged = changes_since(scim, cursor)
    assert [c["type"] for c in logged] == ["access.rules_changed"] * 2
    assert {c["actor"] for c in logged} == {f"console:{console.name}"}
    assert logged[0]["rules"]["after"]["mappings"][0]["appGroup"] == "developers"
    assert logged[1]["rules"]["after"]["mode"] == "multi"


def test_refusals_are_shown_in_words(console: Console, scim: ScimClient, app: Flask) -> None:
    scim.create_group("Twins")
    scim.create_group("Twins")
    message = refused(console, scim, "map", app_group="x", idp_group="Nobody")
    assert message == "No IdP group has the id, externalId or displayName 'Nobody'."
    assert (
        refused(console, scim, "map", app_group="x", idp_group="Twins")
        == "2 IdP groups are named 'Twins'; give its id."
    )
    assert "whole number" in refused(
        console, scim, "map", app_group="x", idp_group="Twins", priority="first"
    )
    assert "1 to 100 characters" in refused(console, scim, "map", app_group=" ", idp_group="a")
    assert refused(console, scim, "unmap", app_group="ghost") == "No app group 'ghost' is mapped."
    assert "not 'both'" in refused(console, scim, "mode", mode="both")
    assert "1 to 100 characters" in refused(console, scim, "default-role", role="r" * 101)
    assert "no boolean attribute" in refused(console, scim, "admin", attribute="userName")
    assert "No IdP group" in refused(console, scim, "admin", idp_group="Nobody")
    form = console.post(f"{base(scim)}/map", {"app_group": "keep-me", "idp_group": "Nobody"})
    assert 'value="keep-me"' in html_of(form)  # what was typed stays in the form
    assert rules(app, scim).mappings == []


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("token", [None, "", "forged"])
def test_every_form_refuses_a_missing_or_forged_csrf_token(
    console: Console, scim: ScimClient, app: Flask, form: str, token: str | None
) -> None:
    scim.create_group("Engineering")
    data = {"app_group": "x", "idp_group": "Engineering", "mode": "multi", "role": "r"}
    if token is not None:
        data["csrf_token"] = token
    response = console.client.post(f"{base(scim)}/{form}", data=data)
    assert response.status_code == 403 and 'role="alert"' in response.get_data(as_text=True)
    found = rules(app, scim)
    assert (found.mappings, found.mode, found.default_role) == ([], "single", None)


def test_every_form_carries_the_session_csrf_token(console: Console, scim: ScimClient) -> None:
    scim.create_group("Engineering")
    edit(console, scim, "map", app_group="developers", idp_group="Engineering")
    body = console.get(base(scim)).get_data(as_text=True)
    forms = re.findall(r'<form\b[^>]*method="post"[^>]*>(.*?)</form>', body, re.S)
    assert len(forms) == 6  # sign-out, remove, map, mode, default role, isAdmin
    for found in forms:
        assert re.findall(r'name="csrf_token" value="([^"]*)"', found) == [console.csrf]


def test_an_admin_held_to_some_tenants_is_refused_the_others(app: Flask, scim: ScimClient) -> None:
    scim.create_group("Engineering")
    mine = make_client(app)
    browser = Console(app, make_admin(app, [mine.tenant]).name)
    assert browser.sign_in().status_code == 303
    assert browser.get(base(mine)).status_code == 200
    other = browser.get(base(scim))
    assert other.status_code == 404 and scim.tenant not in other.get_data(as_text=True)
    data = {"app_group": "evil", "idp_group": "Engineering", "mode": "multi", "role": "r"}
    for form in FORMS:
        assert browser.post(f"{base(scim)}/{form}", data).status_code == 404, form
    found = rules(app, scim)
    assert (found.mappings, found.mode, found.default_role) == ([], "single", None)
