"""Issue #31 item 5 in headless Chromium: an admin maps an app group to an IdP group,
switches the mode and removes the mapping on a connection's Access page with the keyboard
alone (Tab, Enter, typing — no click), at 1280 and 390 px; the page is never wider than
the viewport and the mappings table scrolls in its own box."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from tests.browser.console import Console
from tests.browser.scim import Idp
from tests.browser.steps import path_of
from tests.browser.tab import Tab
from tests.browser.test_console_phone import OUTSIDE

pytestmark = pytest.mark.slow

APP_GROUP = "platform-engineering-administrators-europe"
IDP_GROUP = "Engineering platform reliability on-call rotation"
TABS = 80
"""More Tab presses than any console page has focusable elements."""


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until the focused element matches ``selector``."""
    for _ in range(TABS):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def press_enter(tab: Tab, step: str) -> int:
    """Enter on the focused element, which submits or follows; the new page's status."""
    with tab.page.expect_navigation() as navigation:
        tab.page.keyboard.press("Enter")
    tab.landed(step)
    response = navigation.value
    assert response is not None, step
    return response.status


def sign_in_by_keyboard(tab: Tab, console: Console) -> None:
    tab.visit("/admin/login", "login")
    tab_to(tab.page, "#username")
    tab.page.keyboard.type(console.admin)
    tab_to(tab.page, "#password")
    tab.page.keyboard.type(console.password)
    press_enter(tab, "home")
    assert path_of(tab.page) == "/admin/"


def fits(tab: Tab, width: int) -> None:
    """Nothing wider than the viewport; the table's box, not the page, scrolls."""
    page = tab.page
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"the access page is {wide} px wide at {width} px"
    assert page.evaluate(OUTSIDE) == [], f"at {width} px"
    box = page.locator(".table-scroll").first
    assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"
    assert box.evaluate("b => b.getBoundingClientRect().right") <= width
    if width < 500:
        assert box.evaluate("b => b.scrollWidth > b.clientWidth")  # scrolls in its box


@pytest.mark.parametrize("width", [1280, 390])
def test_map_switch_mode_and_unmap_with_the_keyboard(
    tab: Tab, console: Console, idp_clients: Callable[[str], Idp], width: int
) -> None:
    connection = f"access-{width}"
    made = console.cli(
        "token", "create", "--name", "okta", "--tenant", connection, "--create-tenant"
    )
    secret = next(w for w in made.stdout.split() if w.startswith("scim_"))
    idp = idp_clients(secret)
    user = idp.create_user("ann.lee@example.com").json()
    group = idp.create_group(IDP_GROUP, [user["id"]]).json()
    page = tab.page
    page.set_viewport_size({"width": width, "height": 844})
    sign_in_by_keyboard(tab, console)
    tab.visit(f"/admin/connections/{connection}", "connection")
    access = f"/admin/connections/{connection}/access"
    tab_to(page, f'nav a[href="{access}"]')
    press_enter(tab, "access")
    assert path_of(page) == access and tab.h1() == "Access"
    assert "No app group is mapped yet." in page.inner_text("main")

    tab_to(page, "#app-group")
    page.keyboard.type(APP_GROUP)
    tab_to(page, "#idp-group")
    page.keyboard.type(IDP_GROUP)
    assert press_enter(tab, "mapped") == 200
    notice = page.locator("[data-notice]").inner_text()
    assert notice == f"“{APP_GROUP}” is fed from IdP group {group['id']} (priority 1)."
    row = page.locator(f'tr[data-app-group="{APP_GROUP}"]')
    assert IDP_GROUP in row.inner_text() and group["id"] in row.inner_text()
    fits(tab, width)

    tab_to(page, "#mode")
    page.keyboard.type("multi")  # a select's type-ahead
    assert page.locator("#mode").input_value() == "multi"
    tab_to(page, 'form[action$="/access/mode"] button')
    assert press_enter(tab, "mode") == 200
    assert page.locator("[data-notice]").inner_text() == "Mode: multi."
    assert page.locator("#mode").input_value() == "multi"
    listed = console.cli("access", "list", "--json", "--tenant", connection).stdout
    assert '"mode": "multi"' in listed and APP_GROUP in listed

    tab_to(page, f'button[aria-label="Remove {APP_GROUP}"]')
    assert press_enter(tab, "unmapped") == 200
    assert page.locator("[data-notice]").inner_text() == f"“{APP_GROUP}” is no longer mapped."
    assert "No app group is mapped yet." in page.inner_text("main")
    assert page.locator("tr[data-app-group]").count() == 0
