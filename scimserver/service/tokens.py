"""Tenants and bearer tokens: secrets shown once, stored as SHA-256, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from scimserver.scim.versions import now
from scimserver.service.retry import reading
from scimserver.store.db import Database
from scimserver.store.models import Token
from scimserver.store.tokens import (
    TenantRepository,
    TenantSummary,
    TokenRepository,
    credentials,
)

TOKEN_PREFIX = "scim_"  # noqa: S105 -- a public marker, not a secret
SCOPES = ("read", "write")
LAST_USED_RESOLUTION = timedelta(minutes=1)
_DURATION = re.compile(r"^(\d+)([smhdwy])$")
NAME_LENGTH = 100  # the column width of tenant and token names
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


class TokenError(ValueError):
    """A token or tenant command was given something it cannot use."""


class UnknownTenant(TokenError):
    """No tenant has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"No tenant {name!r}.")


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
    previous_expires_at: datetime | None = None
    """While a rotation's overlap runs: when the previous secret stops working."""


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``1y``… as a timedelta."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise TokenError(f"Not a duration: {text!r} (use e.g. 30d, 12h, 1y).")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


DEFAULT_OVERLAP = "7d"
"""How long a rotated token's old secret keeps working unless told otherwise (CLI and
console): time to paste the new one into the IdP, a weekend included."""


def parse_overlap(text: str) -> timedelta:
    """A rotation's overlap: a duration, or ``0`` for none (the old secret ends at once)."""
    return timedelta(0) if text.strip() == "0" else parse_duration(text)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_secret() -> tuple[str, str]:
    """A fresh public prefix and the secret that starts with it."""
    prefix = secrets.token_hex(6)
    return prefix, f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def _ended(moment: datetime | None, at: datetime) -> bool:
    return moment is not None and moment <= at


def _check_name(kind: str, name: str) -> None:
    if not name.strip():
        raise TokenError(f"A {kind} needs a name.")
    if len(name) > NAME_LENGTH:
        raise TokenError(f"A {kind} name has at most {NAME_LENGTH} characters.")


class TenantService:
    """Tenants by name; ``default`` is the one tokens go to without ``--tenant``."""

    def __init__(self, db: Database, default: str = "default") -> None:
        self.db = db
        self.default = default

    def ensure(self, name: str) -> int:
        """The id of the tenant called ``name``, created when missing."""
        with self.db.write() as session:
            return TenantRepository(session).ensure(name, now())

    def find(self, name: str) -> int | None:
        with self.db.read() as session:
            return TenantRepository(session).find(name)

    def create(self, name: str) -> None:
        _check_name("tenant", name)
        with self.db.write() as session:
            tenants = TenantRepository(session)
            if tenants.find(name) is not None:
                raise TokenError(f"Tenant {name!r} already exists.")
            tenants.add(name, now())

    def listing(self) -> list[TenantSummary]:
        """Every tenant with its live tokens, users and groups counted."""
        with self.db.read() as session:
            return TenantRepository(session).listing()

    def ids(self) -> dict[str, int]:
        """Every tenant's id by name."""
        with self.db.read() as session:
            return TenantRepository(session).ids()

    def rename(self, old: str, new: str) -> None:
        _check_name("tenant", new)
        with self.db.write() as session:
            tenants = TenantRepository(session)
            tenant_id = tenant_id_of(tenants, old)
            if tenants.find(new) is not None:
                raise TokenError(f"Tenant {new!r} already exists.")
            tenants.rename(tenant_id, new)

    def delete(self, name: str, force: bool = False) -> int:
        """Delete a tenant with its tokens; returns how many users and groups went with it.

        Without ``force`` it refuses the default tenant and a tenant that holds resources.
        """
        with self.db.write() as session:
            tenants = TenantRepository(session)
            tenant_id = tenant_id_of(tenants, name)
            if name == self.default and not force:
                raise TokenError(
                    f"{name!r} is the default tenant (SCIMSERVER_DEFAULT_TENANT), where "
                    "tokens without --tenant go; pass --force to delete it anyway."
                )
            resources = tenants.resource_count(tenant_id)
            if resources and not force:
                raise TokenError(
                    f"Tenant {name!r} holds {resources} user(s)/group(s); "
                    "pass --force to delete them with it."
                )
            tenants.delete(tenant_id)
            return resources


def tenant_id_of(tenants: TenantRepository, name: str) -> int:
    """The id of the tenant named ``name``; :class:`UnknownTenant` if there is none."""
    tenant_id = tenants.find(name)
    if tenant_id is None:
        raise UnknownTenant(name)
    return tenant_id


