"""The console's pages on PostgreSQL: a connection, a token, a user found by search and by
SCIM filter, the token rotated with overlap, then revoked (both secrets)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.console import Console
from tests.browser.scim import Idp
from tests.browser.steps import (
    create_connection,
    create_token,
    find_user,
    revoke_token,
    rotate_token,
    sign_in,
    submit,
)
from tests.browser.tab import Tab

pytestmark = pytest.mark.slow

BACKEND = "postgresql"  # read by the live_server fixture
WORKERS = 1  # the SQLite module checks two workers; this one checks the SQL


def test_a_connection_token_and_user_on_postgresql(
    tab: Tab, console: Console, idp_clients: Callable[[str], Idp]
) -> None:
    sign_in(tab, console)
    create_connection(tab, "globex")
    secret = create_token(tab, "globex", "entra")
    idp = idp_clients(secret)
    created = idp.create_user("hsimpson@example.com")
    assert created.status_code == 201, created.text
    find_user(tab, "globex", "hsimpson", created.json()["id"])
    assert tab.h1() == "hsimpson@example.com"
    users = "/admin/connections/globex/users"
    tab.visit(users, "users")
    scim_filter = tab.page.get_by_label("SCIM filter")
    scim_filter.fill('userName eq "HSimpson@example.com"')  # caseExact false, in SQL
    submit(tab, lambda: scim_filter.press("Enter"), "users-filtered")
    assert tab.page.locator(f'a[href$="{users}/{created.json()["id"]}"]').count() == 1
    new_secret = rotate_token(tab, "globex", "entra")
    assert new_secret != secret
    rotated = idp_clients(new_secret)
    assert rotated.list_users().status_code == 200
    assert idp.list_users().status_code == 200  # the old secret, within the default overlap
    revoke_token(tab, "globex", "entra")
    assert idp.list_users().status_code == 401
    assert rotated.list_users().status_code == 401
