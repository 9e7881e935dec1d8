"""Tenants and bearer tokens: secrets shown once, stored as SHA-256, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from scimserver.scim.versions import now
from scimserver.store.db import Database
from scimserver.store.models import Tenant, Token

TOKEN_PREFIX = "scim_"  # noqa: S105 -- a public marker, not a secret
SCOPES = ("read", "write")
LAST_USED_RESOLUTION = timedelta(minutes=1)
_DURATION = re.compile(r"^(\d+)([smhdwy])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


class TokenError(ValueError):
    """A token command was given something it cannot use."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a token, its tenant, its scope and its name."""

    token_id: int
    tenant_id: int
    scope: str
    name: str = ""

    @property
    def can_write(self) -> bool:
        return self.scope == "write"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    scope: str
    tenant: str
    created: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``1y``… as a timedelta."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise TokenError(f"Not a duration: {text!r} (use e.g. 30d, 12h, 1y).")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TenantService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure(self, name: str) -> int:
        """The id of the tenant called ``name``, created when missing."""
        with self.db.write() as session:
            return _ensure_tenant(session, name)

    def find(self, name: str) -> int | None:
        with self.db.read() as session:
            return session.scalar(select(Tenant.id).where(Tenant.name == name))


def _ensure_tenant(session: Session, name: str) -> int:
    tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == name))
    if tenant_id is None:
        tenant = Tenant(name=name, created=now())
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
    return tenant_id


class TokenService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._dummy = _digest(secrets.token_urlsafe(32))

    def create(
        self, name: str, tenant: str, scope: str = "write", expires_in: str | None = None
    ) -> tuple[TokenInfo, str]:
        """Issue a token; the secret is returned here and never again."""
        if scope not in SCOPES:
            raise TokenError(f"Scope must be one of {', '.join(SCOPES)}.")
        if not name.strip():
            raise TokenError("A token needs a name.")
        created = now()
        expires = created + parse_duration(expires_in) if expires_in else None
        prefix = secrets.token_hex(6)
        secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        with self.db.write() as session:
            tenant_id = _ensure_tenant(session, tenant)
            row = Token(
                tenant_id=tenant_id,
                name=name,
                prefix=prefix,
                secret_hash=_digest(secret),
                scope=scope,
                created=created,
                expires_at=expires,
            )
            session.add(row)
            session.flush()
            return self._info(row, tenant), secret

    def listing(self) -> list[TokenInfo]:
        with self.db.read() as session:
            rows = session.execute(
                select(Token, Tenant.name).join(Tenant).order_by(Token.created, Token.id)
            )
            return [self._info(token, tenant) for token, tenant in rows]

    def revoke(self, name_or_prefix: str) -> int:
        """Revoke every live token with this name or prefix; returns how many."""
        with self.db.write() as session:
            result = session.execute(
                update(Token)
                .where(
                    (Token.name == name_or_prefix) | (Token.prefix == name_or_prefix),
                    Token.revoked_at.is_(None),
                )
                .values(revoked_at=now())
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def authenticate(self, secret: str) -> Principal | None:
        """The principal for a presented secret, or None (unknown, expired or revoked)."""
        prefix = _prefix_of(secret)
        with self.db.connect() as connection:
            row = connection.execute(_BY_PREFIX, {"prefix": prefix}).first() if prefix else None
        expected = row.secret_hash if row is not None else self._dummy
        valid = hmac.compare_digest(expected, _digest(secret))
        if row is None or not valid or row.revoked_at is not None:
            return None
        moment = now()
        if row.expires_at is not None and row.expires_at <= moment:
            return None
        if row.last_used_at is None or moment - row.last_used_at > LAST_USED_RESOLUTION:
            self._mark_used(row.id, moment)
        return Principal(row.id, row.tenant_id, row.scope, row.name)

    def _mark_used(self, token_id: int, moment: datetime) -> None:
        with self.db.write() as session:
            session.execute(update(Token).where(Token.id == token_id).values(last_used_at=moment))

    @staticmethod
    def _info(row: Token, tenant: str) -> TokenInfo:
        return TokenInfo(
            row.id,
            row.name,
            row.prefix,
            row.scope,
            tenant,
            row.created,
            row.expires_at,
            row.last_used_at,
            row.revoked_at,
        )


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


def _prefix_of(secret: str) -> str | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    prefix, _, rest = secret[len(TOKEN_PREFIX) :].partition("_")
    return prefix if prefix and rest else None
