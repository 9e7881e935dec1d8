"""Secrets at rest: columns whose values are encrypted with ``SCIMSERVER_SECRET_KEY``.

The SET signing keys, webhook secrets and the server's HMAC keys are :class:`Sealed`
columns. With keys attached to an engine (:func:`attach`), each value written is a Fernet
token (AES-128-CBC with HMAC-SHA256, from ``cryptography``) stored as ``fernet:<token>``;
the first key encrypts, every key decrypts, so a key is rotated by putting the new one
first, re-encrypting (:func:`reseal`, ``scimserver secrets rotate``), then dropping the
old one. A stored value without the prefix was written in clear (before a key was set)
and is read as it is until it is resealed. An encrypted value read without the right key
raises :class:`SecretKeyError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from scimserver.store.features import dialect_features

PREFIX = "fernet:"
_ATTRIBUTE = "scimserver_sealer"
KEY_HELP = "see `scimserver secrets generate-key`"


class SecretKeyError(RuntimeError):
    """SCIMSERVER_SECRET_KEY is malformed, missing, or lacks the key a value needs."""


class Sealer:
    """Encrypts with the first of ``keys``, decrypts with any of them."""

    def __init__(self, keys: Sequence[str]) -> None:
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError as exc:  # not 32 url-safe base64-encoded bytes, or none at all
            raise SecretKeyError(
                f"SCIMSERVER_SECRET_KEY must be Fernet keys, comma-separated ({KEY_HELP})"
            ) from exc

    @classmethod
    def from_setting(cls, value: str) -> Sealer | None:
        """The sealer for a ``SCIMSERVER_SECRET_KEY`` value; None when it is empty."""
        keys = [key.strip() for key in value.split(",") if key.strip()]
        return cls(keys) if keys else None

    def seal(self, text: str) -> str:
        return PREFIX + self._fernet.encrypt(text.encode()).decode()

    def open(self, stored: str) -> str:
        """The clear text of a stored value (one without the prefix is clear already)."""
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "A secret in the database was encrypted with a key SCIMSERVER_SECRET_KEY "
                "does not hold."
            ) from None

    def reseal(self, stored: str) -> str:
        """``stored`` encrypted with the first key (a clear value is encrypted)."""
        return self.seal(self.open(stored))


def new_key() -> str:
    """A fresh key for ``SCIMSERVER_SECRET_KEY``."""
    return Fernet.generate_key().decode()


def sealer_of(dialect: Dialect) -> Sealer | None:
    found: Sealer | None = getattr(dialect, _ATTRIBUTE, None)
    return found


def attach(engine: Engine, sealer: Sealer | None) -> None:
    """Seal and open the engine's :class:`Sealed` values with ``sealer`` (None: in clear).

    Kept on the engine's dialect, which only this engine uses: the type's hooks see the
    dialect, and processes or tests with several databases keep their keys apart.
    """
    setattr(engine.dialect, _ATTRIBUTE, sealer)


class Sealed(TypeDecorator[str]):
    """Text stored encrypted when the engine has a sealer (see the module's docstring).

    Where lengths are not enforced (SQLite), columns created as ``VARCHAR(n)`` keep that
    type (``created_length``): rebuilding a table to change its type would
    cascade-delete the rows that reference it (migration 0016).
    """

    impl = Text
    cache_ok = True

    def __init__(self, created_length: int | None = None) -> None:
        super().__init__()
        self.created_length = created_length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        features = dialect_features(dialect)
        if self.created_length is not None and features and not features.enforces_length:
            return dialect.type_descriptor(String(self.created_length))
        return super().load_dialect_impl(dialect)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        sealer = sealer_of(dialect)
        return value if value is None or sealer is None else sealer.seal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or not str(value).startswith(PREFIX):
            return value if value is None else str(value)
        sealer = sealer_of(dialect)
        if sealer is None:
            raise SecretKeyError(
                "The database's secrets are encrypted: set SCIMSERVER_SECRET_KEY to their key."
            )
        return sealer.open(str(value))
