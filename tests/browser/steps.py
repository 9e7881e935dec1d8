"""What an admin does in the console, step by step; each step lands on (and so checks and
screenshots) the page it ends on."""

from __future__ import annotations

import time
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, Response

from scimserver.service.tokens import DEFAULT_OVERLAP
from tests.browser.console import Console
from tests.browser.tab import Tab

TOKEN_WARNING = "Copy this token now: it will not be shown again."


def path_of(page: Page) -> str:
    """The path of the page's URL, without its query."""
    return "/" + page.url.split("/", 3)[3].split("?", 1)[0]


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``check()`` became true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def redirect_status(response: Response) -> int | None:
    """The status of the answer that redirected to ``response``, if one did."""
    previous = response.request.redirected_from
    answer = previous.response() if previous is not None else None
    return answer.status if answer is not None else None


def submit(tab: Tab, click: Callable[[], None], step: str) -> Response:
    """Click something that submits a form or follows a link; land on the next page."""
    with tab.page.expect_navigation() as navigation:
        click()
    tab.landed(step)
    response = navigation.value
    assert response is not None, step
    return response


def sign_in(tab: Tab, console: Console) -> None:
    tab.visit("/admin/login", "login")
    tab.page.fill("#username", console.admin)
    tab.page.fill("#password", console.password)
    home = submit(tab, tab.page.get_by_role("button", name="Sign in").click, "home")
    assert path_of(tab.page) == "/admin/" and redirect_status(home) == 303
    assert f"Signed in as {console.admin}" in tab.page.locator("header").first.inner_text()


def create_connection(tab: Tab, name: str) -> None:
    """From the Connections page's form, to the new connection's page."""
    page = tab.page
    page.get_by_label("Connection name").fill(name)
    made = submit(tab, page.get_by_role("button", name="Create connection").click, "connection")
    assert path_of(page) == f"/admin/connections/{name}" and redirect_status(made) == 303
    assert tab.h1() == name


def create_token(tab: Tab, connection: str, name: str) -> str:
    """From the connection's page, through its Tokens link; the secret shown once."""
    page = tab.page
    submit(tab, page.get_by_role("link", name="Tokens").first.click, "tokens")
    assert path_of(page) == f"/admin/connections/{connection}/tokens"
    page.get_by_label("Token name").fill(name)
    created = submit(tab, page.get_by_role("button", name="Create token").click, "token-created")
    assert created.status == 200 and created.request.redirected_from is None  # shown, once
    assert TOKEN_WARNING in page.inner_text("body")
    secret = page.locator("#token-secret").inner_text().strip()
    assert secret.startswith("scim_"), secret
    return secret


def copy_text(tab: Tab, context: BrowserContext, origin: str, text: str) -> str:
    """Click the Copy button of ``text``; what the clipboard then holds."""
    page = tab.page
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    page.locator(f'button[data-copy="{text}"]').first.click()
    read = "navigator.clipboard.readText()"
    eventually(lambda: page.evaluate(read) == text, 5.0)
    tab.shot("copied")
    copied: str = page.evaluate(read)
    return copied


def find_user(tab: Tab, connection: str, query: str, user_id: str) -> None:
    """Search the connection's Users page and open the user found."""
    page = tab.page
    tab.visit(f"/admin/connections/{connection}/users", "users")
    assert tab.h1() == "Users"
    search = page.get_by_label("Search", exact=True)
    search.fill(query)
    submit(tab, lambda: search.press("Enter"), "users-search")
    user_path = f"/admin/connections/{connection}/users/{user_id}"
    submit(tab, page.locator(f'a[href$="{user_path}"]').first.click, "user")
    assert path_of(page) == user_path


def rotate_token(tab: Tab, connection: str, name: str) -> str:
    """Rotate with the default overlap from the Tokens page; the new secret, shown once."""
    page = tab.page
    tokens = f"/admin/connections/{connection}/tokens"
    tab.visit(tokens, "tokens-before-rotate")
    form = page.locator(f'form[action="{tokens}/{name}/rotate"]')
    assert form.locator('input[name="overlap"]').input_value() == DEFAULT_OVERLAP
    rotated = submit(tab, form.get_by_role("button", name="Rotate").click, "token-rotated")
    assert rotated.status == 200 and rotated.request.redirected_from is None
    assert TOKEN_WARNING in page.inner_text("body")
    return page.locator("#token-secret").inner_text().strip()


def revoke_token(tab: Tab, connection: str, name: str) -> None:
    page = tab.page
    tokens = f"/admin/connections/{connection}/tokens"
    tab.visit(tokens, "tokens-before-revoke")
    form = page.locator(f'form[action="{tokens}/{name}/revoke"]')
    submit(tab, form.get_by_role("button", name="Revoke").click, "token-revoked")
    row = page.locator("tr").filter(has=page.get_by_text(name, exact=True))
    assert "revoked" in row.inner_text(), row.inner_text()
