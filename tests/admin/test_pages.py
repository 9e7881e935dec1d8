"""Console pages: connections, tokens (secret once), users and groups, webhooks."""

from __future__ import annotations

import re
import uuid

from flask import Flask
from sqlalchemy import select

from scimserver.api.context import ACTIVITY
from scimserver.scim.targets import Reach
from scimserver.scim.versions import now
from scimserver.store.models import DeadLetter, Subscription
from tests.admin.conftest import Console, h1, html_of, title, unique
from tests.conftest import ScimClient, make_client, statements_run

SCIM_URL = "https://scim.test/scim/v2"
_SECRET = re.compile(r'<code id="token-secret">([^<]+)</code>')
WARNING = "Copy this token now: it will not be shown again."


def new_connection(console: Console) -> str:
    name = unique("conn")
    response = console.post("/admin/connections", {"name": name})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/connections/{name}"
    return name


def issue(console: Console, connection: str, token: str = "okta", **form: str) -> str:
    response = console.post(
        f"/admin/connections/{connection}/tokens", {"name": token, "scope": "write", **form}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    found = _SECRET.search(html)
    assert found and WARNING in html
    secret = found.group(1)
    assert f'<button type="button" class="copy" data-copy="{secret}">Copy</button>' in html
    return secret


def scim_status(app: Flask, secret: str) -> int:
    headers = {"Authorization": f"Bearer {secret}"}
    return app.test_client().get("/scim/v2/Users", headers=headers).status_code


def test_connections_list_shows_each_scim_base_url_with_a_copy_button(console: Console) -> None:
    name = new_connection(console)
    page = console.get("/admin/")
    html = html_of(page)
    assert h1(page) == ["Connections"] and title(page).startswith("Connections")
    assert f'<a href="/admin/connections/{name}">{name}</a>' in html
    assert f"<code data-scim-url>{SCIM_URL}</code>" in html
    assert f'<button type="button" class="copy" data-copy="{SCIM_URL}">Copy</button>' in html
    assert 'action="/admin/connections"' in html and ">Connection name</label>" in html
    assert '<button type="submit">Create connection</button>' in html
    duplicate = console.post("/admin/connections", {"name": name})
    assert duplicate.status_code == 400 and "already exists" in duplicate.get_data(as_text=True)
    slash = console.post("/admin/connections", {"name": "a/b"})
    assert slash.status_code == 400 and "cannot contain" in slash.get_data(as_text=True)
    empty = console.post("/admin/connections", {"name": "  "})
    assert empty.status_code == 400 and 'role="alert"' in empty.get_data(as_text=True)


def test_connection_page_links_its_sections(console: Console) -> None:
    name = new_connection(console)
    page = console.get(f"/admin/connections/{name}")
    html = html_of(page)
    assert page.status_code == 200 and h1(page) == [name]
    assert f"<code data-scim-url>{SCIM_URL}</code>" in html
    for section in ("tokens", "users", "groups", "activity", "webhooks", "access"):
        assert f'href="/admin/connections/{name}/{section}"' in html
    assert console.get("/admin/connections/no-such-connection").status_code == 404


def test_token_secret_is_shown_once_and_works(console: Console, app: Flask) -> None:
    name = new_connection(console)
    secret = issue(console, name)
    assert scim_status(app, secret) == 200
    listing = console.get(f"/admin/connections/{name}/tokens")
    html = listing.get_data(as_text=True)
    assert h1(listing) == ["Tokens"]
    assert secret not in html and WARNING not in html
    assert secret.split("_")[1] in html  # the prefix
    assert "data-status>active<" in html
    clash = console.post(f"/admin/connections/{name}/tokens", {"name": "okta", "scope": "write"})
    assert clash.status_code == 400 and "already has a token" in clash.get_data(as_text=True)
    bad = console.post(
        f"/admin/connections/{name}/tokens", {"name": "x", "scope": "write", "expires": "soon"}
    )
    assert bad.status_code == 400 and "Not a duration" in bad.get_data(as_text=True)


def test_revoke_stops_the_token(console: Console, app: Flask) -> None:
    name = new_connection(console)
    secret = issue(console, name, "entra", expires="90d")
    response = console.post(f"/admin/connections/{name}/tokens/entra/revoke")
    assert response.status_code == 303
    assert scim_status(app, secret) == 401
    assert "data-status>revoked<" in console.get(f"/admin/connections/{name}/tokens").get_data(
        as_text=True
    )


def test_rotate_keeps_the_old_secret_for_the_overlap(console: Console, app: Flask) -> None:
    name = new_connection(console)
    old = issue(console, name, "onelogin")
    rotated = console.post(f"/admin/connections/{name}/tokens/onelogin/rotate", {"overlap": "24h"})
    assert rotated.status_code == 200
    new = _SECRET.search(rotated.get_data(as_text=True))
    assert new and new.group(1) != old
    assert scim_status(app, old) == 200 and scim_status(app, new.group(1)) == 200
    assert "rotating" in console.get(f"/admin/connections/{name}/tokens").get_data(as_text=True)
    console.post(f"/admin/connections/{name}/tokens/onelogin/rotate", {"overlap": "0"})
    assert scim_status(app, old) == 401 and scim_status(app, new.group(1)) == 401
    bad = console.post(f"/admin/connections/{name}/tokens/onelogin/rotate", {"overlap": "x"})
    assert bad.status_code == 400
    missing = console.post(f"/admin/connections/{name}/tokens/nope/rotate", {"overlap": "1h"})
    assert missing.status_code == 404


def test_a_token_prefix_never_reaches_another_connections_token(
    console: Console, app: Flask
) -> None:
    other = make_client(app)
    prefix = other.token.split("_")[1]
    name = new_connection(console)
    response = console.post(f"/admin/connections/{name}/tokens/{prefix}/revoke")
    assert response.status_code == 404
    assert scim_status(app, other.token) == 200


def at(scim: ScimClient) -> str:
    """The console URL of the ``scim`` client's connection."""
    return f"/admin/connections/{scim.tenant}"


def test_users_search_filter_and_paging(console: Console, scim: ScimClient) -> None:
    base = at(scim)
    scim.create_user("bjensen", emails=[{"value": "barbara@example.com"}])
    scim.create_user('o"brien', displayName="Quote Person")
    for n in range(26):
        scim.create_user(f"filler{n:02d}")
    page = console.get(f"{base}/users")
    html = page.get_data(as_text=True)
    assert h1(page) == ["Users"] and ">Search</label>" in html and ">SCIM filter</label>" in html
    assert "28 found." in html and 'rel="next"' in html and 'rel="prev"' not in html
    second = console.get(f"{base}/users?page=2").get_data(as_text=True)
    assert 'rel="prev"' in second and 'rel="next"' not in second
    by_email = console.get(f"{base}/users?q=BARBARA@").get_data(as_text=True)
    assert "1 found." in by_email and ">bjensen</a>" in by_email
    quoted = console.get(f"{base}/users", query_string={"q": 'o"bri'})
    assert quoted.status_code == 200 and "1 found." in quoted.get_data(as_text=True)
    injected = console.get(f"{base}/users", query_string={"q": '" or userName pr or "'})
    assert "0 found." in injected.get_data(as_text=True)
    filtered = console.get(f"{base}/users", query_string={"filter": 'userName sw "filler0"'})
    assert "10 found." in filtered.get_data(as_text=True)
    both = console.get(f"{base}/users", query_string={"filter": "userName pr", "q": "jens"})
    assert "1 found." in both.get_data(as_text=True)
    bad = console.get(f"{base}/users", query_string={"filter": "nosuch eq 1"})
    assert bad.status_code == 400 and bad.mimetype == "text/html"
    assert 'role="alert"' in bad.get_data(as_text=True)
    assert console.get(f"{base}/users?page=x").status_code == 200


def test_user_page_shows_attributes_groups_and_history(console: Console, scim: ScimClient) -> None:
    user = scim.create_user("dana", displayName="Dana Scully")
    group = scim.create_group("agents", members=[user["id"]])
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert scim.patch(f"/Users/{user['id']}", patch).status_code == 200
    page = console.get(f"{at(scim)}/users/{user['id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and h1(page) == ["dana"]
    assert "Dana Scully" in html and "Deactivated" in html
    assert f'/groups/{group["id"]}">agents</a>' in html
    assert "<h2>History</h2>" in html
    history = html.split("<h2>History</h2>")[1]
    assert history.index("deactivated (active → false)") < history.index("created")
    assert "membership: added to group agents" in history
    assert f"<td>{scim.name}</td>" in history
    missing = console.get(f"{at(scim)}/users/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.mimetype == "text/html"


def test_group_members_are_paged_without_reading_the_whole_group(
    console: Console, scim: ScimClient, app: Flask
) -> None:
    users = [scim.create_user(f"member{n:02d}")["id"] for n in range(55)]
    group = scim.create_group("big", members=users)
    path = f"{at(scim)}/groups/{group['id']}"
    responses = []
    statements = statements_run(app, lambda: responses.append(console.get(path)))
    html = responses[0].get_data(as_text=True)
    assert h1(responses[0]) == ["big"]
    assert html.count(f"{at(scim)}/users/") == 50
    assert 'rel="next"' in html
    assert any("LIMIT" in s.upper() and "memberships" in s for s in statements)
    assert not any("memberships" in s and "LIMIT" not in s.upper() for s in statements)
    last = console.get(f"{path}?page=2").get_data(as_text=True)
    assert last.count(f"{at(scim)}/users/") == 5 and 'rel="prev"' in last
    groups = console.get(f"{at(scim)}/groups?q=bi")
    assert h1(groups) == ["Groups"] and ">big</a>" in groups.get_data(as_text=True)


def test_webhooks_page_and_redelivery(console: Console, scim: ScimClient, app: Flask) -> None:
    server = app.extensions["scimserver"]
    tenant_id = server.tenants().find(scim.tenant)
    hooks = server.webhooks()
    local = Reach(insecure_http=True, private_network=True)  # a loopback test receiver
    info, _ = hooks.add("http://127.0.0.1:9/hook", tenant_id, "json", None, False, local)
    try:
        with server.db.write() as session:
            # A row from before credentials in URLs were refused: never shown with them.
            row = session.get(Subscription, info.id)
            assert row is not None
            row.url = "http://ops:hunter2@127.0.0.1:9/hook"
            session.add(
                DeadLetter(
                    subscription_id=info.id,
                    change_seq=1,
                    change_id=str(uuid.uuid4()),
                    parked_at=now(),
                    reason="HTTP 500 eight times",
                )
            )
        base = at(scim)
        page = console.get(f"{base}/webhooks")
        html = html_of(page)
        assert h1(page) == ["Webhooks"]
        assert "http://***@127.0.0.1:9/hook" in html and "HTTP 500 eight times" in html
        assert "hunter2" not in html and "ops:" not in html
        assert 'data-flags="insecure-http private-network"' in html
        assert "receives changes over plain http, in clear text" in html
        action = f'action="{base}/webhooks/{info.id}/redeliver"'
        assert action in html and '<button type="submit">Redeliver</button>' in html
        response = console.post(f"{base}/webhooks/{info.id}/redeliver")
        assert response.status_code == 303
        with server.db.read() as session:
            queued = session.scalar(
                select(DeadLetter.queued).where(DeadLetter.subscription_id == info.id)
            )
        assert queued is True
        assert console.post(f"{base}/webhooks/{uuid.uuid4()}/redeliver").status_code == 404
    finally:
        hooks.remove(info.id)


def flushed(app: Flask) -> None:
    """Write the recorded requests now (the recorder batches them off the request path)."""
    app.extensions[ACTIVITY].flush()


def test_activity_page_lists_requests_with_errors_and_filters(
    console: Console, scim: ScimClient, app: Flask
) -> None:
    okta = {"User-Agent": "Okta SCIM Client 1.0.0"}
    user = scim.create_user("mulder", headers=okta)
    assert scim.post("/Users", {"userName": "mulder"}, headers=okta).status_code == 409
    flushed(app)
    base = f"/admin/connections/{scim.tenant}"
    page = console.get(f"{base}/activity")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and h1(page) == ["Activity"]
    assert f'href="{base}/users/{user["id"]}"' in html
    assert "<code>uniqueness</code>" in html and 'data-status="409"' in html
    assert f"<td>{scim.name}</td>" in html
    errors = console.get(f"{base}/activity?status=errors").get_data(as_text=True)
    assert 'data-status="409"' in errors and 'data-status="201"' not in errors
    by_user = console.get(f"{base}/activity?user=MULDER").get_data(as_text=True)
    assert 'data-status="201"' in by_user
    bad = console.get(f"{base}/activity?status=teapot")
    assert bad.status_code == 400 and 'role="alert"' in bad.get_data(as_text=True)
    home = console.get("/admin/").get_data(as_text=True)
    row = home.split(f'data-connection="{scim.tenant}"')[1].split("</tr>")[0]
    assert "<td>2</td>" in row and "50.0 %" in row and "Okta" in row


def test_activity_pages_older_requests_by_id(
    console: Console, scim: ScimClient, app: Flask
) -> None:
    for _ in range(51):
        scim.get("/Users")
    flushed(app)
    base = f"/admin/connections/{scim.tenant}/activity"
    html = console.get(base).get_data(as_text=True)
    assert html.count("data-status=") == 50
    older = re.search(r'<a rel="next" href="\?([^"]+)">Older</a>', html)
    assert older
    rest = console.get(f"{base}?{older.group(1).replace('&amp;', '&')}").get_data(as_text=True)
    assert rest.count("data-status=") == 1


def test_every_page_has_a_title_one_h1_a_skip_link_and_labelled_inputs(
    console: Console, scim: ScimClient
) -> None:
    user = scim.create_user("labels")
    group = scim.create_group("labelled", members=[user["id"]])
    base = f"/admin/connections/{scim.tenant}"
    pages = ["/admin/", "/admin/login", base]
    pages += [f"{base}/{section}" for section in ("tokens", "users", "groups", "activity")]
    pages += [f"{base}/webhooks", f"{base}/users/{user['id']}", f"{base}/groups/{group['id']}"]
    for path in pages:
        response = console.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert title(response).endswith("scimserver console"), path
        assert len(h1(response)) == 1, path
        assert '<a class="skip-link" href="#main">' in html and 'id="main"' in html
        assert "<script>" not in html and "style=" not in html  # the CSP allows neither
        for field in re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html):
            assert f'<label for="{field}"' in html, (path, field)
        assert "<th>" not in html, path  # every header cell says its scope
