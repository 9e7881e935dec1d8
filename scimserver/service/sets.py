"""Signing Security Event Tokens: each tenant's ES256 keys, its JWKS, and ``SetIssuer``.

A SET minted for one tenant never verifies as another's: each tenant signs with keys of
its own (``kid`` ``tenant-<id>-es256-<n>``), published only in that tenant's JWKS
(``<iss>/jwks.json``), and its ``iss`` names the tenant
(``<origin>/api/v1/tenants/<id>``, from ``SCIMSERVER_BASE_URL`` only, never from a
request). With no base URL configured nothing is signed: :class:`IssuerMissing`.

Keys are made on first use and kept in the database (``signing_keys``), so every worker
and instance signs with the same key. ``scimserver keys rotate`` adds a new key (it
signs from then on) and keeps the old ones published until their retirement date;
processes notice a rotation within :data:`KEY_REFRESH` seconds.

Use from a delivery worker (RFC 8935 push or RFC 8936 poll)::

    issuer = server.set_issuer(tenant_id)
    jti, token = issuer.encode([change], audience="https://app.example/receiver",
                               full=False, receiver_id="webhook:7")

The ``jti`` depends only on ``receiver_id`` and the first change, so encoding the same
changes for the same receiver again (a retry) keeps the ``jti``; ``txn`` is the id of the write
transaction that made the change, shared by every receiver's copy.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeyParameters

from scimserver.errors import NotFound, Unavailable
from scimserver.scim.render import Links
from scimserver.scim.sets import (
    SET_TYPE,
    ChangeFacts,
    Envelope,
    jti_for,
    set_claims,
    tenant_issuer,
    verification_claims,
)
from scimserver.scim.versions import now
from scimserver.store.db import Database
from scimserver.store.models import Change
from scimserver.store.signing_keys import SigningKeyRepository

ALGORITHM = "ES256"
CURVE = "P-256"
KEY_REFRESH = 60.0
"""Seconds a process signs with the key it loaded before it looks for a newer one."""


class IssuerMissing(Unavailable):
    """``SCIMSERVER_BASE_URL`` is unset: no SET is signed with a guessed issuer (503)."""

    def __init__(self) -> None:
        super().__init__(
            "Security Event Tokens are not signed until SCIMSERVER_BASE_URL is set to the "
            "server's public SCIM base URL (it makes the SETs' issuer)."
        )


def _new_key(kid: str) -> tuple[str, dict[str, Any]]:
    parameters: KeyParameters = {"kid": kid, "alg": ALGORITHM, "use": "sig"}
    key = ECKey.generate_key(CURVE, parameters=parameters, private=True)
    return key.as_pem(private=True).decode("ascii"), dict(key.as_dict(private=False))


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    created: datetime
    retired_at: datetime | None
    """When it leaves the JWKS; None for the key that signs."""


@dataclass(frozen=True)
class Rotation:
    """What ``keys rotate`` did to one tenant: the new kid, and the kids retiring when."""

    tenant_id: int
    kid: str
    retiring: tuple[str, ...]
    retire_at: datetime


class SigningKeys:
    """Each tenant's signing key (cached per process for :data:`KEY_REFRESH` seconds) and
    its published JWKS."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._current: dict[int, tuple[float, str, ECKey]] = {}

    def current(self, tenant_id: int) -> tuple[str, ECKey]:
        """(kid, private key) of the tenant: created in the database by the first process
        that signs for it. Call it outside any write transaction (SQLite: its own write
        would wait for that transaction's lock)."""
        with self._lock:
            cached = self._current.get(tenant_id)
            if cached is None or time.monotonic() - cached[0] > KEY_REFRESH:
                with self.db.write() as session:
                    keys = SigningKeyRepository(session, tenant_id)
                    if not keys.tenant_exists():
                        raise NotFound(f"No tenant {tenant_id}.")
                    row = keys.ensure(ALGORITHM, _new_key)
                    cached = (time.monotonic(), row.kid, ECKey.import_key(row.private_pem))
                self._current[tenant_id] = cached
            return cached[1], cached[2]

    def jwks(self, tenant_id: int) -> dict[str, Any]:
        """The tenant's JWK Set (RFC 7517 §5): its signing key and those not yet retired."""
        self.current(tenant_id)
        with self.db.read() as session:
            keys = SigningKeyRepository(session, tenant_id).published(now())
            return {"keys": [dict(key.public_jwk) for key in keys]}

    def listing(self, tenant_id: int) -> list[KeyInfo]:
        """The tenant's published keys, oldest first; the last one signs."""
        self.current(tenant_id)
        with self.db.read() as session:
            keys = SigningKeyRepository(session, tenant_id).published(now())
            return [KeyInfo(k.kid, k.created, k.retired_at) for k in keys]

    def rotate(self, tenant_id: int, retire_at: datetime) -> Rotation:
        """A new key for the tenant, signing from now on; its older keys stay in the JWKS
        until ``retire_at``."""
        with self.db.write() as session:
            keys = SigningKeyRepository(session, tenant_id)
            if not keys.tenant_exists():
                raise NotFound(f"No tenant {tenant_id}.")
            retiring = keys.retire_all(ALGORITHM, retire_at)
            kid = keys.add(ALGORITHM, _new_key).kid
        with self._lock:
            self._current.pop(tenant_id, None)
        return Rotation(tenant_id, kid, tuple(retiring), retire_at)


def facts(change: Change) -> ChangeFacts:
    """The plain values of a change-log row that a SET carries."""
    return ChangeFacts(
        id=change.id,
        type=change.type,
        operation=change.operation,
        resource_type=change.resource_type,
        resource_id=change.resource_id,
        request_id=change.request_id,
        time=change.time,
        external_id=change.external_id,
        attributes=tuple(change.attributes or ()),
        member_id=change.member_id,
        member_type=change.member_type,
        version=change.version,
        data=change.data,
        txn=change.txn,
    )


class SetIssuer:
    """Encodes one tenant's change-log rows as SETs signed with the tenant's key."""

    def __init__(self, keys: SigningKeys, links: Links, tenant_id: int) -> None:
        if not links.base_url:
            raise IssuerMissing()
        self.keys = keys
        self.links = links
        self.base_url = links.base_url.rstrip("/")
        self.tenant_id = tenant_id
        self.issuer = tenant_issuer(self.base_url, tenant_id)

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks.json"

    def encode(
        self, unit: Sequence[Change], audience: str, full: bool, receiver_id: str
    ) -> tuple[str, str]:
        """Sign the changes one transaction made to one resource (``scim.sets.units``) as
        one SET for one receiver: returns (jti, compact JWS).

        ``full`` sends ``data`` (the resource, or the PatchOp) instead of the changed
        attribute names. The ``jti`` is stable for (``receiver_id``, the unit's first
        change).
        """
        if any(change.tenant_id != self.tenant_id for change in unit):
            raise ValueError(f"a change of {unit[0].id}'s unit is not of tenant {self.tenant_id}")
        jti = jti_for(receiver_id, unit[0].id)
        envelope = Envelope(self.issuer, audience, self.links)
        claims = set_claims([facts(c) for c in unit], envelope, jti, now(), full)
        return jti, self._sign(claims)

    def verification(self, audience: str) -> tuple[str, str]:
        """A signed verification SET (no change behind it), for testing a receiver."""
        jti = uuid.uuid4().hex
        return jti, self._sign(verification_claims(self.issuer, audience, jti, now()))

    def _sign(self, claims: dict[str, Any]) -> str:
        kid, key = self.keys.current(self.tenant_id)
        header = {"alg": ALGORITHM, "typ": SET_TYPE, "kid": kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])
