"""Request activity under the real ``scimserver serve``: every worker's records reach the
database, the last ones written as the workers shut down."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from scimserver.service.activity import ActivityService
from scimserver.store.db import Database
from tests.live import LiveServer, fresh_database

pytestmark = pytest.mark.slow
REQUESTS = 40


def test_every_worker_records_and_a_graceful_stop_writes_what_waits(
    backend: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path) as url:
        with LiveServer({"SCIMSERVER_DATABASE_URL": url}, workers=2, log_dir=tmp_path) as server:
            headers = {"Authorization": f"Bearer {server.token}", "User-Agent": "JumpCloud/2"}

            def lookup(n: int) -> str:
                response = httpx.get(
                    f"{server.scim_url}/Users/missing-{n}", headers=headers, timeout=10
                )
                assert response.status_code == 404
                return response.headers["X-Request-Id"]

            with ThreadPoolExecutor(8) as pool:
                sent = set(pool.map(lookup, range(REQUESTS)))
        # The server stopped (SIGTERM) well within the writers' one-second interval.
        db = Database(url)
        try:
            with db.connect() as connection:
                tenant = connection.exec_driver_sql("SELECT id FROM tenants").scalar_one()
            service = ActivityService(db)
            recorded = service.recent(tenant, limit=100)
            summary = service.summary(tenant)
        finally:
            db.dispose()
    assert {r.request_id for r in recorded} == sent
    assert {(r.status, r.scim_type) for r in recorded} == {(404, None)}
    assert (summary.requests_24h, summary.errors_24h, summary.idp) == (40, 40, "JumpCloud")
