"""The console on a 390 px phone and a 1280 px laptop: no page is wider than the
viewport (tables scroll in their own box, the header and navigation wrap, long values
break), and a token pasted wrongly shows on the home page as the prefix it tried."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.browser.console import Console
from tests.browser.scim import Idp
from tests.browser.steps import create_connection, create_token, eventually, sign_in
from tests.browser.tab import Tab

pytestmark = pytest.mark.slow

CONNECTION = "northwind-traders-europe-production"
WRONG = "scim_0123456789ab_ThisPartIsTheSecret"
WIDTHS = (390, 1280)
OUTSIDE = """() => [...document.querySelectorAll('body *')]
  .filter(e => !e.closest('.table-scroll') && e.getClientRects().length)
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))"""
"""Elements reaching past the viewport's right edge, outside a table's scroll box."""


def test_every_page_fits_a_phone_and_a_laptop(
    tab: Tab, console: Console, idp_clients: Callable[[str], Idp]
) -> None:
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 844})
    tab.visit("/admin/login", "phone-login")
    sign_in(tab, console)
    create_connection(tab, CONNECTION)
    secret = create_token(tab, CONNECTION, "okta-provisioning-connector")
    idp = idp_clients(secret)
    long_name = "maximilian.alexander.featherstonehaugh-worthington@subsidiary.example.com"
    user = idp.create_user(long_name, favouriteColour="blue").json()
    group = idp.create_group("Engineering platform reliability on-call rotation", [user["id"]])
    console.cli(
        "webhook",
        "add",
        "https://hooks.example.com/scim/events/receiver-for-northwind",
        "--tenant",
        CONNECTION,
    )
    refused = httpx.get(
        console.server.scim_url + "/Users",
        headers={"Authorization": f"Bearer {WRONG}", "User-Agent": "Okta SCIM Client 1.0.0"},
    )
    assert refused.status_code == 401
    base = f"/admin/connections/{CONNECTION}"
    pages = {
        "home": "/admin/",
        "connection": base,
        "tokens": f"{base}/tokens",
        "users": f"{base}/users",
        "user": f"{base}/users/{user['id']}",
        "groups": f"{base}/groups",
        "group": f"{base}/groups/{group.json()['id']}",
        "activity": f"{base}/activity",
        "webhooks": f"{base}/webhooks",
    }
    # The recorder writes a second or so after the request.
    assert eventually(lambda: "0123456789ab" in page.goto("/admin/").text())
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844})
        for step, path in pages.items():
            tab.visit(path, f"{width}-{step}")
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{path} is {wide} px wide at {width} px"
            assert page.evaluate(OUTSIDE) == [], f"{path} at {width} px"
    page.set_viewport_size({"width": 390, "height": 844})
    tab.visit(pages["activity"], "390-activity-scrolled")
    box = page.locator(".table-scroll").first
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")  # the table scrolls, not the page
    ignored = page.locator("[data-ignored]").first.inner_text()
    assert "favouriteColour" in ignored
    tab.visit("/admin/", "390-refused")
    row = page.locator('tr[data-refused="0123456789ab"]').first
    text = row.inner_text()
    assert "0123456789ab" in text and "Okta SCIM Client 1.0.0" in text and "127.0.0.1" in text
    assert "ThisPartIsTheSecret" not in page.content()
