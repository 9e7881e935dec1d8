"""Fixtures: every API test runs on SQLite and on a throwaway PostgreSQL database.

Each test gets a tenant of its own (through a fresh token), so tests never see each
other's data while sharing one migrated database per backend.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import psycopg
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, event
from werkzeug.test import TestResponse

from scimserver.api.context import ACTIVITY
from scimserver.app import create_app
from scimserver.cli import main
from scimserver.config import Settings
from scimserver.schema import default_schema_dir
from scimserver.store import db as db_module
from scimserver.store.prepared import Prepared

FIXTURES = Path(__file__).parent / "fixtures"
POSTGRES_ADMIN_URL = os.environ.get(
    "SCIMSERVER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]


def cli_env(path: Path) -> dict[str, str]:
    """The environment of CLI commands on a SQLite database at ``path``, created first
    with ``scimserver db upgrade`` (the other commands refuse to create one)."""
    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{path}"}
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return env


def fixture_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class PostgresDatabases:
    """Creates throwaway databases on the local server and drops them afterwards."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def create(self) -> str:
        name = f"scimserver_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def drop_all(self) -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def database_url_factory(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresDatabases
) -> Any:
    def make(backend: str) -> str:
        if backend == "postgresql":
            return postgres.create()
        path = tmp_path_factory.mktemp("sqlite") / "scim.db"
        return f"sqlite:///{path}"

    return make


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def app(backend: str, database_url_factory: Any) -> Iterator[Flask]:
    settings = Settings(
        database_url=database_url_factory(backend), base_url="https://scim.test/scim/v2"
    )
    application = create_app(settings)
    yield application
    close_app(application)


@pytest.fixture(scope="session")
def custom_app(backend: str, database_url_factory: Any) -> Iterator[Flask]:
    """An app with the sample Acme extension dropped into an extra schema directory."""
    settings = Settings(
        database_url=database_url_factory(backend),
        schema_dirs=(default_schema_dir(), FIXTURES / "custom_schemas"),
        base_url="https://scim.test/scim/v2",
    )
    application = create_app(settings)
    yield application
    close_app(application)


def close_app(application: Flask) -> None:
    """Write the app's waiting request activity and let go of its connections, before
    its database is dropped (else its recorder tries again at exit, and logs it)."""
    recorder = application.extensions.get(ACTIVITY)
    if recorder is not None:
        recorder.close()
    server = application.extensions["scimserver"]
    server.jobs.stop()
    server.db.dispose()


class ScimClient:
    """A test client that speaks SCIM for one tenant: paths are relative to /scim/v2."""

    def __init__(self, client: FlaskClient, token: str, tenant: str, name: str = "test") -> None:
        self.client = client
        self.token = token
        self.tenant = tenant
        self.name = name
        """The token's name: the actor of its changes, the audience of its SETs."""

    def open(self, method: str, path: str, body: Any = None, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        if body is not None and "data" not in kwargs:
            kwargs["data"] = json.dumps(body)
            headers.setdefault("Content-Type", "application/scim+json")
        return self.client.open(f"/scim/v2{path}", method=method, headers=headers, **kwargs)

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.open("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> TestResponse:
        return self.open("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> TestResponse:
        return self.open("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> TestResponse:
        return self.open("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> TestResponse:
        return self.open("DELETE", path, **kw)

    def create_user(self, user_name: str | None = None, **attrs: Any) -> dict[str, Any]:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name or f"user-{uuid.uuid4().hex[:8]}",
            **attrs,
        }
        response = self.post("/Users", body)
        assert response.status_code == 201, response.get_json()
        result: dict[str, Any] = response.get_json()
        return result

    def create_group(
        self, display_name: str | None = None, members: list[str] | None = None, **attrs: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": display_name or f"group-{uuid.uuid4().hex[:8]}",
            **attrs,
        }
        if members is not None:
            body["members"] = [{"value": m} for m in members]
        response = self.post("/Groups", body)
        assert response.status_code == 201, response.get_json()
        result: dict[str, Any] = response.get_json()
        return result


def make_client(app: Flask, scope: str = "write", tenant: str | None = None) -> ScimClient:
    # Token names are unique per tenant: a second client in a tenant gets a name of its own.
    name = "test" if tenant is None else f"test-{uuid.uuid4().hex[:8]}"
    tenant = tenant or f"tenant-{uuid.uuid4().hex[:10]}"
    _, secret = app.extensions["scimserver"].tokens.create(name, tenant, scope)
    return ScimClient(app.test_client(), secret, tenant, name)


@pytest.fixture
def scim(app: Flask) -> ScimClient:
    """A write-scoped client in a tenant of its own."""
    return make_client(app)


def statements_run(app: Flask, action: Any) -> list[str]:
    """The SQL statements the app's engine ran for ``action()``: SQLAlchemy's, and those
    run on the driver's cursor (:class:`Prepared` reads and writes). Only this
    thread's: the server's own threads (request activity's writer) write meanwhile."""
    seen: list[str] = []
    engine = app.extensions["scimserver"].db.engine
    ours = threading.get_ident()

    def note(statement: str) -> None:
        if threading.get_ident() == ours:
            seen.append(statement)

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        note(statement)

    def run_sql(connection: Connection, sql: str) -> None:
        note(sql)
        run_fixed(connection, sql)

    def first(prepared: Prepared, connection: Connection, values: Any) -> Any:
        note(prepared.sql(connection.dialect))
        return run_prepared(prepared, connection, values)

    def every(prepared: Prepared, connection: Connection, values: Any) -> Any:
        note(prepared.sql(connection.dialect))
        return run_read_all(prepared, connection, values)

    def run(prepared: Prepared, connection: Connection, values: Any) -> Any:
        note(prepared.sql(connection.dialect))
        return run_write(prepared, connection, values)

    def run_many(prepared: Prepared, connection: Connection, rows: Any) -> None:
        note(prepared.sql(connection.dialect))
        run_writes(prepared, connection, rows)

    run_prepared, run_read_all = Prepared.first, Prepared.all
    run_write, run_writes = Prepared.run, Prepared.run_many
    run_fixed = db_module.run_sql
    event.listen(engine, "before_cursor_execute", record)
    try:
        with (
            patch.object(Prepared, "first", first),
            patch.object(Prepared, "all", every),
            patch.object(Prepared, "run", run),
            patch.object(Prepared, "run_many", run_many),
            patch.object(db_module, "run_sql", run_sql),
        ):
            action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def assert_scim_error(response: TestResponse, status: int, scim_type: str | None = None) -> None:
    """The response is a SCIM error body with this status (and scimType, if given)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype in {"application/scim+json", "application/json"}
    body = response.get_json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    assert "Traceback" not in response.get_data(as_text=True)
