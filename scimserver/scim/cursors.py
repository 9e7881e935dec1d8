"""Opaque, tamper-evident cursors for RFC 9865 cursor pagination.

A cursor carries the sort-key values of the row it continues from, the direction, the
``totalResults`` counted when the walk began, a fingerprint of the query it belongs to and
an expiry time, signed with HMAC-SHA256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimserver.errors import ExpiredCursor, InvalidCursor

CURSOR_TIMEOUT_SECONDS = 3600
MAX_CURSOR_LENGTH = 4096


@dataclass(frozen=True)
class Cursor:
    """A position in a result list: continue after (or, backwards, before) ``keys``."""

    keys: tuple[Any, ...]
    backwards: bool = False
    total: int | None = None
    """``totalResults`` as counted for the walk's first page, so later pages need no COUNT."""


def fingerprint(*parts: object) -> str:
    """A short digest naming one query, so a cursor cannot be replayed on another."""
    text = json.dumps([str(p) if p is not None else None for p in parts])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return datetime.fromisoformat(value["t"])
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs and checks cursors with one server-wide key."""

    def __init__(self, key: bytes, timeout: int = CURSOR_TIMEOUT_SECONDS) -> None:
        self.key = key
        self.timeout = timeout

    def encode(self, cursor: Cursor, query: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self.timeout)
        payload = {
            "k": [_encode_value(v) for v in cursor.keys],
            "b": cursor.backwards,
            "q": query,
            "e": expires,
        }
        if cursor.total is not None:
            payload["n"] = cursor.total
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def decode(self, token: str, query: str, now: float | None = None) -> Cursor:
        """The cursor in ``token``; invalidCursor if forged or foreign, expiredCursor if old."""
        body = self._verified(token)
        try:
            payload = json.loads(body)
            keys: Sequence[Any] = payload["k"]
            total = payload.get("n")
            if total is not None and (not isinstance(total, int) or total < 0):
                raise ValueError("a total is a count")
            cursor = Cursor(tuple(_decode_value(v) for v in keys), bool(payload["b"]), total)
            expires = int(payload["e"])
            same_query = payload["q"] == query
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidCursor() from exc
        if not same_query:
            raise InvalidCursor("The cursor belongs to a different query.")
        if expires < (now if now is not None else time.time()):
            raise ExpiredCursor()
        return cursor

    def _verified(self, token: str) -> bytes:
        if len(token) > MAX_CURSOR_LENGTH or token.count(".") != 1:
            raise InvalidCursor()
        body_text, signature = token.split(".")
        try:
            body = _unb64(body_text)
            valid = hmac.compare_digest(_unb64(signature), self._sign(body))
        except ValueError as exc:
            raise InvalidCursor() from exc
        if not valid:
            raise InvalidCursor()
        return body

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self.key, body, hashlib.sha256).digest()
