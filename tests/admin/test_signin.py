"""Console sign-in and sign-out: the form, wrong passwords, sessions, cookies, throttling."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from scimserver.app import create_app
from scimserver.config import Settings
from scimserver.service.admins import Throttled
from scimserver.service.tokens import TenantService
from scimserver.store.models import AdminSession
from tests.admin.conftest import PASSWORD, Console, csrf_of, h1, make_admin, title
from tests.conftest import close_app, make_client

SESSION = "scimserver_console"


def sessions(app: Flask) -> int:
    with app.extensions["scimserver"].db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AdminSession)) or 0)


def test_signed_out_pages_redirect_to_the_sign_in_form(app: Flask) -> None:
    client = app.test_client()
    home = client.get("/admin/")
    assert home.status_code in (302, 303)
    assert home.headers["Location"] == "/admin/login"
    deep = client.get("/admin/connections/x/users?q=a")
    assert (
        deep.headers["Location"] == "/admin/login?next=%2Fadmin%2Fconnections%2Fx%2Fusers%3Fq%3Da"
    )
    form = client.get("/admin/login")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and form.mimetype == "text/html"
    assert '<form method="post" action="/admin/login"' in html
    assert 'name="username"' in html and 'id="username"' in html
    assert 'id="password" name="password" type="password"' in html
    assert '<button type="submit">Sign in</button>' in html
    assert csrf_of(form)
    assert h1(form) == ["Sign in"] and title(form).startswith("Sign in")


def test_sign_in_goes_home_and_next_only_stays_in_the_console(app: Flask) -> None:
    admin = make_admin(app)
    browser = Console(app, admin.name)
    response = browser.sign_in()
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"
    page = browser.get("/admin/")
    assert page.status_code == 200 and h1(page) == ["Connections"]
    html = page.get_data(as_text=True)
    assert admin.name in html
    assert '<form method="post" action="/admin/logout"' in html
    assert '<button type="submit">Sign out</button>' in html
    elsewhere = Console(app, admin.name).sign_in(next="https://evil.example/")
    assert elsewhere.headers["Location"] == "/admin/"
    scheme_relative = Console(app, admin.name).sign_in(next="//evil.example/admin/")
    assert scheme_relative.headers["Location"] == "/admin/"
    inside = Console(app, admin.name).sign_in(next="/admin/connections/x")
    assert inside.headers["Location"] == "/admin/connections/x"


def test_wrong_password_or_unknown_user_is_401_in_words(app: Flask) -> None:
    admin = make_admin(app)
    for name, password in ((admin.name, "wrong password!!"), ("nobody-at-all", PASSWORD)):
        response = Console(app, name).sign_in(password)
        assert response.status_code == 401
        html = response.get_data(as_text=True)
        assert '<p class="alert" role="alert">Wrong username or password.</p>' in html
        assert SESSION not in response.headers.get("Set-Cookie", "")


def test_session_cookie_flags_and_rotation(app: Flask) -> None:
    browser = Console(app, make_admin(app).name)
    browser.client.set_cookie(SESSION, "planted-by-an-attacker", path="/admin")
    before = sessions(app)
    response = browser.sign_in()
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(SESSION))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    assert "Secure" in cookie  # the app's base URL is https
    first = browser.cookie(SESSION)
    assert first and first != "planted-by-an-attacker"
    assert first not in str(sessions(app))
    again = browser.sign_in()
    assert again.status_code == 303
    second = browser.cookie(SESSION)
    assert second and second != first
    assert sessions(app) == before + 1  # signing in again ended the earlier session
    thief = app.test_client()
    thief.set_cookie(SESSION, first, path="/admin")
    assert thief.get("/admin/").status_code == 303


def test_sign_out_ends_the_session(console: Console, app: Flask) -> None:
    stolen = console.cookie(SESSION)
    response = console.post("/admin/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert console.get("/admin/").status_code == 303
    replay = app.test_client()
    replay.set_cookie(SESSION, stolen or "", path="/admin")
    assert replay.get("/admin/").headers["Location"] == "/admin/login"


def test_secure_flag_follows_tls_through_a_trusted_proxy(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", trusted_proxies="127.0.0.1")
    app = create_app(settings)
    name = make_admin(app).name
    plain = Console(app, name)
    plain.client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    cookie = plain.sign_in().headers.getlist("Set-Cookie")[0]
    assert cookie.startswith(SESSION) and "Secure" not in cookie
    proxied = Console(app, name)
    proxied.client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    headers = {"X-Forwarded-Proto": "https"}
    form = proxied.client.get("/admin/login", headers=headers)
    data = {"username": name, "password": PASSWORD, "csrf_token": csrf_of(form)}
    response = proxied.client.post("/admin/login", data=data, headers=headers)
    assert "Secure" in response.headers.getlist("Set-Cookie")[0]
    untrusted = Console(app, name)  # a peer that is not the proxy cannot claim TLS
    form = untrusted.client.get("/admin/login", headers=headers)
    data["csrf_token"] = csrf_of(form)
    response = untrusted.client.post("/admin/login", data=data, headers=headers)
    assert "Secure" not in response.headers.getlist("Set-Cookie")[0]
    close_app(app)


def test_five_wrong_passwords_throttle_even_the_right_one(app: Flask) -> None:
    name = make_admin(app).name
    browser = Console(app, name)
    for _ in range(5):
        assert browser.sign_in("not the password").status_code == 401
    throttled = browser.sign_in()
    assert throttled.status_code == 429
    assert "Too many sign-in attempts" in throttled.get_data(as_text=True)
    assert throttled.headers["Retry-After"]
    assert Console(app, name).sign_in().status_code == 429  # the name, from anywhere


def test_five_failures_from_one_address_throttle_that_address(app: Flask) -> None:
    victim = make_admin(app).name
    attacker = Console(app, "no-such-admin")
    for _ in range(5):
        assert attacker.sign_in("guess guess guess").status_code == 401
    attacker.name = victim
    assert attacker.sign_in().status_code == 429
    assert Console(app, victim).sign_in().status_code == 303  # from elsewhere: fine


def test_a_scim_bearer_token_never_opens_the_console(app: Flask) -> None:
    scim = make_client(app)
    headers = {"Authorization": f"Bearer {scim.token}"}
    for path in ("/admin/", f"/admin/connections/{scim.tenant}/tokens"):
        response = app.test_client().get(path, headers=headers)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/admin/login")
    post = app.test_client().post(
        f"/admin/connections/{scim.tenant}/tokens", data={"name": "x"}, headers=headers
    )
    assert post.status_code == 403


def test_errors_under_admin_are_pages_in_words(console: Console) -> None:
    missing = console.get("/admin/no/such/page")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert h1(missing) == ["Not found"] and title(missing)
    assert "Traceback" not in missing.get_data(as_text=True)
    wrong_method = console.client.delete("/admin/")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    scim_still_json = console.client.get("/scim/v2/Nope")
    assert scim_still_json.mimetype == "application/scim+json"


def test_console_pages_send_security_headers(console: Console) -> None:
    for response in (console.get("/admin/"), console.get("/admin/login"), console.get("/x")):
        if response.mimetype != "text/html":
            continue
        assert response.headers["Content-Security-Policy"] == (
            "default-src 'self'; frame-ancestors 'none'"
        )
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
    css = console.get("/admin/static/console.css")
    assert css.status_code == 200 and "focus-visible" in css.get_data(as_text=True)
    js = console.get("/admin/static/copy.js")
    assert (
        js.status_code == 200
        and "data-copy"
        not in console.get("/admin/login").get_data(as_text=True).split("<script")[0]
    )


def test_an_unexpected_failure_is_a_page_with_the_request_id(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_self: TenantService) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(TenantService, "listing", broken)
    response = console.get("/admin/", headers={"X-Request-Id": "console-500"})
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and response.mimetype == "text/html"
    assert "console-500" in html and h1(response) == ["Something went wrong"]
    assert "secret internals" not in html and "Traceback" not in html


def test_sign_ins_and_failures_are_logged_without_the_password_or_a_refused_name(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    name = make_admin(app).name
    caplog.set_level(logging.INFO, logger="scimserver.service.admins")
    Console(app, name).sign_in("a wrong password 123")
    Console(app, name).sign_in()
    # People type passwords into the name field: a refused name is logged as a keyed hash.
    Console(app, "Tr0ub4dor&3-typed-as-name").sign_in("whatever it was 1")
    Console(app, "tr0ub4dor&3-TYPED-as-name").sign_in("whatever it was 2")
    logged = [r.getMessage() for r in caplog.records if r.name == "scimserver.service.admins"]
    failed = [m for m in logged if "sign-in failed" in m]
    assert len(failed) == 3 and not any(name in m for m in failed), logged
    tags = [m.split(" from ")[0] for m in failed]  # each console comes from its own address
    assert tags[1] == tags[2] != tags[0]  # the same name, in any case: the same hash
    assert any("sign-in of" in m and name in m for m in logged), logged
    secrets = (PASSWORD, "a wrong password 123", "roub4dor", "whatever it was")
    assert not any(s.lower() in caplog.text.lower() for s in secrets)


def test_parallel_guesses_get_five_tries_at_most(app: Flask) -> None:
    admins = app.extensions["scimserver"].admins
    name = make_admin(app).name

    def guess(n: int) -> str:
        try:
            result = admins.sign_in(name, f"guess number {n:04d}", f"192.0.2.{n}")
        except Throttled:
            return "throttled"
        return "wrong" if result is None else "signed in"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(guess, range(16)))
    assert outcomes.count("wrong") <= 5 and "signed in" not in outcomes
    assert outcomes.count("wrong") + outcomes.count("throttled") == 16
    topped_up = [guess(100 + n) for n in range(6)]  # the window fills to five, then holds
    assert topped_up.count("wrong") + outcomes.count("wrong") == 5
    with pytest.raises(Throttled):
        admins.sign_in(name, PASSWORD, "192.0.2.200")
