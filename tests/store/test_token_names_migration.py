"""Migration 0008 makes token names unique per tenant, renaming an old database's duplicates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text

from scimserver.store import migrate
from scimserver.store.db import Database

TOKENS = [  # id, tenant, name: the oldest of each name keeps it
    (1, 1, "okta"),
    (2, 1, "okta"),
    (3, 1, "okta-2"),
    (4, 1, "okta"),
    (5, 2, "okta"),
    (6, 1, "entra"),
]


def test_upgrade_renames_duplicate_token_names(backend: str, database_url_factory: Any) -> None:
    db = Database(database_url_factory(backend))
    try:
        migrate.upgrade(db, "0007")
        created = datetime(2026, 1, 1)
        with db.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO tenants (id, name, created) VALUES (:id, :name, :created)"),
                [
                    {"id": 1, "name": "a", "created": created},
                    {"id": 2, "name": "b", "created": created},
                ],
            )
            connection.execute(
                text(
                    "INSERT INTO tokens (id, tenant_id, name, prefix, secret_hash, scope, created)"
                    " VALUES (:id, :tenant, :name, :prefix, :hash, 'write', :created)"
                ),
                [
                    {
                        "id": i,
                        "tenant": t,
                        "name": n,
                        "prefix": f"p{i}",
                        "hash": "0" * 64,
                        "created": created,
                    }
                    for i, t, n in TOKENS
                ],
            )
        migrate.upgrade(db)
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, name FROM tokens ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [
            (1, "okta"),
            (2, "okta-3"),
            (3, "okta-2"),
            (4, "okta-4"),
            (5, "okta"),
            (6, "entra"),
        ]
    finally:
        db.dispose()
