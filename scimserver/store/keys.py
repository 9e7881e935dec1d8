"""Server-wide keys, created once and shared by every worker through the database."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from scimserver.store.db import Database
from scimserver.store.features import features_of
from scimserver.store.models import ServerKey


def server_key(db: Database, name: str) -> bytes:
    """The key called ``name``; the first caller creates it, racing callers agree on it."""
    with db.write() as session:
        upsert = features_of(session).upsert
        candidate = secrets.token_hex(32)
        session.execute(
            upsert(ServerKey).values(name=name, value=candidate).on_conflict_do_nothing()
        )
        value = session.scalar(select(ServerKey.value).where(ServerKey.name == name))
    assert value is not None
    return bytes.fromhex(value)
