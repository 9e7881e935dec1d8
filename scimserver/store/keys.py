"""Server-wide keys, created once and shared by every worker through the database."""

from __future__ import annotations

import secrets

from sqlalchemy import Text, column, select, table, update

from scimserver.store.db import Database
from scimserver.store.features import features_of
from scimserver.store.models import Base, ServerKey
from scimserver.store.sealed import Sealed, Sealer


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


def reseal(db: Database, sealer: Sealer) -> int:
    """Encrypt every stored secret (each :class:`Sealed` column) with ``sealer``'s first
    key, whether it was in clear or under another of its keys; the rows rewritten."""
    rewritten = 0
    with db.write() as session:
        for model_table in Base.metadata.sorted_tables:
            sealed = [c.name for c in model_table.columns if isinstance(c.type, Sealed)]
            if not sealed:
                continue
            keys = [(c.name, c.type) for c in model_table.primary_key.columns]
            # The stored text itself, not what the Sealed type makes of it.
            raw = table(
                model_table.name,
                *(column(n, t) for n, t in keys),
                *(column(n, Text) for n in sealed),
            )
            for row in session.execute(select(raw)).mappings().all():
                values = {n: sealer.reseal(row[n]) for n in sealed if row[n] is not None}
                match = [raw.c[n] == row[n] for n, _ in keys]
                session.execute(update(raw).where(*match).values(values))
                rewritten += 1
    return rewritten
