"""PostgreSQL's planner statistics follow the tables as they fill (autovacuum or not)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
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


def _load_users(db: Database, count: int, first: int = 0) -> None:
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
        for n in range(first, first + count)
    ]
    with db.write() as session:
        if not first:
            session.execute(insert(Tenant), [{"id": 1, "name": "t", "created": moment}])
        session.execute(insert(Resource), rows)
    db.dispose()  # its backend exits and reports its counters (else it may wait ~10 s idle)


def _last_analyzed(db: Database, table: str) -> datetime | None:
    with db.connect() as connection:
        found = connection.execute(
            text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).scalar()
    return found if isinstance(found, datetime) else None


def _changed_since_analyzed(db: Database, table: str) -> int:
    """The rows the statistics views count as changed since the last ANALYZE, once the
    backends have reported them."""
    query = text("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = :t")
    deadline = time.monotonic() + 20
    while True:
        with db.connect() as connection:
            changed = connection.execute(query, {"t": table}).scalar_one()
        if changed or time.monotonic() > deadline:
            return int(changed)
        time.sleep(0.2)


def _analyzed_once_settled(statistics: Statistics) -> list[str]:
    """A round's answer once the backends' counts have reached the statistics views."""
    deadline = time.monotonic() + 20
    while True:
        analyzed = statistics.analyze()
        if analyzed or time.monotonic() > deadline:
            return analyzed
        time.sleep(0.2)


@pytest.fixture
def db(postgres: PostgresDatabases) -> Iterator[Database]:
    """A migrated PostgreSQL database of its own."""
    database = Database(postgres.create())
    upgrade(database)
    yield database
    database.dispose()


def test_a_loaded_table_is_analyzed_and_a_lookup_takes_the_unique_index(db: Database) -> None:
    _load_users(db, 5_000)
    statistics = Statistics(db.engine.url, ["resources", "tenants", "not_ours"])
    analyzed = _analyzed_once_settled(statistics)
    assert "resources" in analyzed
    assert "not_ours" not in analyzed
    with db.connect() as connection:
        plan = "\n".join(connection.execute(LOOKUP).scalars())
    assert "uq_resources_user_name" in plan, plan
    assert statistics.analyze() == []  # nothing changed since: nothing is due


def test_a_table_is_due_again_once_it_has_gained_as_many_rows_as_it_held(db: Database) -> None:
    statistics = Statistics(db.engine.url, ["resources"])
    _load_users(db, 2_000)
    assert _analyzed_once_settled(statistics) == ["resources"]
    _load_users(db, 1_500, first=2_000)  # 75% more: autovacuum's 10% would be due
    assert _changed_since_analyzed(db, "resources") == 1_500
    assert statistics.analyze() == []
    _load_users(db, 600, first=3_500)  # 2,100 since: past 2,000 and the threshold
    assert _analyzed_once_settled(statistics) == ["resources"]


def test_a_table_whose_rows_only_change_in_place_is_not_due_again(db: Database) -> None:
    """The feed's head: one row per tenant, updated by every write."""
    statistics = Statistics(db.engine.url, ["resources"])
    _load_users(db, 2_000)
    assert _analyzed_once_settled(statistics) == ["resources"]
    for version in (2, 3):  # 4,000 rows changed: twice what the table holds
        with db.write() as session:
            session.execute(text("UPDATE resources SET version = :v"), {"v": version})
    db.dispose()
    deadline = time.monotonic() + 20
    while _changed_since_analyzed(db, "resources") < 4_000 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _changed_since_analyzed(db, "resources") == 4_000
    assert statistics.analyze() == []
    _load_users(db, 2_100, first=2_000)  # now it has more than doubled
    assert _analyzed_once_settled(statistics) == ["resources"]


def test_writes_start_the_rounds_in_the_background(db: Database) -> None:
    assert db._statistics is not None
    db._statistics.rounds.interval = 0.2
    _load_users(db, 2_000)  # db.write() nudges the thread when it commits
    deadline = time.monotonic() + 15
    while _last_analyzed(db, "resources") is None and time.monotonic() < deadline:
        time.sleep(0.2)
        with db.write():  # as above; each commit also nudges the thread again
            pass
    assert _last_analyzed(db, "resources") is not None
