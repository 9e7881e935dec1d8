"""Tenants and tokens: the rows behind bearer authentication, found by name or prefix."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from scimserver.store.models import Tenant, Token


class Credentials(NamedTuple):
    """What checking a presented secret needs to know about the token it names."""

    id: int
    tenant_id: int
    scope: str
    name: str
    secret_hash: str
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None


_BY_PREFIX = select(
    Token.id,
    Token.tenant_id,
    Token.scope,
    Token.name,
    Token.secret_hash,
    Token.revoked_at,
    Token.expires_at,
    Token.last_used_at,
).where(Token.prefix == bindparam("prefix"))
"""Built once, run on a plain connection: every request runs it, and an ORM session
and entity cost three times the query."""
_TENANT_ID = select(Tenant.id).where(Tenant.name == bindparam("name"))


def credentials(connection: Connection, prefix: str) -> Credentials | None:
    """The token whose public prefix is ``prefix``, or None."""
    row = connection.execute(_BY_PREFIX, {"prefix": prefix}).first()
    return None if row is None else Credentials(*row)


class TenantRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, name: str) -> int | None:
        """The id of the tenant called ``name``, or None."""
        return self.session.scalar(_TENANT_ID, {"name": name})

    def ensure(self, name: str, created: datetime) -> int:
        """The id of the tenant called ``name``, created when missing."""
        tenant_id = self.find(name)
        if tenant_id is None:
            tenant = Tenant(name=name, created=created)
            self.session.add(tenant)
            self.session.flush()
            tenant_id = tenant.id
        return tenant_id


class TokenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, token: Token) -> None:
        """Insert a token and assign its id."""
        self.session.add(token)
        self.session.flush()

    def listing(self) -> list[tuple[Token, str]]:
        """Every token with its tenant's name, oldest first."""
        query = select(Token, Tenant.name).join(Tenant).order_by(Token.created, Token.id)
        return [(token, tenant) for token, tenant in self.session.execute(query)]

    def revoke(self, name_or_prefix: str, moment: datetime) -> int:
        """Revoke every live token with this name or prefix; returns how many."""
        result = self.session.execute(
            update(Token)
            .where(
                (Token.name == name_or_prefix) | (Token.prefix == name_or_prefix),
                Token.revoked_at.is_(None),
            )
            .values(revoked_at=moment)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def mark_used(self, token_id: int, moment: datetime) -> None:
        self.session.execute(update(Token).where(Token.id == token_id).values(last_used_at=moment))
