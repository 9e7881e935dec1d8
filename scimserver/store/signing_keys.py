"""Each tenant's SET signing keys, shared by every worker and host through the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from scimserver.scim.versions import now
from scimserver.store.features import features_of
from scimserver.store.models import SigningKey, Tenant

NewKey = Callable[[str], tuple[str, dict[str, Any]]]
"""Makes a key for a kid: (private key PEM, public JWK)."""


def tenant_kid(tenant_id: int, alg: str, number: int) -> str:
    """A kid that names its tenant: ``tenant-3-es256-1``."""
    return f"tenant-{tenant_id}-{alg.lower()}-{number}"


class SigningKeyRepository:
    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def tenant_exists(self) -> bool:
        return self.session.get(Tenant, self.tenant_id) is not None

    def current(self, alg: str) -> SigningKey | None:
        """The tenant's newest key not being retired: the one new SETs are signed with."""
        query = (
            select(SigningKey)
            .where(
                SigningKey.tenant_id == self.tenant_id,
                SigningKey.alg == alg,
                SigningKey.retired_at.is_(None),
            )
            .order_by(SigningKey.created.desc(), SigningKey.kid.desc())
            .limit(1)
        )
        return self.session.scalars(query).first()

    def ensure(self, alg: str, make: NewKey) -> SigningKey:
        """The current key, created when there is none."""
        found = self.current(alg)
        return found if found is not None else self.add(alg, make)

    def add(self, alg: str, make: NewKey) -> SigningKey:
        """A new key, the newest: it signs from now on. Racing creators compute the same
        kid (``tenant-<id>-<alg>-<keys so far + 1>``), so one insert wins and all use it."""
        count = self.session.scalar(
            select(func.count()).where(SigningKey.tenant_id == self.tenant_id)
        )
        kid = tenant_kid(self.tenant_id, alg, (count or 0) + 1)
        pem, jwk = make(kid)
        upsert = features_of(self.session).upsert
        values = {
            "kid": kid,
            "tenant_id": self.tenant_id,
            "alg": alg,
            "private_pem": pem,
            "public_jwk": jwk,
            "created": now(),
        }
        self.session.execute(upsert(SigningKey).values(**values).on_conflict_do_nothing())
        created = self.session.get(SigningKey, kid)
        assert created is not None
        return created

    def retire_all(self, alg: str, at: datetime) -> list[str]:
        """Retire every published key at ``at`` (or sooner, if it already retires sooner);
        returns their kids."""
        retiring = [
            key.kid
            for key in self.session.scalars(
                select(SigningKey).where(
                    SigningKey.tenant_id == self.tenant_id,
                    SigningKey.alg == alg,
                    or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > at),
                )
            )
        ]
        if retiring:
            self.session.execute(
                update(SigningKey).where(SigningKey.kid.in_(retiring)).values(retired_at=at)
            )
        return retiring

    def published(self, moment: datetime) -> list[SigningKey]:
        """The keys a receiver may see SETs signed with: all but those retired by
        ``moment``, oldest first."""
        query = (
            select(SigningKey)
            .where(
                SigningKey.tenant_id == self.tenant_id,
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > moment),
            )
            .order_by(SigningKey.created, SigningKey.kid)
        )
        return list(self.session.scalars(query))
