"""SET signing keys, shared by every worker and host through the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scimserver.scim.versions import now
from scimserver.store.models import SigningKey

NewKey = Callable[[str], tuple[str, dict[str, Any]]]
"""Makes a key for a kid: (private key PEM, public JWK)."""


class SigningKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def current(self, alg: str) -> SigningKey | None:
        """The newest live key for ``alg``: the one new SETs are signed with."""
        query = (
            select(SigningKey)
            .where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created.desc(), SigningKey.kid.desc())
            .limit(1)
        )
        return self.session.scalars(query).first()

    def ensure(self, alg: str, make: NewKey) -> SigningKey:
        """The current key, created when there is none. Racing creators compute the same
        kid (``<alg>-<keys so far + 1>``), so one insert wins and all of them use it."""
        found = self.current(alg)
        if found is not None:
            return found
        count = self.session.scalar(select(func.count()).select_from(SigningKey)) or 0
        kid = f"{alg.lower()}-{count + 1}"
        pem, jwk = make(kid)
        module = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        values = {"kid": kid, "alg": alg, "private_pem": pem, "public_jwk": jwk, "created": now()}
        self.session.execute(module.insert(SigningKey).values(**values).on_conflict_do_nothing())
        created = self.session.get(SigningKey, kid)
        assert created is not None
        return created

    def public_keys(self) -> list[dict[str, Any]]:
        """The public JWKs of every live key, oldest first."""
        query = (
            select(SigningKey.public_jwk)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created, SigningKey.kid)
        )
        return [dict(jwk) for jwk in self.session.scalars(query)]
