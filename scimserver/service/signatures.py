"""Standard Webhooks signing: ``whsec_`` secrets and ``v1,`` HMAC-SHA256 signatures.

A receiver recomputes ``HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")``
with the base64-decoded part of the secret after ``whsec_`` and accepts the message if
any ``v1,`` signature in the space-separated ``webhook-signature`` header matches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 -- the Standard Webhooks marker, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret, ``whsec_<base64 of 32 random bytes>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64 signature>`` of the message under ``secret``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(keys: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per valid secret, space-separated."""
    return " ".join(sign(key, message_id, timestamp, body) for key in keys)
