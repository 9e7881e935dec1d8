"""Issue #14's acceptance, in headless Chromium against ``scimserver serve``: an admin
signs in, creates a connection and a token, copies it, and follows what the IdP does with
it through the Users, Activity and history pages until the token is revoked.

Every page visited is checked (title, one h1, labelled inputs), screenshotted into
``test-artifacts/screenshots/``, and must log no console error (see ``tab.py``).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.console import Console
from tests.browser.scim import Idp
from tests.browser.steps import (
    copy_text,
    create_connection,
    create_token,
    eventually,
    find_user,
    path_of,
    redirect_status,
    revoke_token,
    sign_in,
    submit,
)
from tests.browser.tab import Tab
from tests.live import free_port

pytestmark = pytest.mark.slow

CONNECTION = "acme"
USER_NAME = "bjensen@example.com"


def test_acceptance_flow(
    tab: Tab, context: BrowserContext, console: Console, idp_clients: Callable[[str], Idp]
) -> None:
    page = tab.page
    # Signed out, the console sends us to the sign-in page.
    sent = tab.visit("/admin/", "signed-out")
    assert path_of(page) == "/admin/login" and redirect_status(sent) in {302, 303}
    sign_in(tab, console)
    assert tab.h1() == "Connections"

    # A new connection, from the home page's form, shows the SCIM base URL.
    create_connection(tab, CONNECTION)
    assert page.locator("code[data-scim-url]").first.inner_text().strip() == (
        console.server.scim_url
    )

    # A token from its Tokens page, copied with its button, is what the IdP uses.
    secret = create_token(tab, CONNECTION, "okta")
    assert copy_text(tab, context, console.url, secret) == secret
    idp = idp_clients(secret)
    created = idp.create_user(USER_NAME, name={"givenName": "Barbara", "familyName": "Jensen"})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    user_path = f"/admin/connections/{CONNECTION}/users/{user_id}"

    # The user shows up in a search, and has a page of its own.
    find_user(tab, CONNECTION, "bjensen", user_id)
    assert tab.h1() == USER_NAME

    # The IdP pushes the same user again: a 409 the admin should see explained.
    duplicate = idp.create_user(USER_NAME)
    assert duplicate.status_code == 409, duplicate.text

    # The POST is on the Activity page: 201, by the token, linking the user.
    activity = f"/admin/connections/{CONNECTION}/activity"
    refused = page.locator("tr").filter(has_text="uniqueness")  # the 409's scimType

    def both_listed() -> bool:
        response = page.goto(activity)  # each worker records in batches, about every second
        assert response is not None and response.status == 200, activity
        row = page.locator("tr", has=page.locator(f'a[href$="{user_path}"]')).filter(
            has_text="POST"
        )
        created = row.count() > 0 and "201" in row.first.inner_text()
        return created and refused.count() == 1

    assert eventually(both_listed), "the SCIM POSTs (201, 409) are not on the Activity page"
    tab.landed("activity")
    assert tab.h1() == "Activity"
    the_post = page.locator("tr", has=page.locator(f'a[href$="{user_path}"]'))
    assert "okta" in the_post.first.inner_text() and "/scim/v2/Users" in the_post.first.inner_text()

    # Its filters: 4xx shows the 409 with its SCIM error, not the 201; by user shows the 201.
    page.get_by_label("Status").select_option("4xx")
    submit(tab, page.get_by_role("button", name="Filter").click, "activity-4xx")
    assert the_post.count() == 0
    assert refused.count() == 1 and "409" in refused.inner_text(), page.inner_text("main")
    tab.visit(activity, "activity-all")
    page.get_by_label("User").fill(USER_NAME)
    submit(tab, page.get_by_role("button", name="Filter").click, "activity-user")
    assert the_post.count() == 1

    # A deactivation over SCIM is in the user's history.
    patched = idp.deactivate(user_id)
    assert patched.status_code in {200, 204}, patched.text
    tab.visit(user_path, "user-deactivated")
    history = history_text(page)
    assert re.search(r"deactivat", history, re.IGNORECASE), history
    change = page.locator("tr").filter(has_text=re.compile("deactivat", re.IGNORECASE))
    assert change.count() == 1 and "okta" in change.inner_text(), history  # who did it

    # Revoking the token in the browser locks the IdP out.
    revoke_token(tab, CONNECTION, "okta")
    assert idp.list_users().status_code == 401

    # Sign out, and the console is closed again.
    out = submit(tab, page.get_by_role("button", name="Sign out").click, "signed-out-again")
    assert path_of(page) == "/admin/login" and redirect_status(out) == 303
    tab.visit("/admin/", "after-sign-out")
    assert path_of(page) == "/admin/login"


def history_text(page: Page) -> str:
    """The text of the user page from its History heading on."""
    text: str = page.evaluate(
        """() => {
          const heading = [...document.querySelectorAll("h2")]
            .find((h) => h.textContent.trim() === "History");
          if (!heading) return "";
          const range = document.createRange();
          range.setStartBefore(heading);
          range.setEndAfter(document.body.lastChild);
          return range.toString();
        }"""
    )
    assert text, "the user page has no <h2>History</h2>"
    return text


def test_home_shows_each_connection_scim_base_url(
    tab: Tab, context: BrowserContext, console: Console
) -> None:
    sign_in(tab, console)
    urls = tab.page.locator("code[data-scim-url]")
    assert urls.count() >= 1
    assert {urls.nth(n).inner_text().strip() for n in range(urls.count())} == {
        console.server.scim_url
    }
    copy = tab.page.locator(f'button[data-copy="{console.server.scim_url}"]')
    assert copy.count() == urls.count()
    assert copy.first.inner_text().strip() == "Copy"
    assert copy_text(tab, context, console.url, console.server.scim_url) == console.server.scim_url


def test_a_wrong_password_shows_the_alert(tab: Tab, console: Console) -> None:
    tab.allowed.add("status of 401")  # Chromium logs the 401 answer the contract asks for
    tab.visit("/admin/login", "login")
    tab.page.fill("#username", console.admin)
    tab.page.fill("#password", "not the password at all")
    with tab.page.expect_response(lambda r: r.request.method == "POST") as answered:
        tab.page.get_by_role("button", name="Sign in").click()
    assert answered.value.status == 401
    tab.landed("wrong-password")
    assert path_of(tab.page) == "/admin/login"
    alert = tab.page.get_by_role("alert")
    assert alert.inner_text().strip() == "Wrong username or password."


FOCUS_RING = """() => {
  const style = getComputedStyle(document.activeElement);
  return style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 1;
}"""


def test_keyboard_only_sign_in(tab: Tab, console: Console) -> None:
    tab.visit("/admin/login", "login")
    page = tab.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    assert page.evaluate(FOCUS_RING), "the focused skip link shows no focus ring"
    for _ in range(10):  # past whatever precedes the form
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "username":
            break
    else:
        pytest.fail("Tab never reached the username field")
    assert page.evaluate(FOCUS_RING), "the focused username field shows no focus ring"
    page.keyboard.type(console.admin)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(console.password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert path_of(page) == "/admin/"
    tab.landed("home")


def test_a_big_group_renders_its_first_page_of_members(
    tab: Tab, console: Console, idp_clients: Callable[[str], Idp]
) -> None:
    assert console.server.token is not None
    idp = idp_clients(console.server.token)  # the token the server printed: tenant "default"
    started = time.monotonic()
    members = idp.bulk_users([f"member-{n}@example.com" for n in range(1000)])  # one Bulk
    group = idp.create_group("Everyone", members)
    assert group.status_code == 201, group.text[:300]
    seeded = time.monotonic() - started
    sign_in(tab, console)
    tab.visit("/admin/connections/default/groups", "groups")
    group_path = f"/admin/connections/default/groups/{group.json()['id']}"
    started = time.monotonic()
    submit(tab, tab.page.locator(f'a[href$="{group_path}"]').first.click, "big-group")
    rendered = time.monotonic() - started
    assert tab.h1() == "Everyone"
    first = member_links(tab.page)
    assert 1 <= len(first) <= 200, f"{len(first)} member links on the first page of 1,000"
    assert first <= {f"/admin/connections/default/users/{m}" for m in members}
    submit(tab, tab.page.locator('a[rel~="next"]').first.click, "big-group-page-2")
    second = member_links(tab.page)
    assert second and not first & second, "the next page repeats the first page's members"
    print(f"seeded 1,000 members in {seeded:.1f} s; first page rendered in {rendered:.2f} s")


def member_links(page: Page) -> set[str]:
    links = page.locator('a[href*="/admin/connections/default/users/"]')
    return {str(links.nth(n).get_attribute("href")) for n in range(links.count())}


def test_a_failing_webhook_parks_a_dead_letter_that_redeliver_queues(
    tab: Tab, console: Console, idp_clients: Callable[[str], Idp]
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hook"
    assert console.server.token is not None
    idp = idp_clients(console.server.token)
    with console.worker(WORKER_ENV):  # started first: its start-up overlaps the steps below
        added = console.cli(
            "webhook",
            "add",
            closed,
            "--tenant",
            "default",
            "--insecure-http",  # a loopback test receiver: both allowances, said out loud
            "--allow-private-network",
            env={"SCIMSERVER_WEBHOOK_MAX_ATTEMPTS": "1"},
        )
        match = re.search(r"Webhook (\S+) for tenant", added.stdout)
        assert match, added.stdout
        subscription = match.group(1)
        assert idp.create_user("parked@example.com").status_code == 201
        sign_in(tab, console)
        assert eventually(lambda: dead_letters(console, subscription) != [], 20.0), (
            "the worker parked nothing"
        )
    assert dead_letters(console, subscription) == [False]  # parked, not yet queued again
    hooks = "/admin/connections/default/webhooks"
    tab.visit(hooks, "webhooks-dead-letter")
    assert closed in tab.page.inner_text("main")
    redeliver = tab.page.locator(f'form[action="{hooks}/{subscription}/redeliver"]')
    submit(tab, redeliver.get_by_role("button", name="Redeliver").click, "webhooks-redelivered")
    assert dead_letters(console, subscription) == [True]


WORKER_ENV = {
    "SCIMSERVER_WORKER_POLL_MS": "50",
    "SCIMSERVER_WEBHOOK_TIMEOUT_MS": "1000",
    "SCIMSERVER_WEBHOOK_LEASE_SECONDS": "2",
}


def dead_letters(console: Console, subscription: str) -> list[bool]:
    """The ``queued`` flag of each of the subscription's dead letters, read from the database."""
    with sqlite3.connect(console.sqlite_path) as db:
        rows = db.execute(
            "SELECT queued FROM webhook_dead_letters WHERE subscription_id = ? ORDER BY id",
            (subscription,),
        ).fetchall()
    return [bool(queued) for (queued,) in rows]


def test_errors_are_pages_in_words(tab: Tab, console: Console) -> None:
    tab.allowed.update({"status of 404", "status of 400"})  # Chromium logs these answers
    sign_in(tab, console)
    missing = tab.visit("/admin/connections/no-such-connection", "unknown-connection")
    assert missing.status == 404
    assert "text/html" in missing.headers["content-type"]
    assert "Traceback" not in tab.page.content()
    tab.visit("/admin/connections/default/users", "users")
    scim_filter = tab.page.get_by_label("SCIM filter")
    scim_filter.fill('userName eq "unterminated')
    refused = submit(tab, lambda: scim_filter.press("Enter"), "users-bad-filter")
    assert refused.status == 400
    said = tab.page.get_by_role("alert").inner_text()
    assert said.strip() and "Traceback" not in tab.page.content(), said
