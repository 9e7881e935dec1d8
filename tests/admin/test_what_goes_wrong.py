"""What the console shows of requests that go wrong: 401s (to admins of every connection
only, with the token prefix tried and never more), attributes no schema declares, one
time format, idle webhooks without a next attempt, one rotation overlap."""

from __future__ import annotations

import re

from click.testing import CliRunner
from flask import Flask

from scimserver.api.context import ACTIVITY
from scimserver.cli import main
from scimserver.scim.targets import Reach
from scimserver.service.tokens import DEFAULT_OVERLAP
from tests.admin.conftest import PASSWORD, Console, html_of, make_admin
from tests.conftest import ScimClient, make_client

WRONG = "scim_0123456789ab_ThisPartIsTheSecretAndIsNeverShown"
TIME = re.compile(r"<time datetime=\"[^\"]+\">([^<]*)</time>")


def flushed(app: Flask) -> None:
    app.extensions[ACTIVITY].flush()


def refused_section(html: str) -> str:
    return html.split('id="refused-heading"')[1].split("</table>", maxsplit=1)[0]


def test_a_wrongly_pasted_token_shows_its_prefix_to_an_admin_of_every_connection(
    console: Console, scim: ScimClient, app: Flask
) -> None:
    okta = {"User-Agent": "Okta SCIM Client 1.0.0", "Authorization": f"Bearer {WRONG}"}
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    assert client.get("/scim/v2/Users", headers=okta).status_code == 401
    assert (
        client.get("/api/v1/changes", headers={"Authorization": "Basic b3BzOnB3"}).status_code
        == 401
    )
    real_prefix = scim.token.split("_")[1]
    stale = {"Authorization": f"Bearer scim_{real_prefix}_not-its-secret"}
    assert client.get("/scim/v2/Groups", headers=stale).status_code == 401
    flushed(app)
    section = refused_section(html_of(console.get("/admin/")))
    rows = section.split("<tr data-refused=")[1:]
    assert len(rows) >= 3
    newest, basic, wrong = rows[:3]
    assert "<code>0123456789ab</code>" in wrong and "203.0.113.7" in wrong
    assert "Okta SCIM Client 1.0.0" in wrong and "GET <code>/scim/v2/Users</code>" in wrong
    assert "unknown, expired or revoked" in wrong
    assert "none" in basic and "/api/v1/changes" in basic
    assert (
        f"<code>{real_prefix}</code>" in newest
        and f'of <a href="/admin/connections/{scim.tenant}/tokens">' in newest
    )
    page = console.get("/admin/").get_data(as_text=True)
    assert "ThisPartIsTheSecret" not in page and "not-its-secret" not in page
    assert "b3BzOnB3" not in page


def test_an_admin_held_to_some_connections_sees_no_refused_requests(
    scim: ScimClient, app: Flask
) -> None:
    held = Console(app, make_admin(app, [scim.tenant]).name, PASSWORD)
    assert held.sign_in().status_code == 303
    assert (
        app.test_client()
        .get("/scim/v2/Users", headers={"Authorization": f"Bearer {WRONG}"})
        .status_code
        == 401
    )
    flushed(app)
    html = held.get("/admin/").get_data(as_text=True)
    assert "Refused requests" not in html and "0123456789ab" not in html


def test_attributes_no_schema_declares_show_on_their_request(
    console: Console, scim: ScimClient, app: Flask
) -> None:
    created = scim.post(
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "mapped-to-nowhere",
            "favouriteColour": "blue",
            "costCentre": "42",
        },
    )
    assert created.status_code == 201 and "favouriteColour" not in created.get_json()
    flushed(app)
    html = console.get(f"/admin/connections/{scim.tenant}/activity").get_data(as_text=True)
    row = html.split('data-status="201"')[1].split("</tr>")[0]
    ignored = row.split("data-ignored>")[1].split("</span>")[0]
    assert "<code>favouriteColour</code>" in ignored and "<code>costCentre</code>" in ignored


def test_every_time_on_the_console_is_written_one_way(console: Console, scim: ScimClient) -> None:
    user = scim.create_user("timely")
    base = f"/admin/connections/{scim.tenant}"
    make_client(console.app, tenant=scim.tenant).get("/Users")
    flushed(console.app)
    issued = console.post(f"{base}/tokens", {"name": "rotated", "scope": "read"})
    assert issued.status_code == 200
    console.post(f"{base}/tokens/rotated/rotate", {"overlap": "2h"})
    for path in (
        "/admin/",
        base,
        f"{base}/tokens",
        f"{base}/users/{user['id']}",
        f"{base}/activity",
    ):
        html = console.get(path).get_data(as_text=True)
        shown = TIME.findall(html)
        assert shown, path
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", t) for t in shown), shown
        visible = re.sub(r"<[^>]+>", " ", html)
        assert not re.search(r"\d\dT\d\d:\d\d", visible), path  # no raw xsd:dateTime
    tokens = console.get(f"{base}/tokens").get_data(as_text=True)
    assert re.search(r"rotating \(old secret until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", tokens)


def test_an_idle_subscription_shows_no_next_attempt(
    console: Console, scim: ScimClient, app: Flask
) -> None:
    server = app.extensions["scimserver"]
    tenant_id = server.tenants().find(scim.tenant)
    hooks = server.webhooks()
    local = Reach(insecure_http=True, private_network=True)
    info, _ = hooks.add("http://127.0.0.1:9/hook", tenant_id, "json", None, False, local)
    try:
        page = console.get(f"/admin/connections/{scim.tenant}/webhooks").get_data(as_text=True)
        row = page.split(f'data-subscription="{info.id}"')[1].split("</tr>")[0]
        assert "(0 behind)" in row
        assert "<td data-next-attempt>—</td>" in row
        scim.create_user()  # now a change waits for it: the worker's next attempt is shown
        page = console.get(f"/admin/connections/{scim.tenant}/webhooks").get_data(as_text=True)
        row = page.split(f'data-subscription="{info.id}"')[1].split("</tr>")[0]
        assert "(1 behind)" in row and re.search(r"data-next-attempt><time", row)
    finally:
        hooks.remove(info.id)


def test_console_and_cli_rotate_with_the_same_default_overlap(
    console: Console, scim: ScimClient
) -> None:
    html = console.get(f"/admin/connections/{scim.tenant}/tokens").get_data(as_text=True)
    assert f'name="overlap" type="text" value="{DEFAULT_OVERLAP}"' in html
    help_text = CliRunner().invoke(main, ["token", "rotate", "--help"]).output
    assert f"[default: {DEFAULT_OVERLAP}]" in help_text and DEFAULT_OVERLAP == "7d"
