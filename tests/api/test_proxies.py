"""X-Forwarded-* change the URLs the server writes only when the peer is a trusted proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from scimserver.app import create_app
from scimserver.config import Settings
from tests.conftest import close_app

FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "scim.example.com",
    "X-Forwarded-For": "203.0.113.9",
}
USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "p@example.com"}


def created(tmp_path: Path, **settings: str) -> tuple[str, str]:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}", **settings))
    server = app.extensions["scimserver"]
    _, secret = server.tokens.create("proxy", "default")
    headers = {"Authorization": f"Bearer {secret}", **FORWARDED}
    response = app.test_client().post("/scim/v2/Users", json=USER, headers=headers)
    assert response.status_code == 201
    close_app(app)
    return response.headers["Location"], response.get_json()["meta"]["location"]


def test_forwarded_headers_are_ignored_by_default(tmp_path: Path) -> None:
    location, meta = created(tmp_path)
    assert location.startswith("http://localhost/scim/v2/Users/")
    assert meta == location


def test_a_trusted_proxy_sets_scheme_and_host(tmp_path: Path) -> None:
    location, meta = created(tmp_path, trusted_proxies="10.0.0.0/8, 127.0.0.1")
    assert location.startswith("https://scim.example.com/scim/v2/Users/")
    assert meta == location


def test_an_untrusted_peer_cannot_spoof_them(tmp_path: Path) -> None:
    location, _ = created(tmp_path, trusted_proxies="10.0.0.0/8")
    assert location.startswith("http://localhost/")


def test_the_configured_base_url_wins(tmp_path: Path) -> None:
    location, _ = created(
        tmp_path, trusted_proxies="127.0.0.1", base_url="https://id.example.org/scim/v2"
    )
    assert location.startswith("https://id.example.org/scim/v2/Users/")


def test_a_bad_network_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        create_app(
            Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", trusted_proxies="not-an-ip")
        )
