"""Console fixtures: admins with unique names, and a browser-like client that signs in."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from scimserver.service.admins import AdminInfo

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_H1 = re.compile(r"<h1>(.*?)</h1>", re.S)
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def csrf_of(response: TestResponse) -> str:
    """The CSRF token of the page's last form (the header's sign-out form comes first)."""
    found = _CSRF.findall(response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)
    return str(found[-1])


def html_of(response: TestResponse) -> str:
    """The page's HTML without ``<wbr>`` (where a long value may wrap: no reader sees it)."""
    return response.get_data(as_text=True).replace("<wbr>", "")


def h1(response: TestResponse) -> list[str]:
    return [text.strip() for text in _H1.findall(response.get_data(as_text=True))]


def title(response: TestResponse) -> str:
    found = _TITLE.search(response.get_data(as_text=True))
    return found.group(1).strip() if found else ""


class Console:
    """A browser on the console: its own cookie jar and client address."""

    def __init__(self, app: Flask, name: str, password: str = PASSWORD) -> None:
        self.app = app
        self.name = name
        self.password = password
        self.client: FlaskClient = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = f"10.{_octet()}.{_octet()}.{_octet()}"
        self.csrf = ""

    def sign_in(self, password: str | None = None, **extra: str) -> TestResponse:
        form = self.client.get("/admin/login")
        data = {"username": self.name, "password": password or self.password}
        response = self.client.post(
            "/admin/login", data={**data, "csrf_token": csrf_of(form), **extra}
        )
        if response.status_code == 303:
            self.csrf = csrf_of(self.client.get("/admin/"))
        return response

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        """A POST with this session's CSRF token (unless ``data`` brings its own)."""
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def cookie(self, name: str) -> str | None:
        found = self.client.get_cookie(name, path="/admin")
        return None if found is None else found.value


def _octet() -> int:
    return uuid.uuid4().int % 250 + 1


def make_admin(app: Flask, tenants: Sequence[str] = ()) -> AdminInfo:
    info: AdminInfo = app.extensions["scimserver"].admins.create(unique("admin"), PASSWORD, tenants)
    return info


@pytest.fixture
def console(app: Flask) -> Console:
    """A signed-in, unrestricted admin."""
    browser = Console(app, make_admin(app).name)
    assert browser.sign_in().status_code == 303
    return browser
