"""Tenants and tokens: the rows behind bearer authentication, found by name or prefix."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    DateTime,
    bindparam,
    delete,
    func,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect, ScalarSelect

from scimserver.store.db import Database
from scimserver.store.features import features_of
from scimserver.store.models import Resource, Tenant, Token
from scimserver.store.prepared import Prepared


class Credentials(NamedTuple):
    """What checking a presented secret needs to know about the token it names.

    ``secret_hash`` is the hash of the secret the prefix belongs to: the current one or,
    after a rotation, the previous one, which also ends at ``secret_expires_at``.
    """

    id: int
    tenant_id: int
    scope: str
    name: str
    secret_hash: str
    revoked_at: datetime | None
    expires_at: datetime | None
    secret_expires_at: datetime | None
    last_used_at: datetime | None


class TenantSummary(NamedTuple):
    name: str
    created: datetime
    tokens: int
    users: int
    groups: int


_WHO = (Token.id, Token.tenant_id, Token.scope, Token.name)
_CURRENT = select(
    *_WHO,
    Token.secret_hash,
    Token.revoked_at,
    Token.expires_at,
    type_coerce(null(), DateTime()),
    Token.last_used_at,
).where(Token.prefix == bindparam("prefix"))
_PREVIOUS = select(
    *_WHO,
    Token.previous_secret_hash,
    Token.revoked_at,
    Token.expires_at,
    Token.previous_expires_at,
    Token.last_used_at,
).where(Token.previous_prefix == bindparam("prefix"))
_BY_PREFIX: CompoundSelect[Any] = union_all(_CURRENT, _PREVIOUS)
"""Built once, run on a plain connection: every request runs it, and an ORM session
and entity cost three times the query. Two equality lookups on unique indexes (not an
OR, which a planner may answer with a scan): the current secret's, then a rotated
token's previous one."""
_TENANT_ID = select(Tenant.id).where(Tenant.name == bindparam("name"))


_CREDENTIALS = Prepared(_BY_PREFIX)


def credentials(db: Database, prefix: str) -> Credentials | None:
    """The token whose current or previous prefix is ``prefix``, or None: one statement on
    the thread's plain connection (a request's held one)."""
    with db.connect() as connection:
        row = _CREDENTIALS.first(connection, {"prefix": prefix})
    return None if row is None else Credentials(*row)


def _count(*where: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).where(*where).correlate(Tenant).scalar_subquery()


class TenantRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, name: str) -> int | None:
        """The id of the tenant called ``name``, or None."""
        return self.session.scalar(_TENANT_ID, {"name": name})

    def add(self, name: str, created: datetime) -> int:
        """Insert a tenant; returns its id."""
        tenant = Tenant(name=name, created=created)
        self.session.add(tenant)
        self.session.flush()
        return tenant.id

    def ensure(self, name: str, created: datetime) -> int:
        """The id of the tenant called ``name``, created when missing. Racing creators
        (gunicorn's workers booting on a fresh database) agree on one row."""
        tenant_id = self.find(name)
        if tenant_id is not None:
            return tenant_id
        upsert = features_of(self.session).upsert
        self.session.execute(
            upsert(Tenant).values(name=name, created=created).on_conflict_do_nothing()
        )
        created_id = self.find(name)
        assert created_id is not None
        return created_id

    def ids(self) -> dict[str, int]:
        """Every tenant's id by name."""
        return {name: tid for name, tid in self.session.execute(select(Tenant.name, Tenant.id))}

    def listing(self) -> list[TenantSummary]:
        """Every tenant with its live tokens, users and groups counted, by name."""
        query = select(
            Tenant.name,
            Tenant.created,
            _count(Token.tenant_id == Tenant.id, Token.revoked_at.is_(None)),
            _count(Resource.tenant_id == Tenant.id, Resource.resource_type == "User"),
            _count(Resource.tenant_id == Tenant.id, Resource.resource_type == "Group"),
        ).order_by(Tenant.name)
        return [TenantSummary(*row) for row in self.session.execute(query)]

    def resource_count(self, tenant_id: int) -> int:
        """How many resources (users, groups, any type) the tenant holds."""
        query = select(func.count()).where(Resource.tenant_id == tenant_id)
        return int(self.session.scalar(query) or 0)

    def rename(self, tenant_id: int, name: str) -> None:
        self.session.execute(update(Tenant).where(Tenant.id == tenant_id).values(name=name))

    def delete(self, tenant_id: int) -> None:
        """Delete the tenant; its tokens, resources and change log go by FK cascade."""
        self.session.execute(delete(Tenant).where(Tenant.id == tenant_id))


class TokenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, token: Token) -> None:
        """Insert a token and assign its id."""
        self.session.add(token)
        self.session.flush()

    def listing(self, tenant_id: int | None = None) -> list[tuple[Token, str]]:
        """Every token (of one tenant, if given) with its tenant's name, oldest first."""
        query = select(Token, Tenant.name).join(Tenant).order_by(Token.created, Token.id)
        if tenant_id is not None:
            query = query.where(Token.tenant_id == tenant_id)
        return [(token, tenant) for token, tenant in self.session.execute(query)]

    def by_name(self, tenant_id: int, name: str) -> Token | None:
        """The tenant's token called ``name`` (names are unique per tenant), or None."""
        query = select(Token).where(Token.tenant_id == tenant_id, Token.name == name)
        return self.session.scalar(query)

    def by_prefix(self, prefix: str) -> tuple[Token, str] | None:
        """The token with this current or previous prefix, with its tenant's name."""
        query = (
            select(Token, Tenant.name)
            .join(Tenant)
            .where(or_(Token.prefix == prefix, Token.previous_prefix == prefix))
        )
        row = self.session.execute(query).first()
        return None if row is None else (row[0], row[1])

    def mark_used(self, token_id: int, moment: datetime) -> None:
        self.session.execute(update(Token).where(Token.id == token_id).values(last_used_at=moment))
