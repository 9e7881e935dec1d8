"""Console admins: accounts, sign-in with throttling, server-side sessions, tenant scope.

Passwords are scrypt hashes, checked in constant time, against a dummy hash when the
name is unknown so a wrong name costs what a wrong password costs. A session id lives
only in the admin's cookie; the database keeps its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scimserver.scim.versions import now
from scimserver.service.passwords import hash_password, verify_password
from scimserver.service.tokens import tenant_id_of
from scimserver.store.admins import AdminRepository, FailureRepository, SessionRepository
from scimserver.store.db import Database
from scimserver.store.keys import server_key
from scimserver.store.models import Admin, AdminSession
from scimserver.store.tokens import TenantRepository

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
NAME_LENGTH = 100
MAX_FAILURES = 5
"""Failed sign-ins for one username, or from one address, before the window throttles."""
FAILURE_WINDOW = timedelta(minutes=15)
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
TOUCH_RESOLUTION = timedelta(minutes=1)


class AdminError(ValueError):
    """An admin command was given something it cannot use."""


class Throttled(AdminError):
    """Too many failed sign-ins for this username or from this address: wait."""


@dataclass(frozen=True)
class AdminInfo:
    id: int
    name: str
    restricted: bool
    tenants: tuple[str, ...]
    """The tenants a restricted admin may see (empty for an unrestricted one)."""
    created: datetime
    last_sign_in_at: datetime | None

    def may_see(self, tenant: str) -> bool:
        return not self.restricted or tenant in self.tenants

    @property
    def may_create_tenants(self) -> bool:
        return not self.restricted


def check_password(password: str) -> None:
    """Refuse a password too short to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _throttle_keys(name: str, address: str) -> list[str]:
    """Hashed, so a password typed into the name field is never stored."""
    return [_digest(f"user:{name.casefold()}"), _digest(f"addr:{address}")]


