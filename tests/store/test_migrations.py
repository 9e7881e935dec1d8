"""The migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from scimserver.store import migrate
from scimserver.store.db import Database
from scimserver.store.models import Base


def test_migrated_schema_matches_the_models(backend: str, database_url_factory: Any) -> None:
    db = Database(database_url_factory(backend))
    try:
        migrate.upgrade(db)
        assert migrate.is_current(db)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        db.dispose()
