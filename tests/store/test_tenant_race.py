"""Creating the same tenant from two transactions at once (gunicorn's workers each ensure
the default tenant as they boot on a fresh database) gives both the one row."""

from __future__ import annotations

import threading
import time
from typing import Any

from scimserver.scim.versions import now
from scimserver.store import migrate
from scimserver.store.db import Database
from scimserver.store.tokens import TenantRepository

BLOCKED = 0.5
"""Seconds the second creator is given to reach the first one's uncommitted row."""


def test_racing_creators_of_a_tenant_agree(postgres: Any) -> None:
    # PostgreSQL only: SQLite's writers take turns, so they cannot race here.
    db = Database(postgres.create())
    try:
        migrate.upgrade(db)
        first_inserted, found = threading.Event(), []

        def second() -> None:
            first_inserted.wait(10)
            with db.write() as session:
                found.append(TenantRepository(session).ensure("racing", now()))

        thread = threading.Thread(target=second)
        thread.start()
        with db.write() as session:
            created = TenantRepository(session).ensure("racing", now())
            first_inserted.set()
            time.sleep(BLOCKED)  # the second waits on this row's unique key, then sees it
        thread.join(10)
        assert found == [created]
    finally:
        db.dispose()
