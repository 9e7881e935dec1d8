"""Helpers for the store's tests."""

from __future__ import annotations

from datetime import datetime

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
