"""Helpers for the store's tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from scimserver.store.db import Database
from scimserver.store.migrate import upgrade
from scimserver.store.models import Resource, Tenant


def database_holding(url: str, resource: Resource) -> Database:
    """A migrated database holding tenant 1 and ``resource`` (the caller disposes it)."""
    database = Database(url)
    upgrade(database)
    with database.write() as session:
        session.add(Tenant(id=1, name="t", created=datetime(2026, 1, 2)))
        session.flush()
        session.add(resource)
    return database


@pytest.fixture
def db(backend: str, database_url_factory: Any) -> Iterator[Database]:
    """A database holding one user, ``r1`` (version 3) in tenant 1."""
    resource = Resource(
        id="r1",
        tenant_id=1,
        resource_type="User",
        version=3,
        created=datetime(2026, 1, 2, 3, 4, 5, 678000),
        last_modified=datetime(2026, 1, 2, 3, 4, 5),
        data={"userName": "zoë", "emails": [{"value": "z@example.com"}], "n": 2**40},
    )
    database = database_holding(database_url_factory(backend), resource)
    yield database
    database.release()
    database.dispose()
