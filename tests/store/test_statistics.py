"""PostgreSQL's planner statistics follow the tables as they fill (autovacuum or not)."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import insert, text

from scimserver.store.db import Database
from scimserver.store.migrate import upgrade
from scimserver.store.models import Resource, Tenant
from scimserver.store.statistics import Statistics
from tests.conftest import PostgresDatabases

LOOKUP = text(
    "EXPLAIN SELECT id FROM resources "
    "WHERE tenant_id = 1 AND resource_type = 'User' AND user_name_key = 'u00042@example.com'"
)


def _load_users(db: Database, count: int) -> None:
    """What an IdP's first sync leaves: many rows written since the last ANALYZE."""
    moment = datetime(2026, 1, 2)
    rows = [
        {
            "id": f"00000000-0000-0000-0000-{n:012d}",
            "tenant_id": 1,
            "resource_type": "User",
            "user_name_key": f"u{n:05d}@example.com",
            "version": 1,
            "created": moment,
            "last_modified": moment,
            "data": {"userName": f"u{n:05d}@example.com"},
        }
        for n in range(count)
    ]
    with db.write() as session:
        session.execute(insert(Tenant), [{"id": 1, "name": "t", "created": moment}])
        session.execute(insert(Resource), rows)
    db.dispose()  # its backend exits and reports its counters (else it may wait ~10 s idle)


def _last_analyzed(db: Database, table: str) -> datetime | None:
    with db.connect() as connection:
        found = connection.execute(
            text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).scalar()
    return found if isinstance(found, datetime) else None


def test_a_loaded_table_is_analyzed_and_a_lookup_takes_the_unique_index(
    postgres: PostgresDatabases,
) -> None:
    db = Database(postgres.create())
    upgrade(db)
    try:
        _load_users(db, 5_000)
        statistics = Statistics(db.engine.url, ["resources", "tenants", "not_ours"])
        deadline = time.monotonic() + 20
        analyzed: list[str] = []
        while "resources" not in analyzed and time.monotonic() < deadline:
            analyzed = statistics.analyze()
            time.sleep(0.2)
        assert "resources" in analyzed
        assert "not_ours" not in analyzed
        with db.connect() as connection:
            plan = "\n".join(connection.execute(LOOKUP).scalars())
        assert "uq_resources_user_name" in plan, plan
        assert statistics.analyze() == []  # nothing changed since: nothing is due
    finally:
        db.dispose()


def test_writes_start_the_rounds_in_the_background(postgres: PostgresDatabases) -> None:
    db = Database(postgres.create())
    upgrade(db)
    try:
        assert db._statistics is not None
        db._statistics.rounds.interval = 0.2
        _load_users(db, 2_000)  # db.write() nudges the thread when it commits
        deadline = time.monotonic() + 15
        while _last_analyzed(db, "resources") is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with db.write():  # as above; each commit also nudges the thread again
                pass
        assert _last_analyzed(db, "resources") is not None
    finally:
        db.dispose()
