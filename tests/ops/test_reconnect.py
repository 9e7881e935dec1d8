"""PostgreSQL restarts under a running server: no pre-ping, yet no request fails for it."""

from __future__ import annotations

import psycopg

from scimserver.app import create_app
from scimserver.config import Settings
from tests.conftest import POSTGRES_ADMIN_URL, PostgresDatabases, close_app

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def drop_connections(database: str) -> int:
    """What a restart does to the server's pooled connections: kill every one of them."""
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        ).fetchall()
    return len(rows)


def test_requests_after_the_connections_died_succeed(postgres: PostgresDatabases) -> None:
    url = postgres.create()
    app = create_app(Settings(database_url=url))
    server = app.extensions["scimserver"]
    _, token = server.tokens.create("reconnect", "default")
    http = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        assert http.get("/scim/v2/Users", headers=headers).status_code == 200
        assert drop_connections(url.rsplit("/", 1)[1]) >= 1
        assert http.get("/scim/v2/Users", headers=headers).status_code == 200
        assert drop_connections(url.rsplit("/", 1)[1]) >= 1
        body = {"schemas": [USER], "userName": "after-restart@example.com"}
        assert http.post("/scim/v2/Users", json=body, headers=headers).status_code == 201
    finally:
        close_app(app)
