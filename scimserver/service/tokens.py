"""Tenants and bearer tokens: secrets shown once, stored as SHA-256, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from scimserver.scim.versions import now
from scimserver.service.retry import reading
from scimserver.store.db import Database
from scimserver.store.models import Token
from scimserver.store.tokens import TenantRepository, TokenRepository, credentials

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
            return TenantRepository(session).ensure(name, now())

    def find(self, name: str) -> int | None:
        with self.db.read() as session:
            return TenantRepository(session).find(name)


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
            tenant_id = TenantRepository(session).ensure(tenant, created)
            row = Token(
                tenant_id=tenant_id,
                name=name,
                prefix=prefix,
                secret_hash=_digest(secret),
                scope=scope,
                created=created,
                expires_at=expires,
            )
            TokenRepository(session).add(row)
            return self._info(row, tenant), secret

    def listing(self) -> list[TokenInfo]:
        with self.db.read() as session:
            rows = TokenRepository(session).listing()
            return [self._info(token, tenant) for token, tenant in rows]

    def revoke(self, name_or_prefix: str) -> int:
        """Revoke every live token with this name or prefix; returns how many."""
        with self.db.write() as session:
            return TokenRepository(session).revoke(name_or_prefix, now())

    @reading
    def authenticate(self, secret: str) -> Principal | None:
        """The principal for a presented secret, or None (unknown, expired or revoked)."""
        prefix = _prefix_of(secret)
        with self.db.connect() as connection:
            row = credentials(connection, prefix) if prefix else None
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
            TokenRepository(session).mark_used(token_id, moment)

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


def _prefix_of(secret: str) -> str | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    prefix, _, rest = secret[len(TOKEN_PREFIX) :].partition("_")
    return prefix if prefix and rest else None