class TokenService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._dummy = _digest(secrets.token_urlsafe(32))

    def create(
        self,
        name: str,
        tenant: str,
        scope: str = "write",
        expires_in: str | None = None,
        *,
        create_tenant: bool = True,
    ) -> tuple[TokenInfo, str]:
        """Issue a token; the secret is returned here and never again.

        An unknown tenant is created with it, or refused (:class:`UnknownTenant`) when
        ``create_tenant`` is false. A tenant's token names are unique.
        """
        if scope not in SCOPES:
            raise TokenError(f"Scope must be one of {', '.join(SCOPES)}.")
        _check_name("token", name)
        created = now()
        expires = created + parse_duration(expires_in) if expires_in else None
        prefix, secret = _new_secret()
        with self.db.write() as session:
            tenants = TenantRepository(session)
            if create_tenant:
                tenant_id = tenants.ensure(tenant, created)
            else:
                tenant_id = tenant_id_of(tenants, tenant)
            repository = TokenRepository(session)
            if repository.by_name(tenant_id, name) is not None:
                raise TokenError(
                    f"Tenant {tenant!r} already has a token named {name!r}: "
                    "rotate it for a new secret, or pick another name."
                )
            row = Token(
                tenant_id=tenant_id,
                name=name,
                prefix=prefix,
                secret_hash=_digest(secret),
                scope=scope,
                created=created,
                expires_at=expires,
            )
            repository.add(row)
            return self._info(row, tenant), secret

    def listing(self, tenant: str | None = None) -> list[TokenInfo]:
        """Every token, or one tenant's, oldest first (never their secrets)."""
        with self.db.read() as session:
            tenant_id = None if tenant is None else tenant_id_of(TenantRepository(session), tenant)
            rows = TokenRepository(session).listing(tenant_id)
            return [self._info(token, tenant) for token, tenant in rows]

    def revoke(self, name_or_prefix: str, tenant: str) -> TokenInfo:
        """Revoke one token, both its secrets: by name in ``tenant``, else by prefix."""
        with self.db.write() as session:
            row, tenant_name = self._find(session, name_or_prefix, tenant)
            if row.revoked_at is not None:
                raise TokenError(
                    f"Token {row.name!r} of tenant {tenant_name!r} is already revoked."
                )
            row.revoked_at = now()
            session.flush()
            return self._info(row, tenant_name)

    def rotate(self, name: str, tenant: str, overlap: timedelta) -> tuple[TokenInfo, str]:
        """A new secret for the token; the current one keeps working for ``overlap``.

        Only two secrets are ever valid: rotating again ends the previous one at once.
        """
        moment = now()
        prefix, secret = _new_secret()
        with self.db.write() as session:
            row = TokenRepository(session).by_name(
                tenant_id_of(TenantRepository(session), tenant), name
            )
            if row is None:
                raise TokenError(f"Tenant {tenant!r} has no token named {name!r}.")
            if row.revoked_at is not None or _ended(row.expires_at, moment):
                raise TokenError(f"Token {name!r} is revoked or expired: create a new one.")
            keep = overlap > timedelta(0)
            row.previous_prefix = row.prefix if keep else None
            row.previous_secret_hash = row.secret_hash if keep else None
            row.previous_expires_at = moment + overlap if keep else None
            row.prefix, row.secret_hash = prefix, _digest(secret)
            session.flush()
            return self._info(row, tenant), secret

    def _find(self, session: Session, name_or_prefix: str, tenant: str) -> tuple[Token, str]:
        tenant_id = TenantRepository(session).find(tenant)
        tokens = TokenRepository(session)
        row = None if tenant_id is None else tokens.by_name(tenant_id, name_or_prefix)
        if row is not None:
            return row, tenant
        found = tokens.by_prefix(name_or_prefix)
        if found is None:
            raise TokenError(
                f"No token named {name_or_prefix!r} in tenant {tenant!r}, "
                "and none with that prefix."
            )
        return found

    @reading
    def authenticate(self, secret: str) -> Principal | None:
        """The principal for a presented secret, or None (unknown, expired or revoked).

        The secret may be a token's current one or, during a rotation's overlap, its
        previous one: one indexed lookup by prefix finds either.
        """
        prefix = _prefix_of(secret)
        row = credentials(self.db, prefix) if prefix else None
        expected = row.secret_hash if row is not None else self._dummy
        valid = hmac.compare_digest(expected, _digest(secret))
        if row is None or not valid or row.revoked_at is not None:
            return None
        moment = now()
        if _ended(row.expires_at, moment) or _ended(row.secret_expires_at, moment):
            return None
        if row.last_used_at is None or moment - row.last_used_at > LAST_USED_RESOLUTION:
            self._mark_used(row.id, moment)
        return Principal(row.id, row.tenant_id, row.scope, row.name)

    def _mark_used(self, token_id: int, moment: datetime) -> None:
        with self.db.write() as session:
            TokenRepository(session).mark_used(token_id, moment)

    @staticmethod
    def _info(row: Token, tenant: str) -> TokenInfo:
        previous = row.previous_expires_at if row.previous_prefix else None
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
            previous,
        )


def _prefix_of(secret: str) -> str | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    prefix, _, rest = secret[len(TOKEN_PREFIX) :].partition("_")
    return prefix if prefix and rest else None
