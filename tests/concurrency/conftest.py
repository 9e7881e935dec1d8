"""One real gunicorn server per backend (SQLite, PostgreSQL) shared by the race tests.

Every test gets a tenant of its own through a fresh token, and fails if the server logged
a 5xx, a "database is locked" or a traceback while it ran.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scimserver.service.tokens import TokenService
from scimserver.store.db import Database
from tests.concurrency.harness import WORKERS, LogCursor, log_alarms, wait_for_workers
from tests.live import LiveServer, fresh_database


@dataclass
class Live:
    """A running server and its database URL."""

    server: LiveServer
    database_url: str
    tenants: dict[str, str] = field(default_factory=dict)
    """The tenant of each token :meth:`new_token` issued."""

    def new_token(self, tenant_of: str | None = None) -> str:
        """A write token for a tenant nobody else uses (or for the tenant of the token
        ``tenant_of``), issued straight into the database."""
        db = Database(self.database_url)
        tokens = TokenService(db)
        try:
            tenant = f"race-{uuid.uuid4().hex[:10]}"
            if tenant_of is not None:
                tenant = self.tenants[tenant_of]
            _, secret = tokens.create(f"race-{uuid.uuid4().hex[:6]}", tenant)
        finally:
            db.dispose()
        self.tenants[secret] = tenant
        return secret


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("races")) as url:
        yield url


@pytest.fixture(scope="package")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir: Path = tmp_path_factory.mktemp("live")
    with LiveServer(
        {"SCIMSERVER_DATABASE_URL": database_url}, workers=WORKERS, cwd=workdir, log_dir=workdir
    ) as server:
        wait_for_workers(server, WORKERS)
        yield Live(server, database_url)


@pytest.fixture
def token(live: Live) -> Iterator[str]:
    """A fresh tenant's token; afterwards, the server must have logged nothing alarming."""
    cursor = LogCursor(live.server)
    yield live.new_token()
    alarms = log_alarms(cursor.new_text())
    assert not alarms, "\n".join(alarms)
