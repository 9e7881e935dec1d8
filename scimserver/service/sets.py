"""Signing Security Event Tokens: the server's ES256 key, its JWKS, and ``SetIssuer``.

Signing uses joserfc; the key is made on first use and kept in the database
(``signing_keys``), so every worker and every instance signs with the same key and
``/api/v1/jwks.json`` publishes it.

Use from a delivery worker (RFC 8935 push or RFC 8936 poll)::

    issuer = server.set_issuer("https://scim.example.org/scim/v2")
    jti, token = issuer.encode(change, audience="https://app.example/receiver",
                               full=False, receiver_id="webhook:7")

``change`` is a row of the change log (``scimserver.store.models.Change``). The ``jti``
depends only on ``receiver_id`` and the change, so encoding the same change for the
same receiver again (a retry) keeps the ``jti``; ``txn`` is the id of the request that
made the change, shared by every receiver's copy.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeyParameters

from scimserver.scim.sets import (
    SET_TYPE,
    ChangeFacts,
    jti_for,
    set_claims,
    verification_claims,
)
from scimserver.scim.versions import now
from scimserver.store.db import Database
from scimserver.store.models import Change
from scimserver.store.signing_keys import SigningKeyRepository

ALGORITHM = "ES256"
CURVE = "P-256"


def _new_key(kid: str) -> tuple[str, dict[str, Any]]:
    parameters: KeyParameters = {"kid": kid, "alg": ALGORITHM, "use": "sig"}
    key = ECKey.generate_key(CURVE, parameters=parameters, private=True)
    return key.as_pem(private=True).decode("ascii"), dict(key.as_dict(private=False))


class SigningKeys:
    """The key SETs are signed with (loaded once per process) and the published JWKS."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._current: tuple[str, ECKey] | None = None

    def current(self) -> tuple[str, ECKey]:
        """(kid, private key): created in the database by the first process that signs."""
        with self._lock:
            if self._current is None:
                with self.db.write() as session:
                    row = SigningKeyRepository(session).ensure(ALGORITHM, _new_key)
                    self._current = (row.kid, ECKey.import_key(row.private_pem))
            return self._current

    def jwks(self) -> dict[str, Any]:
        """The JWK Set of every live public key (RFC 7517 §5)."""
        self.current()
        with self.db.read() as session:
            return {"keys": SigningKeyRepository(session).public_keys()}


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
    )


class SetIssuer:
    """Encodes change-log rows as signed SETs from one issuer (``iss``)."""

    def __init__(self, keys: SigningKeys, issuer: str) -> None:
        self.keys = keys
        self.issuer = issuer.rstrip("/")

    def encode(
        self, change: Change, audience: str, full: bool, receiver_id: str
    ) -> tuple[str, str]:
        """Sign ``change`` as a SET for one receiver: returns (jti, compact JWS).

        ``full`` sends ``data`` (the resource, or the PatchOp) instead of the changed
        attribute names. The ``jti`` is stable for (``receiver_id``, change).
        """
        jti = jti_for(receiver_id, change.id)
        return jti, self._sign(set_claims(facts(change), self.issuer, audience, jti, now(), full))

    def verification(self, audience: str) -> tuple[str, str]:
        """A signed verification SET (no change behind it), for testing a receiver."""
        jti = uuid.uuid4().hex
        return jti, self._sign(verification_claims(self.issuer, audience, jti, now()))

    def _sign(self, claims: dict[str, Any]) -> str:
        kid, key = self.keys.current()
        header = {"alg": ALGORITHM, "typ": SET_TYPE, "kid": kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])