class AdminService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._dummy = hash_password(secrets.token_urlsafe(16))
        self._key: bytes | None = None

    # -- form tokens (CSRF) -----------------------------------------------------------

    def form_token(self, purpose: str, secret: str) -> str:
        """The CSRF token bound to ``secret`` (a session id, or a sign-in form's nonce).

        An HMAC under a key kept in the database, so every worker and instance agrees
        and tokens survive restarts; ``purpose`` keeps a sign-in token from serving as a
        session's.
        """
        if self._key is None:
            self._key = server_key(self.db, "console-forms")
        message = f"{purpose}:{secret}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _tag(self, name: str) -> str:
        """What a refused sign-in logs of the name typed: never the name (people type
        passwords into it) but a keyed hash of it, alike on every worker, so repeated
        tries at one name show as such and only the database's key could test guesses."""
        return self.form_token("log-name", name.casefold())[:16]

    def check_form_token(self, purpose: str, secret: str, presented: str) -> bool:
        """Whether ``presented`` is ``secret``'s form token (compared in constant time)."""
        expected = self.form_token(purpose, secret)
        return bool(secret) and hmac.compare_digest(expected.encode(), presented.encode())

    # -- accounts ---------------------------------------------------------------------

    def create(self, name: str, password: str, tenants: Sequence[str] = ()) -> AdminInfo:
        """Add an admin; with ``tenants``, held to them (each must exist)."""
        if not name.strip() or len(name) > NAME_LENGTH:
            raise AdminError(f"An admin needs a name of 1 to {NAME_LENGTH} characters.")
        check_password(password)
        hashed = hash_password(password)
        with self.db.write() as session:
            admins = AdminRepository(session)
            if admins.by_name(name) is not None:
                raise AdminError(f"Admin {name!r} already exists.")
            known = TenantRepository(session)
            tenant_ids = [tenant_id_of(known, t) for t in tenants]
            row = Admin(name=name, password_hash=hashed, restricted=bool(tenants), created=now())
            admins.add(row, tenant_ids)
            return self._info(admins, row)

    def listing(self) -> list[AdminInfo]:
        with self.db.read() as session:
            admins = AdminRepository(session)
            return [self._info(admins, row) for row in admins.listing()]

    def delete(self, name: str) -> None:
        with self.db.write() as session:
            admins = AdminRepository(session)
            admins.delete(self._named(admins, name).id)

    def set_password(self, name: str, password: str) -> None:
        """A new password; the admin's sessions end."""
        check_password(password)
        hashed = hash_password(password)
        with self.db.write() as session:
            admins = AdminRepository(session)
            admins.set_password(self._named(admins, name).id, hashed)

    @staticmethod
    def _named(admins: AdminRepository, name: str) -> Admin:
        row = admins.by_name(name)
        if row is None:
            raise AdminError(f"No admin {name!r} — see `scimserver admin list`.")
        return row

    @staticmethod
    def _info(admins: AdminRepository, row: Admin) -> AdminInfo:
        tenants = tuple(admins.tenant_names(row.id)) if row.restricted else ()
        return AdminInfo(
            row.id, row.name, row.restricted, tenants, row.created, row.last_sign_in_at
        )

    # -- sign-in and sessions ---------------------------------------------------------

    def sign_in(self, name: str, password: str, address: str) -> str | None:
        """A new session id for the right password, None for a wrong one.

        Raises :class:`Throttled` while the name or the address has had too many
        failures in the window, whatever the password. Each attempt is written as a
        failure before the password is checked (and withdrawn if it was right or
        throttled), so parallel guesses see each other and cannot slip past the count.
        """
        keys = _throttle_keys(name, address)
        moment = now()
        attempt = self._attempt(keys, moment)
        with self.db.read() as session:
            failures = FailureRepository(session).count_since(keys, moment - FAILURE_WINDOW)
            row = AdminRepository(session).by_name(name)
        if failures > MAX_FAILURES:
            self._withdraw(attempt)
            log.warning("console sign-in throttled for name #%s from %s", self._tag(name), address)
            raise Throttled("Too many sign-in attempts; try again in 15 minutes.")
        valid = verify_password(password, row.password_hash if row else self._dummy)
        if row is None or not valid:
            log.warning("console sign-in failed for name #%s from %s", self._tag(name), address)
            return None
        self._withdraw(attempt)
        log.info("console sign-in of %r from %s", name, address)
        return self._open(row.id, moment)

    def _attempt(self, keys: Sequence[str], moment: datetime) -> list[int]:
        """Count the attempt as failed until it proves otherwise; the rows' ids."""
        with self.db.write() as session:
            failures = FailureRepository(session)
            failures.forget_before(moment - FAILURE_WINDOW)
            return failures.add(keys, moment)

    def _withdraw(self, attempt: Sequence[int]) -> None:
        with self.db.write() as session:
            FailureRepository(session).remove(attempt)

    def _open(self, admin_id: int, moment: datetime) -> str:
        session_id = secrets.token_urlsafe(32)
        with self.db.write() as session:
            sessions = SessionRepository(session)
            sessions.remove_ended(moment - IDLE_TIMEOUT, moment)
            sessions.add(
                AdminSession(
                    id_hash=_digest(session_id),
                    admin_id=admin_id,
                    created=moment,
                    last_seen=moment,
                    expires_at=moment + ABSOLUTE_TIMEOUT,
                )
            )
            AdminRepository(session).signed_in(admin_id, moment)
        return session_id

    def session(self, session_id: str) -> AdminInfo | None:
        """The admin a live session id belongs to, or None (unknown, idle or expired)."""
        id_hash = _digest(session_id)
        moment = now()
        with self.db.read() as session:
            found = SessionRepository(session).find(id_hash)
            if found is None:
                return None
            row, admin = found
            info = self._info(AdminRepository(session), admin)
        if row.expires_at <= moment or row.last_seen <= moment - IDLE_TIMEOUT:
            self.sign_out(session_id)
            return None
        if moment - row.last_seen > TOUCH_RESOLUTION:
            with self.db.write() as session:
                SessionRepository(session).touch(id_hash, moment)
        return info

    def sign_out(self, session_id: str) -> None:
        """End the session: its row goes, so the id never works again."""
        with self.db.write() as session:
            SessionRepository(session).remove(_digest(session_id))

    def tenant_id(self, admin: AdminInfo, name: str) -> int | None:
        """The id of tenant ``name`` when the admin may see it, else None."""
        if not admin.may_see(name):
            return None
        with self.db.read() as session:
            return TenantRepository(session).find(name)
